// Dormand-Prince 5(4): the Butcher tableau, step-size control, and output at requested times by
// the method's continuous extension (Hairer, Norsett & Wanner, Solving ODEs I, section II.6).
#include "models/ode_integrator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"

namespace mech::models {
namespace {

// The tableau. Stage 7 is evaluated at the new point with the fifth-order weights, so its
// derivative is the next step's first stage (first same as last).
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
constexpr double a71 = 35.0 / 384, a73 = 500.0 / 1113, a74 = 125.0 / 192, a75 = -2187.0 / 6784, a76 = 11.0 / 84;
// Fifth-order minus fourth-order weights: the local error estimate.
constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200, e6 = 22.0 / 525,
                 e7 = -1.0 / 40;
// Continuous extension (fourth order inside each step).
constexpr double d1 = -12715105075.0 / 11282082432, d3 = 87487479700.0 / 32700410799,
                 d4 = -10690763975.0 / 1880347072, d5 = 701980252875.0 / 199316789632,
                 d6 = -1453857185.0 / 822651844, d7 = 69997945.0 / 29380423;

// Step-size controller: safety factor and the limits of one change.
constexpr double kSafety = 0.9, kMinFactor = 0.2, kMaxFactor = 10.0;

bool all_finite(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(), [](double value) { return std::isfinite(value); });
}

}  // namespace

std::vector<double> Trajectory::component(size_t index) const {
  MECH_CHECK(index < dimension, "Trajectory::component: index {} out of range for dimension {}", index, dimension);
  std::vector<double> values(size());
  for (size_t step = 0; step < size(); ++step) values[step] = at(step, index);
  return values;
}

std::vector<double> Trajectory::state(size_t step) const {
  MECH_CHECK(step < size(), "Trajectory::state: step {} out of range for {} times", step, size());
  return std::vector<double>(states.begin() + static_cast<long>(step * dimension),
                             states.begin() + static_cast<long>((step + 1) * dimension));
}

DormandPrince45::DormandPrince45(OdeRhs rhs, IntegratorOptions options)
    : rhs_(std::move(rhs)), options_(options) {
  MECH_CHECK(static_cast<bool>(rhs_), "DormandPrince45: the right-hand side function is empty");
  MECH_CHECK(options_.rtol >= 0 && options_.atol >= 0 && options_.rtol + options_.atol > 0,
             "DormandPrince45: tolerances rtol={} atol={} must be non-negative and not both zero", options_.rtol,
             options_.atol);
  MECH_CHECK(options_.max_steps > 0, "DormandPrince45: max_steps={} must be positive", options_.max_steps);
}

// Hairer's starting step: the step for which an Euler step changes y by about 1% of its scale,
// limited by a second-derivative estimate.
double DormandPrince45::initial_step(double t0, const std::vector<double>& y0, const std::vector<double>& f0,
                                     double span) {
  size_t n = y0.size();
  double norm_y = 0, norm_f = 0;
  for (size_t i = 0; i < n; ++i) {
    double scale = options_.atol + options_.rtol * std::fabs(y0[i]);
    norm_y += (y0[i] / scale) * (y0[i] / scale);
    norm_f += (f0[i] / scale) * (f0[i] / scale);
  }
  norm_y = std::sqrt(norm_y / static_cast<double>(n));
  norm_f = std::sqrt(norm_f / static_cast<double>(n));
  double h0 = (norm_y < 1e-5 || norm_f < 1e-5) ? 1e-6 : 0.01 * norm_y / norm_f;
  h0 = std::min(h0, span);
  std::vector<double> y1(n), f1(n);
  for (size_t i = 0; i < n; ++i) y1[i] = y0[i] + h0 * f0[i];
  rhs_(t0 + h0, y1, f1);
  ++stats_.evaluations;
  double norm_df = 0;
  for (size_t i = 0; i < n; ++i) {
    double scale = options_.atol + options_.rtol * std::fabs(y0[i]);
    norm_df += ((f1[i] - f0[i]) / scale) * ((f1[i] - f0[i]) / scale);
  }
  norm_df = std::sqrt(norm_df / static_cast<double>(n)) / h0;
  double largest = std::max(norm_f, norm_df);
  double h1 = largest <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / largest, 1.0 / 5.0);
  double h = std::min(100 * h0, h1);
  if (!std::isfinite(h) || h <= 0) h = 1e-6;
  return std::min(h, span);
}

