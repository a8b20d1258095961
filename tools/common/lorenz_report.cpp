// The Lorenz data options and the discovery report that mech-lorenz and mech-sindy share
// (lorenz_report.h).
#include "tools/common/lorenz_report.h"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/ode_integrator.h"
#include "tools/common/csv.h"
#include "tools/common/svg.h"

namespace mech::tools {
namespace {

using models::LorenzData;
using models::PolynomialLibrary;
using models::Trajectory;

const char* const kLabels[] = {"dx/dt", "dy/dt", "dz/dt"};

// The discovered system from the true start over the data's span. A badly discovered system can
// blow up; then the curve stops where the integrator gave up (the horizon cut to a quarter until
// it succeeds) rather than ending the program, and `problem` says why.
Trajectory simulate(const PolynomialLibrary& library, const std::vector<double>& xi, const std::vector<double>& start,
                    const std::vector<double>& times, std::string* problem) {
  models::OdeRhs rhs = [&](double, const std::vector<double>& state, std::vector<double>& slope) {
    slope = library.apply(xi, 3, state.data());
  };
  models::IntegratorOptions accuracy;
  accuracy.rtol = 1e-9;
  accuracy.atol = 1e-9;
  accuracy.max_steps = 2'000'000;
  std::vector<double> horizon = times;
  while (horizon.size() > 2) {
    try {
      return models::integrate_ode(rhs, horizon.front(), start, horizon, accuracy);
    } catch (const Error& error) {
      if (problem->empty()) *problem = error.what();
      horizon.resize(horizon.size() / 4 + 1);
    }
  }
  return Trajectory{};
}

// The values of `values` (one per time) up to `span` after the first time.
std::vector<double> first_part(const std::vector<double>& times, const std::vector<double>& values, double span) {
  size_t count = 0;
  while (count < times.size() && times[count] <= times.front() + span) ++count;
  return {values.begin(), values.begin() + static_cast<long>(count)};
}

void write_picture(const std::string& path, const LorenzData& data, const Trajectory& model, const std::string& label,
                   const std::string& title, double series_span) {
  Figure figure(title, 2);
  std::vector<double> true_x, true_z;
  for (size_t row = 0; row < data.times.size(); ++row) {
    true_x.push_back(data.clean[row * 3]);
    true_z.push_back(data.clean[row * 3 + 2]);
  }
  auto& projection = figure.add_panel();
  projection.set_title("x-z projection").set_x_label("x").set_y_label("z");
  projection.line(true_x, true_z, "truth", "#1f77b4");
  if (model.size() > 0) projection.line(model.component(0), model.component(2), label, "#d62728", true);
  auto& series = figure.add_panel();
  const bool whole = !std::isfinite(series_span);
  series.set_title(whole ? "x(t)" : fmt::format("x(t), first {:g} time units", series_span))
      .set_x_label("t")
      .set_y_label("x");
  series.line(first_part(data.times, data.times, series_span), first_part(data.times, true_x, series_span), "truth",
              "#1f77b4");
  if (model.size() > 0)
    series.line(first_part(model.times, model.times, series_span),
                first_part(model.times, model.component(0), series_span), label, "#d62728", true);
  figure.save(path);
}

}  // namespace

void add_lorenz_data_options(CommandLine& cli, models::LorenzOptions& data, const std::string& seed_help) {
  cli.add("sigma", &data.sigma, "Lorenz sigma of the true system");
  cli.add("rho", &data.rho, "Lorenz rho of the true system");
  cli.add("beta", &data.beta, "Lorenz beta of the true system");
  cli.add("noise", &data.noise, "Gaussian noise, as a fraction of each coordinate's standard deviation");
  cli.add("seed", &data.seed, seed_help);
  cli.add("dt", &data.dt, "sampling interval");
  cli.add("length", &data.length, "number of samples");
}

void check_lorenz_data_options(const CommandLine& cli, const models::LorenzOptions& data) {
  if (data.length < 30) cli.fail(fmt::format("--length {} is too short: at least 30 samples", data.length));
  if (!(data.dt > 0)) cli.fail(fmt::format("--dt {} must be positive", data.dt));
  if (!(data.noise >= 0)) cli.fail(fmt::format("--noise {} must be non-negative", data.noise));
  if (!(data.sigma > 0) || !(data.rho > 0) || !(data.beta > 0))
    cli.fail(fmt::format("--sigma {}, --rho {}, --beta {} must be positive", data.sigma, data.rho, data.beta));
}

std::vector<double> true_coefficients(const PolynomialLibrary& library, const models::LorenzOptions& data) {
  return models::lorenz_coefficients(library, data.sigma, data.rho, data.beta);
}

void print_equations(const PolynomialLibrary& library, const std::vector<double>& truth,
                     const std::vector<double>& found) {
  for (size_t output = 0; output < 3; ++output) {
    std::printf("  truth       %s = %s\n", kLabels[output], library.format_equation(truth, 3, output).c_str());
    std::printf("  discovered  %s = %s\n", kLabels[output], library.format_equation(found, 3, output).c_str());
  }
}

void print_score(const models::DiscoveryScore& score) {
  std::printf("  max relative error on the %zu active terms: %.3g%% (mean %.3g%%); stray terms: %zu; missing: %zu\n",
              score.active_terms, 100 * score.max_relative_error, 100 * score.mean_relative_error, score.stray_terms,
              score.missing_terms);
}

std::string discovery_summary(const models::DiscoveryScore& score) {
  return fmt::format(
      "max_relative_error_active={:.6g}\nmean_relative_error_active={:.6g}\nactive_terms={}\nstray_terms={}\n"
      "missing_terms={}\n",
      score.max_relative_error, score.mean_relative_error, score.active_terms, score.stray_terms, score.missing_terms);
}

void write_discovery_files(const std::string& out_dir, const LorenzData& data, const PolynomialLibrary& library,
                           const std::vector<double>& found, const std::string& summary, const std::string& label,
                           const std::string& title, double series_span) {
  CsvTable coefficients({"term", "dx", "dy", "dz"});
  for (size_t term = 0; term < library.term_count(); ++term)
    coefficients.add_row(library.term_names()[term], {found[term * 3], found[term * 3 + 1], found[term * 3 + 2]});
  coefficients.save(out_dir + "/coefficients.csv");
  write_file_atomically(out_dir + "/summary.txt", summary);

  std::string problem;
  const std::vector<double> start(data.clean.begin(), data.clean.begin() + 3);
  const Trajectory simulated = simulate(library, found, start, data.times, &problem);
  if (!problem.empty())
    std::printf("  note: the discovered system could not be simulated over the whole span: %s\n", problem.c_str());
  write_picture(out_dir + "/trajectory.svg", data, simulated, label, title, series_span);
}

}  // namespace mech::tools
