// mech-convergence: error against the exact solution versus the step h for the NeuRLP formulations
// (mnn, scalable, hermite4) and classical RK4, on three linear ODEs:
//   oscillator  u'' + 2 zeta w u' + w^2 u = 0, zeta 0.1, w 2, u(0) = 1, u'(0) = 0, t in [0, 10]
//   airy        u'' + t u = 0 (u = Ai(-t)), u(0) = Ai(0), u'(0) = -Ai'(0), t in [0, 8]: time-varying
//               coefficients; Ai by its Maclaurin series in long double (the terms peak near 3e6
//               at t = 8, so the sum keeps about 1e-13 of the long double's 1e-19)
//   third       u''' + 0.9 u'' + 2.49 u' + 1.145 u = 0, roots -0.5 and -0.2 +- 1.5i,
//               u = exp(-t/2) + exp(-t/5) cos(1.5 t), t in [0, 10]
// The error is the largest |u(t_i) - exact(t_i)| over the grid (the value, not the derivatives).
// hermite4 runs twice: through the normal equations (the op's solve) and through the direct block
// elimination of its square A (hermite4-direct), which has no rounding floor at small h.
// Steps run over 1-2-5 values between --h-max and --h-min. Writes <out-dir>/convergence.csv and a
// log-log plot <out-dir>/convergence.svg (one panel per problem, dashed h^2 and h^4 guides), and prints
// the table. A formulation that fails on a problem (mech::SolverError) is recorded as nan.
//
//   mech-convergence --out-dir out/convergence
//   mech-convergence --h-max 0.1 --h-min 0.01 --gamma-alpha 0
#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "solvers/hermite4_direct.h"
#include "solvers/neurlp_batch.h"
#include "tools/common/cli.h"
#include "tools/common/csv.h"
#include "tools/common/driver_checks.h"
#include "tools/common/progress.h"
#include "tools/common/svg.h"

namespace {

using namespace mech::neurlp_core;

// A linear ODE sum_k c_k(t) u^(k) = 0 of order P with the exact value u(t).
struct Problem {
  std::string name, title;
  int order;
  double horizon;
  std::function<double(double t, int k)> coefficient;   // c_k(t), c_P = 1
  std::function<double(double t)> exact;
  std::vector<double> initial;                           // u^(i)(0), i < P
};

// Ai(x) and Ai'(x) by the Maclaurin series Ai = c1 f - c2 g (Abramowitz & Stegun 10.4.2).
void airy_ai(long double x, long double& value, long double& derivative) {
  const long double c1 = 0.355028053887817239260L, c2 = 0.258819403792806798405L;
  // f = sum a_k x^{3k}, a_0 = 1, a_{k+1} = a_k / ((3k+2)(3k+3));  g = sum b_k x^{3k+1}, b_{k+1} = b_k / ((3k+3)(3k+4))
  long double f = 0, g = 0, df = 0, dg = 0;
  long double a = 1, b = 1;   // coefficients
  const long double x3 = x * x * x;
  long double power = 1;      // x^{3k}
  long double below = 0;      // x^{3k-1} (k >= 1)
  for (int k = 0; k < 200; ++k) {
    const long double term_f = a * power, term_g = b * power * x;
    f += term_f;
    g += term_g;
    if (k > 0) df += a * (3 * k) * below;
    dg += b * (3 * k + 1) * power;
    if (k > 5 && std::abs(term_f) + std::abs(term_g) < 1e-30L * (std::abs(f) + std::abs(g) + 1)) break;
    a /= (3.0L * k + 2) * (3.0L * k + 3);
    b /= (3.0L * k + 3) * (3.0L * k + 4);
    below = power * x * x;
    power *= x3;
  }
  value = c1 * f - c2 * g;
  derivative = c1 * df - c2 * dg;
}

std::vector<Problem> problems() {
  std::vector<Problem> list;
  {
    const double zeta = 0.1, w = 2.0, wd = w * std::sqrt(1 - zeta * zeta);
    list.push_back({"oscillator", "damped oscillator u'' + 0.4u' + 4u = 0", 2, 10.0,
                    [=](double, int k) { return k == 0 ? w * w : k == 1 ? 2 * zeta * w : 1.0; },
                    [=](double t) { return std::exp(-zeta * w * t) * (std::cos(wd * t) + zeta * w / wd * std::sin(wd * t)); },
                    {1.0, 0.0}});
  }
  {
    long double value = 0, derivative = 0;
    airy_ai(0.0L, value, derivative);
    list.push_back({"airy", "Airy u'' + t u = 0, u = Ai(-t)", 2, 8.0,
                    [](double t, int k) { return k == 0 ? t : k == 1 ? 0.0 : 1.0; },
                    [](double t) {
                      long double v = 0, d = 0;
                      airy_ai(-static_cast<long double>(t), v, d);
                      return static_cast<double>(v);
                    },
                    {static_cast<double>(value), -static_cast<double>(derivative)}});
  }
  {
    const std::complex<double> lambda(-0.2, 1.5);
    auto derivative = [=](double t, int k) {
      return std::pow(-0.5, k) * std::exp(-0.5 * t) + std::real(std::pow(lambda, k) * std::exp(lambda * t));
    };
    list.push_back({"third", "third order u''' + 0.9u'' + 2.49u' + 1.145u = 0", 3, 10.0,
                    [](double, int k) { return k == 0 ? 1.145 : k == 1 ? 2.49 : k == 2 ? 0.9 : 1.0; },
                    [=](double t) { return derivative(t, 0); },
                    {derivative(0, 0), derivative(0, 1), derivative(0, 2)}});
  }
  return list;
}

// Max |u - exact| of one NeuRLP formulation on a uniform grid of T points.
double neurlp_error(const Problem& problem, Formulation formulation, int T, double gamma_alpha, bool direct = false) {
  const int P = problem.order, K = P + 1;
  const double h = problem.horizon / (T - 1);
  Sizes z;
  z.T = T;
  z.D = 1;
  z.K = K;
  z.E = 1;
  z.S = 1;
  z.n_iv = P;
  z.formulation = formulation;
  z.gamma_alpha = gamma_alpha;
  std::vector<double> coeffs(std::size_t(T) * K), rhs(T, 0.0), steps(T - 1, h), u(std::size_t(T) * K), eps(1);
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < K; ++k) coeffs[std::size_t(t) * K + k] = problem.coefficient(t * h, k);
  const BatchInputs<double> inputs{coeffs.data(), rhs.data(), problem.initial.data(), steps.data()};
  if (direct) hermite4::direct_forward_batch<double>(z, 1, inputs, u.data());
  else if (formulation == Formulation::Hermite4) forward_batch<double>(z, 1, inputs, u.data(), nullptr, false);
  else forward_batch<double>(z, 1, inputs, u.data(), eps.data(), false);
  double error = 0.0;
  for (int t = 0; t < T; ++t) error = std::max(error, std::abs(u[std::size_t(t) * K] - problem.exact(t * h)));
  return error;
}

