// Tests of the Dormand-Prince 5(4) integrator against closed-form solutions, its order of accuracy
// with fixed steps, its dense output, and its error reporting.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "models/ode_integrator.h"

namespace mech::models {
namespace {

OdeRhs exponential(double rate) {
  return [rate](double, const std::vector<double>& y, std::vector<double>& dydt) { dydt[0] = rate * y[0]; };
}

// x'' = -omega^2 x as a first-order system (x, v).
OdeRhs oscillator(double omega) {
  return [omega](double, const std::vector<double>& y, std::vector<double>& dydt) {
    dydt[0] = y[1];
    dydt[1] = -omega * omega * y[0];
  };
}

// Steps of exactly h: the error control accepts everything and never resizes beyond h.
IntegratorOptions fixed_steps(double h) {
  IntegratorOptions options;
  options.rtol = 1e6;
  options.atol = 1e6;
  options.initial_step = h;
  options.max_step = h;
  return options;
}

TEST(DormandPrince, ExponentialGrowthTo1e8) {
  const double rate = 0.7, start = 1.3;
  std::vector<double> times = uniform_times(0.0, 0.1, 51);
  for (bool dense : {true, false}) {
    IntegratorOptions options;
    options.dense_output = dense;
    Trajectory result = integrate_ode(exponential(rate), 0.0, {start}, times, options);
    ASSERT_EQ(result.size(), times.size());
    double worst = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      double exact = start * std::exp(rate * times[i]);
      worst = std::max(worst, std::fabs(result.at(i, 0) - exact) / exact);
    }
    EXPECT_LT(worst, 1e-8) << "dense=" << dense;
    EXPECT_EQ(result.at(0, 0), start);
  }
}

TEST(DormandPrince, HarmonicOscillatorTo1e8) {
  const double omega = 2.0;
  std::vector<double> times = uniform_times(0.0, 0.05, 401);  // ten periods and more
  for (bool dense : {true, false}) {
    IntegratorOptions options;
    options.dense_output = dense;
    Trajectory result = integrate_ode(oscillator(omega), 0.0, {1.0, 0.5}, times, options);
    double worst = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      double t = times[i];
      double x = std::cos(omega * t) + 0.5 / omega * std::sin(omega * t);
      double v = -omega * std::sin(omega * t) + 0.5 * std::cos(omega * t);
      worst = std::max({worst, std::fabs(result.at(i, 0) - x), std::fabs(result.at(i, 1) - v)});
    }
    EXPECT_LT(worst, 1e-8) << "dense=" << dense;
  }
}

TEST(DormandPrince, UsesTheTimeArgument) {
  OdeRhs forced = [](double t, const std::vector<double>&, std::vector<double>& dydt) { dydt[0] = std::cos(t); };
  Trajectory result = integrate_ode(forced, 1.0, {std::sin(1.0)}, {1.0, 2.5, 7.0});
  // Global error at the default rtol 1e-9 is a few 1e-9 over this span.
  for (size_t i = 0; i < result.size(); ++i) EXPECT_NEAR(result.at(i, 0), std::sin(result.times[i]), 1e-8);
}

TEST(DormandPrince, FifthOrderWithFixedSteps) {
  // Halving h divides the global error by about 2^5 = 32 (measured 29.3 for h = 0.1 -> 0.05 on
  // y' = y; the ratio tends to 32 from below as h shrinks). A wrong tableau entry drops the order.
  auto error_at = [](double h) {
    Trajectory result = integrate_ode(exponential(1.0), 0.0, {1.0}, {2.0}, fixed_steps(h));
    return std::fabs(result.at(0, 0) - std::exp(2.0));
  };
  double coarse = error_at(0.1), fine = error_at(0.05);
  double ratio = coarse / fine;
  EXPECT_GT(ratio, 26.0) << coarse << " " << fine;
  EXPECT_LT(ratio, 36.0) << coarse << " " << fine;
}

TEST(DormandPrince, DenseOutputIsAccurateBetweenSteps) {
  // Outputs in the middle of fixed steps: the continuous extension's error must shrink at least
  // fourth order, and the values must be far better than linear interpolation.
  auto midpoint_error = [](double h) {
    std::vector<double> times;
    for (double t = 0.5 * h; t < 3.0; t += h) times.push_back(t);
    Trajectory result = integrate_ode(oscillator(1.0), 0.0, {1.0, 0.0}, times, fixed_steps(h));
    double worst = 0;
    for (size_t i = 0; i < times.size(); ++i) worst = std::max(worst, std::fabs(result.at(i, 0) - std::cos(times[i])));
    return worst;
  };
  double coarse = midpoint_error(0.2), fine = midpoint_error(0.1);
  EXPECT_GT(coarse / fine, 14.0) << coarse << " " << fine;
  EXPECT_LT(coarse, 1e-5);  // linear interpolation would be off by h^2/8 = 5e-3
}

