// An adaptive Dormand-Prince 5(4) integrator for arbitrary ODE systems y' = f(t, y), used to make
// training data (Lorenz, orbits, logistic growth) and to simulate discovered equations.
//
// Steps are chosen by the embedded fourth-order error estimate so that each component's local error
// stays below atol + rtol * |y|. Values at the requested output times come either from the
// fourth-order continuous extension of the method (dense output: steps ignore the output grid) or
// by shortening steps to land exactly on every output time (full fifth-order values).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace mech::models {

// f(t, y, dydt): writes y'(t) into dydt, which arrives sized like y.
using OdeRhs = std::function<void(double t, const std::vector<double>& y, std::vector<double>& dydt)>;

struct IntegratorOptions {
  double rtol = 1e-9;
  double atol = 1e-12;
  double initial_step = 0.0;  // 0: chosen from the problem's scales
  double max_step = 0.0;      // 0: unlimited
  long max_steps = 10'000'000;
  bool dense_output = true;   // false: land exactly on every output time
};

struct IntegrationStats {
  long accepted_steps = 0;
  long rejected_steps = 0;
  long evaluations = 0;  // calls of f
};

// States at a sequence of times, row-major: states[i * dimension + d] is component d at times[i].
struct Trajectory {
  std::vector<double> times;
  std::vector<double> states;
  size_t dimension = 0;

  size_t size() const { return times.size(); }
  double at(size_t step, size_t component) const { return states[step * dimension + component]; }
  std::vector<double> component(size_t index) const;  // one coordinate over time
  std::vector<double> state(size_t step) const;       // all coordinates at one time
};

class DormandPrince45 {
 public:
  explicit DormandPrince45(OdeRhs rhs, IntegratorOptions options = {});

  // Integrates from (t0, y0) and returns the states at output_times, which must be finite,
  // non-decreasing and >= t0 (an output time equal to t0 returns y0). Throws mech::Error on a
  // non-finite state, a step size that underflows, or more than options.max_steps steps.
  Trajectory solve(double t0, const std::vector<double>& y0, const std::vector<double>& output_times);

  const IntegrationStats& stats() const { return stats_; }

 private:
  double initial_step(double t0, const std::vector<double>& y0, const std::vector<double>& f0, double span);

  OdeRhs rhs_;
  IntegratorOptions options_;
  IntegrationStats stats_;
};

// Convenience: one call with default step control.
Trajectory integrate_ode(const OdeRhs& rhs, double t0, const std::vector<double>& y0,
                         const std::vector<double>& output_times, const IntegratorOptions& options = {});

// t0, t0 + dt, ..., count times; computed as t0 + i*dt so no rounding accumulates.
std::vector<double> uniform_times(double t0, double dt, size_t count);

}  // namespace mech::models
