// mech-sindy: the SINDy baseline for Lorenz equation discovery. Generates the same data as
// mech-lorenz (same options, same seed, same noise model), estimates derivatives by central finite
// differences or Savitzky-Golay smoothing, fits the degree-2 polynomial library by sequentially
// thresholded least squares, prints the discovered equations beside the truth and writes
//   <out-dir>/coefficients.csv   term,dx,dy,dz with rows 1,x,y,z,xx,xy,xz,yy,yz,zz
//   <out-dir>/summary.txt        the scores (max relative error on the active terms, stray terms)
//   <out-dir>/trajectory.svg     the true trajectory against the discovered system from the same start
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/datasets.h"
#include "models/ode_integrator.h"
#include "models/polynomial_library.h"
#include "models/sindy.h"
#include "tools/common/cli.h"
#include "tools/common/csv.h"
#include "tools/common/driver_checks.h"
#include "tools/common/svg.h"

namespace {

using namespace mech::models;

struct Options {
  double sigma = 10.0, rho = 28.0, beta = 8.0 / 3.0;
  double noise = 0.0;
  unsigned long long seed = 0;
  double dt = 0.01;
  long length = static_cast<long>(LorenzOptions{}.length);
  double threshold = 0.1;
  std::string derivative = "fd";
  // One setting for every noise level (measured on seed 0, length 5000: window 21 and order 5 keep
  // the smoothing bias below 1% on clean data and still average out 5% noise reasonably).
  long window = 21;
  int order = 5;
  int max_iterations = 20;
  std::string out_dir = "out/sindy";
};

mech::tools::CsvTable coefficients_table(const PolynomialLibrary& library, const std::vector<double>& xi) {
  mech::tools::CsvTable table({"term", "dx", "dy", "dz"});
  for (size_t term = 0; term < library.term_count(); ++term)
    table.add_row(library.term_names()[term], {xi[term * 3], xi[term * 3 + 1], xi[term * 3 + 2]});
  return table;
}

// Simulates s' = Theta(s) xi from the data's start over its time span; a discovered system can be
// unstable, so a failure ends the curve early instead of ending the program.
Trajectory simulate(const PolynomialLibrary& library, const std::vector<double>& xi, const std::vector<double>& start,
                    const std::vector<double>& times, std::string* problem) {
  OdeRhs rhs = [&](double, const std::vector<double>& state, std::vector<double>& slope) {
    slope = library.apply(xi, 3, state.data());
  };
  IntegratorOptions accuracy;
  accuracy.rtol = 1e-9;
  accuracy.atol = 1e-9;
  accuracy.max_steps = 2'000'000;
  try {
    return integrate_ode(rhs, times.front(), start, times, accuracy);
  } catch (const mech::Error& error) {
    *problem = error.what();
    // Retry on a shorter horizon so the picture still shows where the two part.
    std::vector<double> shorter(times.begin(), times.begin() + static_cast<long>(times.size() / 10 + 1));
    try {
      return integrate_ode(rhs, times.front(), start, shorter, accuracy);
    } catch (const mech::Error&) {
      return Trajectory{};
    }
  }
}

void write_picture(const std::string& path, const LorenzData& data, const Trajectory& model, const std::string& title) {
  mech::tools::Figure figure(title, 2);
  std::vector<double> true_x, true_z;
  for (size_t row = 0; row < data.times.size(); ++row) {
    true_x.push_back(data.clean[row * 3]);
    true_z.push_back(data.clean[row * 3 + 2]);
  }
  auto& projection = figure.add_panel();
  projection.set_title("x-z projection").set_x_label("x").set_y_label("z");
  projection.line(true_x, true_z, "truth", "#1f77b4");
  if (model.size() > 0) projection.line(model.component(0), model.component(2), "SINDy", "#d62728", true);
  // Chaos separates any two trajectories within a few Lyapunov times; the first 15 time units
  // show how long the discovered system tracks the truth and stay readable.
  auto first_part = [](const std::vector<double>& times, const std::vector<double>& values) {
    size_t count = 0;
    while (count < times.size() && times[count] <= times.front() + 15.0) ++count;
    return std::vector<double>(values.begin(), values.begin() + static_cast<long>(count));
  };
  auto& series = figure.add_panel();
  series.set_title("x(t), first 15 time units").set_x_label("t").set_y_label("x");
  series.line(first_part(data.times, data.times), first_part(data.times, true_x), "truth", "#1f77b4");
  if (model.size() > 0)
    series.line(first_part(model.times, model.times), first_part(model.times, model.component(0)), "SINDy", "#d62728", true);
  figure.save(path);
}

int run(const Options& options) {
  LorenzOptions lorenz;
  lorenz.sigma = options.sigma, lorenz.rho = options.rho, lorenz.beta = options.beta;
  lorenz.noise = options.noise, lorenz.seed = options.seed;
  lorenz.dt = options.dt, lorenz.length = static_cast<size_t>(options.length);
  LorenzData data = make_lorenz(lorenz);

  // States for the library and their derivative estimates; Savitzky-Golay also denoises the states.
  std::vector<double> states, derivatives;
  size_t trim = 1;
  if (options.derivative == "savgol") {
    SavitzkyGolay smoothed = savitzky_golay(data.noisy, 3, options.dt, static_cast<size_t>(options.window), options.order);
    states = std::move(smoothed.smoothed);
    derivatives = std::move(smoothed.derivative);
    trim = static_cast<size_t>(options.window) / 2;  // the shifted end windows are the least accurate
  } else {
    states = data.noisy;
    derivatives = finite_difference_derivative(data.noisy, 3, options.dt);
  }
  size_t rows = data.times.size();
  MECH_CHECK(rows > 2 * trim + 10, "--length {} leaves too few samples after trimming {} at each end",
             rows, trim);
  std::vector<double> used_states(states.begin() + static_cast<long>(trim * 3), states.end() - static_cast<long>(trim * 3));
  std::vector<double> used_derivatives(derivatives.begin() + static_cast<long>(trim * 3),
                                       derivatives.end() - static_cast<long>(trim * 3));

  PolynomialLibrary library;
  SindyOptions sindy;
  sindy.threshold = options.threshold;
  sindy.max_iterations = options.max_iterations;
  SindyResult result = fit_sindy(library, used_states, used_derivatives, 3, sindy);
  std::vector<double> truth = lorenz_coefficients(library, options.sigma, options.rho, options.beta);
  DiscoveryScore score = score_discovery(truth, result.coefficients);

  const char* labels[] = {"dx/dt", "dy/dt", "dz/dt"};
  std::printf("mech-sindy: Lorenz sigma=%g rho=%g beta=%g, %zu samples at dt=%g, noise %g, derivative %s, threshold %g\n",
              options.sigma, options.rho, options.beta, rows, options.dt, options.noise, options.derivative.c_str(),
              options.threshold);
  for (size_t output = 0; output < 3; ++output) {
    std::printf("  truth       %s = %s\n", labels[output], library.format_equation(truth, 3, output).c_str());
    std::printf("  discovered  %s = %s\n", labels[output], library.format_equation(result.coefficients, 3, output).c_str());
  }
  std::string summary = fmt::format(
      "max_relative_error_active={:.6g}\nmean_relative_error_active={:.6g}\nactive_terms={}\nstray_terms={}\n"
      "missing_terms={}\nstlsq_iterations={}\nconverged={}\n",
      score.max_relative_error, score.mean_relative_error, score.active_terms, score.stray_terms, score.missing_terms,
      result.iterations, result.converged ? "true" : "false");
  std::printf("  max relative error on the %zu active terms: %.3g%% (mean %.3g%%); stray terms: %zu; missing: %zu\n",
              score.active_terms, 100 * score.max_relative_error, 100 * score.mean_relative_error, score.stray_terms,
              score.missing_terms);

  coefficients_table(library, result.coefficients).save(options.out_dir + "/coefficients.csv");
  mech::write_file_atomically(options.out_dir + "/summary.txt", summary);

  std::string problem;
  std::vector<double> start(data.clean.begin(), data.clean.begin() + 3);
  Trajectory model = simulate(library, result.coefficients, start, data.times, &problem);
  if (!problem.empty()) std::printf("  note: the discovered system could not be simulated over the whole span: %s\n", problem.c_str());
  write_picture(options.out_dir + "/trajectory.svg", data, model,
                fmt::format("SINDy ({}), noise {}: truth against the discovered system", options.derivative, options.noise));
  std::printf("  wrote %s/coefficients.csv, summary.txt, trajectory.svg\n", options.out_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  mech::tools::CommandLine cli("mech-sindy",
                               "SINDy baseline: sequentially thresholded least squares on the degree-2 polynomial "
                               "library,\nrun on the same Lorenz data as mech-lorenz.");
  cli.add("sigma", &options.sigma, "Lorenz sigma of the true system");
  cli.add("rho", &options.rho, "Lorenz rho of the true system");
  cli.add("beta", &options.beta, "Lorenz beta of the true system");
  cli.add("noise", &options.noise, "Gaussian noise, as a fraction of each coordinate's standard deviation");
  cli.add("seed", &options.seed, "seed of the noise");
  cli.add("dt", &options.dt, "sampling interval");
  cli.add("length", &options.length, "number of samples");
  cli.add("threshold", &options.threshold, "prune coefficients with |xi| below this");
  cli.add_choice("derivative", &options.derivative, {"fd", "savgol"},
                 "derivative estimate: central finite differences or Savitzky-Golay smoothing");
  cli.add("window", &options.window, "Savitzky-Golay window (odd number of samples)");
  cli.add("order", &options.order, "Savitzky-Golay polynomial order");
  cli.add("max-iterations", &options.max_iterations, "most STLSQ refits");
  cli.add("out-dir", &options.out_dir, "directory for coefficients.csv, summary.txt and trajectory.svg");
  cli.parse_or_exit(argc, argv);
  if (options.length < 30) cli.fail(fmt::format("--length {} is too short: at least 30 samples", options.length));
  if (!(options.dt > 0)) cli.fail(fmt::format("--dt {} must be positive", options.dt));
  if (options.noise < 0) cli.fail(fmt::format("--noise {} must be non-negative", options.noise));
  if (options.threshold < 0) cli.fail(fmt::format("--threshold {} must be non-negative", options.threshold));
  if (options.window < 3 || options.window % 2 == 0 || options.window >= options.length)
    cli.fail(fmt::format("--window {} must be odd, at least 3 and shorter than --length", options.window));
  if (options.order < 1 || options.order >= options.window)
    cli.fail(fmt::format("--order {} must be in [1, window - 1]", options.order));
  if (options.max_iterations < 0) cli.fail(fmt::format("--max-iterations {} must be >= 0", options.max_iterations));
  mech::tools::prepare_output_directory(cli, "--out-dir", options.out_dir);
  try {
    return run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mech-sindy: %s\n", mech::tools::one_line(error.what()).c_str());
    return 1;
  }
}