TEST(DormandPrince, DenseAndLandingAgreeOnLorenz) {
  OdeRhs lorenz = [](double, const std::vector<double>& s, std::vector<double>& d) {
    d[0] = 10.0 * (s[1] - s[0]);
    d[1] = s[0] * (28.0 - s[2]) - s[1];
    d[2] = s[0] * s[1] - 8.0 / 3.0 * s[2];
  };
  std::vector<double> times = uniform_times(0.0, 0.01, 101);
  IntegratorOptions landing;
  landing.dense_output = false;
  landing.rtol = 1e-11;
  landing.atol = 1e-11;
  Trajectory reference = integrate_ode(lorenz, 0.0, {-8.0, 7.0, 27.0}, times, landing);
  IntegratorOptions moderate;
  moderate.rtol = 1e-7;
  moderate.atol = 1e-9;
  DormandPrince45 integrator(lorenz, moderate);
  Trajectory dense = integrator.solve(0.0, {-8.0, 7.0, 27.0}, times);
  for (size_t i = 0; i < times.size(); ++i)
    for (size_t d = 0; d < 3; ++d) EXPECT_NEAR(dense.at(i, d), reference.at(i, d), 1e-5) << i << " " << d;
  // Dense output takes its own steps: fewer than one per output time at this tolerance.
  EXPECT_LT(integrator.stats().accepted_steps, 100);
  EXPECT_GT(integrator.stats().accepted_steps, 5);
}

TEST(DormandPrince, LooserToleranceTakesFewerSteps) {
  IntegratorOptions tight, loose;
  tight.rtol = 1e-11;
  loose.rtol = 1e-5;
  loose.atol = 1e-8;
  DormandPrince45 tight_integrator(oscillator(3.0), tight), loose_integrator(oscillator(3.0), loose);
  tight_integrator.solve(0.0, {1.0, 0.0}, {10.0});
  loose_integrator.solve(0.0, {1.0, 0.0}, {10.0});
  EXPECT_LT(loose_integrator.stats().accepted_steps * 4, tight_integrator.stats().accepted_steps);
}

TEST(DormandPrince, RepeatedAndInitialOutputTimes) {
  Trajectory result = integrate_ode(exponential(1.0), 0.0, {1.0}, {0.0, 0.0, 1.0, 1.0});
  EXPECT_EQ(result.at(0, 0), 1.0);
  EXPECT_EQ(result.at(1, 0), 1.0);
  EXPECT_NEAR(result.at(2, 0), std::exp(1.0), 1e-8);
  EXPECT_EQ(result.at(2, 0), result.at(3, 0));
  EXPECT_EQ(integrate_ode(exponential(1.0), 0.0, {1.0}, {}).size(), 0u);
}

TEST(DormandPrince, ReportsBadInputAndBlowUp) {
  EXPECT_THROW(integrate_ode(exponential(1.0), 0.0, {1.0}, {1.0, 0.5}), mech::Error);
  EXPECT_THROW(integrate_ode(exponential(1.0), 1.0, {1.0}, {0.5}), mech::Error);
  EXPECT_THROW(integrate_ode(exponential(1.0), 0.0, {}, {1.0}), mech::Error);
  EXPECT_THROW(integrate_ode(exponential(1.0), 0.0, {NAN}, {1.0}), mech::Error);
  // y' = y^2 from y(0) = 1 blows up at t = 1.
  OdeRhs blow_up = [](double, const std::vector<double>& y, std::vector<double>& d) { d[0] = y[0] * y[0]; };
  try {
    integrate_ode(blow_up, 0.0, {1.0}, {2.0});
    FAIL() << "expected an error";
  } catch (const mech::Error& error) {
    EXPECT_NE(std::string(error.what()).find("DormandPrince45"), std::string::npos) << error.what();
  }
  IntegratorOptions few;
  few.max_steps = 3;
  EXPECT_THROW(integrate_ode(oscillator(1.0), 0.0, {1.0, 0.0}, {100.0}, few), mech::Error);
}

}  // namespace
}  // namespace mech::models