// Classical RK4 on the first-order system y = (u, u', ..., u^(P-1)).
double rk4_error(const Problem& problem, int T) {
  const int P = problem.order;
  const double h = problem.horizon / (T - 1);
  auto f = [&](double t, const std::vector<double>& y, std::vector<double>& dy) {
    for (int i = 0; i + 1 < P; ++i) dy[i] = y[i + 1];
    double top = 0.0;
    for (int k = 0; k < P; ++k) top -= problem.coefficient(t, k) * y[k];
    dy[P - 1] = top / problem.coefficient(t, P);
  };
  std::vector<double> y = problem.initial, k1(P), k2(P), k3(P), k4(P), stage(P);
  double error = std::abs(y[0] - problem.exact(0.0));
  for (int step = 0; step + 1 < T; ++step) {
    const double t = step * h;
    f(t, y, k1);
    for (int i = 0; i < P; ++i) stage[i] = y[i] + 0.5 * h * k1[i];
    f(t + 0.5 * h, stage, k2);
    for (int i = 0; i < P; ++i) stage[i] = y[i] + 0.5 * h * k2[i];
    f(t + 0.5 * h, stage, k3);
    for (int i = 0; i < P; ++i) stage[i] = y[i] + h * k3[i];
    f(t + h, stage, k4);
    for (int i = 0; i < P; ++i) y[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    error = std::max(error, std::abs(y[0] - problem.exact((step + 1) * h)));
  }
  return error;
}

// 1-2-5 steps from h_max down to h_min (inclusive, with a little slack for rounding).
std::vector<double> step_list(double h_max, double h_min) {
  std::vector<double> list;
  for (int decade = 2; decade >= -6; --decade)
    for (double mantissa : {5.0, 2.0, 1.0}) {
      const double h = mantissa * std::pow(10.0, decade);
      if (h <= h_max * (1 + 1e-9) && h >= h_min * (1 - 1e-9)) list.push_back(h);
    }
  return list;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = "out/convergence";
  double h_max = 0.2, h_min = 0.002, gamma_alpha = 0.05;
  mech::tools::CommandLine cli("mech-convergence",
                               "Error against the exact solution versus the step h for the NeuRLP formulations "
                               "(mnn, scalable, hermite4) and classical RK4 on a damped oscillator, the Airy "
                               "equation and a third-order ODE; writes a CSV and a log-log SVG plot.");
  cli.add("out-dir", &out_dir, "directory for convergence.csv and convergence.svg");
  cli.add("h-max", &h_max, "largest step (the steps are the 1-2-5 values in [h-min, h-max])");
  cli.add("h-min", &h_min, "smallest step");
  cli.add("gamma-alpha", &gamma_alpha, "gamma*alpha of the mnn formulation (the paper's default 0.5*0.1)");
  cli.parse_or_exit(argc, argv);
  if (!(h_min > 0 && h_max >= h_min && h_max <= 1.0)) cli.fail("expected 0 < h-min <= h-max <= 1");
  if (!(std::isfinite(gamma_alpha) && gamma_alpha >= 0)) cli.fail("expected gamma-alpha >= 0");
  const std::vector<double> steps = step_list(h_max, h_min);
  if (steps.empty()) cli.fail(fmt::format("no 1-2-5 step lies in [{}, {}]", h_min, h_max));
  if (10.0 / steps.back() > 2e6) cli.fail("h-min is too small (over 2e6 grid points)");
  // An unusable output folder ends the program (exit 2, one line) before the sweep, not after.
  mech::tools::prepare_output_directory(cli, "--out-dir", out_dir);

  const std::vector<Problem> list = problems();
  // hermite4 through the normal equations (what the op runs) and through the direct block
  // elimination of its square A (no squared condition number: no rounding floor at small h).
  const std::vector<std::string> methods = {"mnn", "scalable", "hermite4", "hermite4-direct", "rk4"};
  mech::tools::CsvTable table({"problem", "method", "h", "T", "max_error"});
  mech::tools::Figure figure("Convergence: max |u - exact| against the step h", 3, 420, 340);
  mech::tools::ProgressBar bar(static_cast<long>(list.size() * methods.size() * steps.size()), "convergence");
  long done = 0;
  // results[problem][method][step]
  std::vector<std::vector<std::vector<double>>> results(list.size(),
                                                        std::vector<std::vector<double>>(methods.size()));
  for (std::size_t p = 0; p < list.size(); ++p) {
    const Problem& problem = list[p];
    auto& panel = figure.add_panel();
    panel.set_title(problem.title).set_x_label("h").set_y_label("max error");
    panel.set_x_scale(mech::tools::AxisScale::Log).set_y_scale(mech::tools::AxisScale::Log);
    for (std::size_t m = 0; m < methods.size(); ++m) {
      std::vector<double> hs, errors;
      for (double h_target : steps) {
        const int T = static_cast<int>(std::lround(problem.horizon / h_target)) + 1;
        const double h = problem.horizon / (T - 1);
        double error = NAN;
        try {
          if (methods[m] == "rk4") error = rk4_error(problem, T);
          else if (methods[m] == "hermite4-direct")
            error = neurlp_error(problem, Formulation::Hermite4, T, gamma_alpha, true);
          else
            error = neurlp_error(problem,
                                 methods[m] == "mnn" ? Formulation::Mnn
                                 : methods[m] == "scalable" ? Formulation::Scalable
                                                            : Formulation::Hermite4,
                                 T, gamma_alpha);
        } catch (const mech::SolverError& failure) {
          std::fprintf(stderr, "\nmech-convergence: %s on %s at h = %g failed: %s\n", methods[m].c_str(),
                       problem.name.c_str(), h, failure.what());
        }
        results[p][m].push_back(error);
        table.add_row(std::vector<std::string>{problem.name, methods[m], fmt::format("{}", h), std::to_string(T),
                                               fmt::format("{:.6e}", error)});
        hs.push_back(h);
        errors.push_back(error);
        bar.update(++done, error);
      }
      panel.line(hs, errors, methods[m]);
      panel.scatter(hs, errors, "");
    }
    // Guides through the hermite4 error at the coarsest step: slopes 2 and 4.
    const double anchor_h = steps.front(), anchor = results[p][2].front();
    if (std::isfinite(anchor) && anchor > 0) {
      std::vector<double> x = {steps.back(), anchor_h}, y2, y4;
      for (double h : x) {
        y2.push_back(anchor * std::pow(h / anchor_h, 2));
        y4.push_back(anchor * std::pow(h / anchor_h, 4));
      }
      panel.line(x, y2, "h^2", "#999999", true);
      panel.line(x, y4, "h^4", "#555555", true);
    }
  }
  bar.finish();

  try {
    table.save(out_dir + "/convergence.csv");
    figure.save(out_dir + "/convergence.svg");
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mech-convergence: %s\n", error.what());
    return 1;
  }
  std::printf("%-11s %-16s", "problem", "method");
  for (double h : steps) std::printf(" %10s", fmt::format("h={}", h).c_str());
  // The observed order between h = 0.1 and 0.01 when both were run, else between the ends.
  std::size_t first_index = 0, last_index = steps.size() - 1;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (std::abs(steps[i] - 0.1) < 1e-12) first_index = i;
    if (std::abs(steps[i] - 0.01) < 1e-12) last_index = i;
  }
  std::printf("  order h=%g..%g\n", steps[first_index], steps[last_index]);
  for (std::size_t p = 0; p < list.size(); ++p)
    for (std::size_t m = 0; m < methods.size(); ++m) {
      std::printf("%-11s %-16s", list[p].name.c_str(), methods[m].c_str());
      for (double error : results[p][m]) std::printf(" %10.2e", error);
      const double first = results[p][m][first_index], last = results[p][m][last_index];
      std::printf("  %.2f\n", last_index > first_index ? std::log(first / last) / std::log(steps[first_index] / steps[last_index]) : NAN);
    }
  std::printf("wrote %s/convergence.csv and %s/convergence.svg\n", out_dir.c_str(), out_dir.c_str());
  return 0;
}