Trajectory DormandPrince45::solve(double t0, const std::vector<double>& y0, const std::vector<double>& output_times) {
  const size_t n = y0.size();
  MECH_CHECK(n > 0, "DormandPrince45::solve: the initial state is empty");
  MECH_CHECK(std::isfinite(t0) && all_finite(y0), "DormandPrince45::solve: t0 and the {} initial values must be finite", n);
  for (size_t i = 0; i < output_times.size(); ++i) {
    MECH_CHECK(std::isfinite(output_times[i]) && output_times[i] >= t0 && (i == 0 || output_times[i] >= output_times[i - 1]),
               "DormandPrince45::solve: output time {} at index {} must be finite, >= t0={} and non-decreasing",
               output_times[i], i, t0);
  }
  stats_ = {};
  Trajectory result;
  result.times = output_times;
  result.dimension = n;
  result.states.assign(output_times.size() * n, 0.0);
  size_t next_output = 0;
  auto emit = [&](const std::vector<double>& values) {
    std::copy(values.begin(), values.end(), result.states.begin() + static_cast<long>(next_output * n));
    ++next_output;
  };
  while (next_output < output_times.size() && output_times[next_output] == t0) emit(y0);
  if (next_output == output_times.size()) return result;

  const double t_end = output_times.back();
  double t = t0;
  std::vector<double> y = y0, y_new(n), stage(n), k1(n), k2(n), k3(n), k4(n), k5(n), k6(n), k7(n), dense(n);
  std::vector<double> r2(n), r3(n), r4(n), r5(n);  // continuous-extension coefficients of the current step
  auto evaluate = [&](double time, const std::vector<double>& state, std::vector<double>& derivative) {
    rhs_(time, state, derivative);
    ++stats_.evaluations;
  };
  evaluate(t, y, k1);
  MECH_CHECK(all_finite(k1), "DormandPrince45::solve: f(t0, y0) is not finite");
  double h = options_.initial_step > 0 ? options_.initial_step : initial_step(t, y, k1, t_end - t0);
  bool previous_rejected = false;

  while (next_output < output_times.size()) {
    if (stats_.accepted_steps + stats_.rejected_steps >= options_.max_steps)
      throw Error(fmt::format("DormandPrince45::solve: more than {} steps reached only t={} of t_end={}",
                              options_.max_steps, t, t_end));
    if (options_.max_step > 0) h = std::min(h, options_.max_step);
    // Without dense output every output time is a step end; otherwise only the last one.
    double target = options_.dense_output ? t_end : output_times[next_output];
    bool lands = false;
    if (t + 1.01 * h >= target) {  // avoid a sliver of a step just before the target
      h = target - t;
      lands = true;
    }
    if (h <= std::max(std::fabs(t), 1.0) * 1e-15)
      throw Error(fmt::format("DormandPrince45::solve: step size underflow at t={} (h={}); the solution may blow up",
                              t, h));

    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + h * a21 * k1[i];
    evaluate(t + c2 * h, stage, k2);
    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + h * (a31 * k1[i] + a32 * k2[i]);
    evaluate(t + c3 * h, stage, k3);
    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + h * (a41 * k1[i] + a42 * k2[i] + a43 * k3[i]);
    evaluate(t + c4 * h, stage, k4);
    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + h * (a51 * k1[i] + a52 * k2[i] + a53 * k3[i] + a54 * k4[i]);
    evaluate(t + c5 * h, stage, k5);
    for (size_t i = 0; i < n; ++i)
      stage[i] = y[i] + h * (a61 * k1[i] + a62 * k2[i] + a63 * k3[i] + a64 * k4[i] + a65 * k5[i]);
    double t_new = lands ? target : t + h;
    evaluate(t_new, stage, k6);
    for (size_t i = 0; i < n; ++i)
      y_new[i] = y[i] + h * (a71 * k1[i] + a73 * k3[i] + a74 * k4[i] + a75 * k5[i] + a76 * k6[i]);
    evaluate(t_new, y_new, k7);

    double error = 0.0;
    for (size_t i = 0; i < n; ++i) {
      double estimate = h * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i]);
      double scale = options_.atol + options_.rtol * std::max(std::fabs(y[i]), std::fabs(y_new[i]));
      error += (estimate / scale) * (estimate / scale);
    }
    error = std::sqrt(error / static_cast<double>(n));
    bool finite = std::isfinite(error) && all_finite(k7);

    if (!finite || error > 1.0) {
      ++stats_.rejected_steps;
      double factor = finite ? std::max(kMinFactor, kSafety * std::pow(error, -0.2)) : kMinFactor;
      h *= factor;
      previous_rejected = true;
      continue;
    }

    ++stats_.accepted_steps;
    if (options_.dense_output && next_output < output_times.size() && output_times[next_output] <= t_new) {
      // Coefficients of the continuous extension for this step, then one evaluation per output time.
      for (size_t i = 0; i < n; ++i) {
        double difference = y_new[i] - y[i];
        double b_spline = h * k1[i] - difference;
        r2[i] = difference;
        r3[i] = b_spline;
        r4[i] = difference - h * k7[i] - b_spline;
        r5[i] = h * (d1 * k1[i] + d3 * k3[i] + d4 * k4[i] + d5 * k5[i] + d6 * k6[i] + d7 * k7[i]);
      }
      while (next_output < output_times.size() && output_times[next_output] <= t_new) {
        if (output_times[next_output] == t_new) {
          emit(y_new);
          continue;
        }
        double theta = (output_times[next_output] - t) / h, theta1 = 1.0 - theta;
        for (size_t i = 0; i < n; ++i)
          dense[i] = y[i] + theta * (r2[i] + theta1 * (r3[i] + theta * (r4[i] + theta1 * r5[i])));
        emit(dense);
      }
    } else {
      while (next_output < output_times.size() && output_times[next_output] == t_new) emit(y_new);
    }

    double factor = error == 0.0 ? kMaxFactor : std::min(kMaxFactor, kSafety * std::pow(error, -0.2));
    if (previous_rejected) factor = std::min(factor, 1.0);  // do not grow right after a failure
    previous_rejected = false;
    t = t_new;
    std::swap(y, y_new);
    std::swap(k1, k7);
    h = std::max(h * std::max(factor, kMinFactor), 0.0);
  }
  return result;
}

Trajectory integrate_ode(const OdeRhs& rhs, double t0, const std::vector<double>& y0,
                         const std::vector<double>& output_times, const IntegratorOptions& options) {
  DormandPrince45 integrator(rhs, options);
  return integrator.solve(t0, y0, output_times);
}

std::vector<double> uniform_times(double t0, double dt, size_t count) {
  MECH_CHECK(std::isfinite(t0) && std::isfinite(dt) && dt > 0, "uniform_times: dt={} must be positive and finite", dt);
  std::vector<double> times(count);
  for (size_t i = 0; i < count; ++i) times[i] = t0 + static_cast<double>(i) * dt;
  return times;
}

}  // namespace mech::models
