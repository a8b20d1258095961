// Tests of the synthetic data generators: each clean signal solves its ODE (checked independently),
// noise has the requested size, and everything is deterministic for a seed.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "models/datasets.h"

namespace mech::models {
namespace {

// Classical RK4 with a tiny fixed step: an independent reference for the generators' integrator.
std::vector<double> rk4_reference(const OdeRhs& rhs, std::vector<double> y, double t_end, double h) {
  size_t n = y.size();
  std::vector<double> k1(n), k2(n), k3(n), k4(n), stage(n);
  long steps = std::lround(t_end / h);
  double t = 0;
  for (long step = 0; step < steps; ++step) {
    rhs(t, y, k1);
    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + 0.5 * h * k1[i];
    rhs(t + 0.5 * h, stage, k2);
    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + 0.5 * h * k2[i];
    rhs(t + 0.5 * h, stage, k3);
    for (size_t i = 0; i < n; ++i) stage[i] = y[i] + h * k3[i];
    rhs(t + h, stage, k4);
    for (size_t i = 0; i < n; ++i) y[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    t += h;
  }
  return y;
}

// Standard deviation of (noisy - clean) per column, divided by `unit` per column.
std::vector<double> relative_noise(const std::vector<double>& noisy, const std::vector<double>& clean, size_t columns,
                                   const std::vector<double>& unit) {
  std::vector<double> difference(noisy.size());
  for (size_t i = 0; i < noisy.size(); ++i) difference[i] = noisy[i] - clean[i];
  std::vector<double> deviation = column_std(difference, columns);
  for (size_t c = 0; c < columns; ++c) deviation[c] /= unit[c];
  return deviation;
}

TEST(Lorenz, CleanTrajectorySolvesTheSystem) {
  LorenzOptions options;
  options.sigma = 8.0, options.rho = 20.0, options.beta = 3.0;
  options.length = 201;
  LorenzData data = make_lorenz(options);
  ASSERT_EQ(data.times.size(), 201u);
  ASSERT_EQ(data.clean.size(), 201u * 3);
  EXPECT_EQ(data.clean[0], -8.0);
  EXPECT_EQ(data.clean[2], 27.0);
  EXPECT_DOUBLE_EQ(data.times[200], 2.0);
  // The reference writes the right-hand side out again, so a wrong sign in lorenz_rhs shows.
  OdeRhs written_out = [](double, const std::vector<double>& s, std::vector<double>& d) {
    d[0] = 8.0 * (s[1] - s[0]);
    d[1] = s[0] * (20.0 - s[2]) - s[1];
    d[2] = s[0] * s[1] - 3.0 * s[2];
  };
  std::vector<double> reference = rk4_reference(written_out, {-8.0, 7.0, 27.0}, 2.0, 1e-4);
  for (size_t d = 0; d < 3; ++d) EXPECT_NEAR(data.clean[200 * 3 + d], reference[d], 1e-6) << d;
  EXPECT_EQ(data.noisy, data.clean);
}

TEST(Lorenz, NoiseIsAFractionOfEachCoordinatesSpread) {
  LorenzOptions options;
  options.noise = 0.05;
  options.seed = 3;
  LorenzData data = make_lorenz(options);
  std::vector<double> unit(data.coordinate_std.begin(), data.coordinate_std.end());
  EXPECT_EQ(unit, column_std(data.clean, 3));
  std::vector<double> measured = relative_noise(data.noisy, data.clean, 3, unit);
  // 5000 samples: the sample standard deviation is within about 1% of the true one (3 sigma: 3%).
  for (double value : measured) EXPECT_NEAR(value, 0.05, 0.05 * 0.04);
  // z has a much larger spread than its mean suggests; noise must follow each coordinate's own spread.
  EXPECT_GT(unit[2], 5.0);
}

TEST(Lorenz, DeterministicForASeed) {
  LorenzOptions options;
  options.length = 300;
  options.noise = 0.01;
  options.seed = 11;
  LorenzData first = make_lorenz(options), second = make_lorenz(options);
  EXPECT_EQ(first.noisy, second.noisy);
  options.seed = 12;
  LorenzData other = make_lorenz(options);
  EXPECT_EQ(other.clean, first.clean);
  EXPECT_NE(other.noisy, first.noisy);
}

TEST(Lorenz, RejectsBadOptions) {
  LorenzOptions options;
  options.dt = 0;
  EXPECT_THROW(make_lorenz(options), mech::Error);
  options = {};
  options.noise = -0.1;
  EXPECT_THROW(make_lorenz(options), mech::Error);
  options = {};
  options.length = 0;
  EXPECT_THROW(make_lorenz(options), mech::Error);
}

TEST(Logistic, ClosedFormSolvesTheEquation) {
  // Central differences of the closed form against r x (1 - x/K), at a step small enough that the
  // O(h^2) truncation is below 1e-8.
  const double rate = 1.3, capacity = 1.7, start = 0.2, h = 1e-4;
  EXPECT_DOUBLE_EQ(logistic_solution(rate, capacity, start, 0.0), start);
  for (double t : {0.0, 0.5, 2.0, 5.0}) {
    double x = logistic_solution(rate, capacity, start, t);
    double derivative =
        (logistic_solution(rate, capacity, start, t + h) - logistic_solution(rate, capacity, start, t - h)) / (2 * h);
    EXPECT_NEAR(derivative, rate * x * (1 - x / capacity), 1e-8) << t;
  }
  EXPECT_NEAR(logistic_solution(rate, capacity, start, 50.0), capacity, 1e-12);
}

TEST(Logistic, ParametersInRangeNoiseSizedAndDeterministic) {
  LogisticOptions options;
  options.count = 200;
  options.length = 50;
  options.noise = 0.02;
  options.seed = 5;
  LogisticData data = make_logistic(options);
  ASSERT_EQ(data.clean.size(), 200u * 50);
  ASSERT_EQ(data.rate.size(), 200u);
  for (size_t i = 0; i < options.count; ++i) {
    EXPECT_GE(data.rate[i], options.rate_min);
    EXPECT_LE(data.rate[i], options.rate_max);
    EXPECT_GE(data.capacity[i], options.capacity_min);
    EXPECT_LE(data.capacity[i], options.capacity_max);
    EXPECT_GE(data.start[i], options.start_fraction_min * data.capacity[i]);
    EXPECT_LE(data.start[i], options.start_fraction_max * data.capacity[i]);
    EXPECT_DOUBLE_EQ(data.clean[i * 50], data.start[i]);
    EXPECT_DOUBLE_EQ(data.clean[i * 50 + 30], logistic_solution(data.rate[i], data.capacity[i], data.start[i], 3.0));
  }
  // 10000 noise draws: the sample deviation is within 3% (about 4 standard errors).
  std::vector<double> measured = relative_noise(data.noisy, data.clean, 1, {1.0});
  EXPECT_NEAR(measured[0], 0.02, 0.02 * 0.03);
  // Parameters do not depend on the noise level; noise does depend on the seed.
  options.noise = 0.0;
  LogisticData quiet = make_logistic(options);
  EXPECT_EQ(quiet.rate, data.rate);
  EXPECT_EQ(quiet.noisy, data.clean);
  options.seed = 6;
  EXPECT_NE(make_logistic(options).rate, data.rate);
}

TEST(TwoBody, OrbitsConserveEnergyAndMomentumAndClose) {
  TwoBodyOptions options;
  options.count = 4;
  options.length = 300;
  options.seed = 2;
  TwoBodyData data = make_two_body(options);
  ASSERT_EQ(data.clean.size(), 4u * 300 * kTwoBodyStateSize);
  for (size_t orbit = 0; orbit < options.count; ++orbit) {
    double m1 = data.mass1[orbit], m2 = data.mass2[orbit];
    const double* first = &data.clean[orbit * 300 * kTwoBodyStateSize];
    double energy = two_body_energy(first, 1.0, m1, m2);
    // A bound Kepler orbit has E = -G m1 m2 / (2a).
    EXPECT_NEAR(energy, -m1 * m2 / (2 * data.semi_major[orbit]), 1e-12);
    double closest = 1e300, farthest = 0;
    for (size_t step = 0; step < options.length; ++step) {
      const double* s = first + step * kTwoBodyStateSize;
      EXPECT_NEAR(two_body_energy(s, 1.0, m1, m2), energy, 1e-8 * std::fabs(energy));
      // Centre of mass stays at the origin, total momentum at zero.
      EXPECT_NEAR(m1 * s[0] + m2 * s[2], 0.0, 1e-9);
      EXPECT_NEAR(m1 * s[5] + m2 * s[7], 0.0, 1e-9);
      // Angular momentum of the relative motion is conserved.
      double rx = s[2] - s[0], ry = s[3] - s[1], vx = s[6] - s[4], vy = s[7] - s[5];
      double r0x = first[2] - first[0], r0y = first[3] - first[1], v0x = first[6] - first[4], v0y = first[7] - first[5];
      EXPECT_NEAR(rx * vy - ry * vx, r0x * v0y - r0y * v0x, 1e-8);
      closest = std::min(closest, std::hypot(rx, ry));
      farthest = std::max(farthest, std::hypot(rx, ry));
    }
    double a = data.semi_major[orbit], e = data.eccentricity[orbit];
    EXPECT_NEAR(closest, a * (1 - e), 1e-12);  // the orbit starts at periapsis
    EXPECT_LE(farthest, a * (1 + e) + 1e-9);
    // 15 time units cover at least two periods, so apoapsis is sampled to within the grid.
    EXPECT_GT(farthest, a * (1 + e) - 0.02);
    // After one period every body is back where it started.
    std::vector<double> start(first, first + kTwoBodyStateSize);
    Trajectory lap = integrate_ode(two_body_rhs(1.0, m1, m2), 0.0, start, {data.period[orbit]});
    for (size_t i = 0; i < kTwoBodyStateSize; ++i) EXPECT_NEAR(lap.at(0, i), start[i], 1e-6) << orbit << " " << i;
  }
}

TEST(TwoBody, DeterministicAndRejectsUnboundOrbits) {
  TwoBodyOptions options;
  options.count = 2;
  options.length = 20;
  options.noise = 0.01;
  EXPECT_EQ(make_two_body(options).noisy, make_two_body(options).noisy);
  options.eccentricity_max = 1.0;
  EXPECT_THROW(make_two_body(options), mech::Error);
}

TEST(DampedSine, SolvesItsSecondOrderEquation) {
  DampedSineOptions options;
  options.damping = 0.3;
  options.angular_frequency = 2.5;
  options.phase = 0.4;
  options.amplitude = 1.5;
  options.dt = 1e-3;
  options.length = 4001;
  DampedSineData data = make_damped_sine(options);
  EXPECT_DOUBLE_EQ(data.damping_coefficient, 0.6);
  EXPECT_DOUBLE_EQ(data.stiffness, 2.5 * 2.5 + 0.09);
  const double h = options.dt;
  for (size_t i = 1; i + 1 < data.clean.size(); i += 97) {
    double second = (data.clean[i + 1] - 2 * data.clean[i] + data.clean[i - 1]) / (h * h);
    double first = (data.clean[i + 1] - data.clean[i - 1]) / (2 * h);
    // Central differences are O(h^2): |u''''| h^2 / 12 is below 1e-5 here.
    EXPECT_NEAR(second + data.damping_coefficient * first + data.stiffness * data.clean[i], 0.0, 1e-4) << i;
  }
  EXPECT_EQ(data.noisy, data.clean);
  options.noise = 0.1;
  options.seed = 4;
  DampedSineData noisy = make_damped_sine(options);
  EXPECT_NEAR(relative_noise(noisy.noisy, noisy.clean, 1, {1.0})[0], 0.1, 0.1 * 0.05);
}

}  // namespace
}  // namespace mech::models
