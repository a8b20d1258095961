// Tests of the KdV data generator: the spectral operator, ETDRK4's order, a soliton, conservation,
// agreement with an independent RK4 integration, the recipe, the .npy files and the windows.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../core/io_test_util.h"
#include "core/error.h"
#include "core/fft.h"
#include "core/npy.h"
#include "core/parallel.h"
#include "models/kdv_data.h"

namespace mech::models {
namespace {

constexpr double kPi = std::numbers::pi;

double max_abs(const std::vector<double>& values) {
  double result = 0;
  for (double value : values) result = std::max(result, std::abs(value));
  return result;
}

double relative_l2(const std::vector<double>& value, const std::vector<double>& reference) {
  double difference = 0, norm = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    difference += (value[i] - reference[i]) * (value[i] - reference[i]);
    norm += reference[i] * reference[i];
  }
  return std::sqrt(difference / norm);
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double value : values) sum += value;
  return sum / static_cast<double>(values.size());
}

double mean_square(const std::vector<double>& values) {
  double sum = 0;
  for (double value : values) sum += value * value;
  return sum / static_cast<double>(values.size());
}

// A recipe trajectory integrated by KdvIntegrator to time `duration` with step `step`.
std::vector<double> integrate(const KdvTrajectory& trajectory, double duration, double step) {
  const auto steps = static_cast<std::int64_t>(std::llround(duration / step));
  KdvIntegrator integrator(static_cast<std::int64_t>(trajectory.initial.size()), trajectory.length, duration / steps);
  std::vector<double> u = trajectory.initial;
  integrator.advance(u.data(), steps);
  return u;
}

// ---- the spectral operator ----------------------------------------------------------------------

// A trigonometric polynomial below the Nyquist mode, with its exact derivatives.
TEST(KdvSpectral, DerivativesExactOnTrigonometricPolynomials) {
  const std::int64_t points = 64;
  const double length = 23.7;
  KdvIntegrator integrator(points, length, 0.01);
  // modes m = 1, 5, 31 (the highest below Nyquist m = 32), plus a constant
  const std::vector<std::pair<int, double>> modes = {{1, 0.7}, {5, -1.3}, {31, 0.2}};
  std::vector<double> u(points), exact1(points), exact2(points), exact3(points);
  for (std::int64_t j = 0; j < points; ++j) {
    const double x = j * length / points;
    u[j] = 0.4;
    for (auto [m, amplitude] : modes) {
      const double k = 2 * kPi * m / length, phase = k * x + 0.3 * m;
      u[j] += amplitude * std::sin(phase);
      exact1[j] += amplitude * k * std::cos(phase);
      exact2[j] += -amplitude * k * k * std::sin(phase);
      exact3[j] += -amplitude * k * k * k * std::cos(phase);
    }
  }
  std::vector<double> derivative(points);
  for (auto [order, exact] : {std::pair{1, &exact1}, std::pair{2, &exact2}, std::pair{3, &exact3}}) {
    integrator.derivative(u.data(), derivative.data(), order);
    double error = 0;
    for (std::int64_t j = 0; j < points; ++j) error = std::max(error, std::abs(derivative[j] - (*exact)[j]));
    // rounding: a few ulps of the largest term, k^order |A| (k = 8.3 for m = 31, k^3 ~ 570)
    EXPECT_LT(error / max_abs(*exact), 1e-13) << "order " << order;
  }
  EXPECT_THROW(integrator.derivative(u.data(), derivative.data(), 4), Error);
}

// The Nyquist mode cos(pi j) has no derivative in this operator.
TEST(KdvSpectral, NyquistModeHasZeroDerivative) {
  const std::int64_t points = 16;
  KdvIntegrator integrator(points, 10.0, 0.01);
  std::vector<double> u(points), derivative(points);
  for (std::int64_t j = 0; j < points; ++j) u[j] = (j % 2 == 0) ? 1.0 : -1.0;
  for (int order = 1; order <= 3; ++order) {
    integrator.derivative(u.data(), derivative.data(), order);
    EXPECT_LT(max_abs(derivative), 1e-14) << "order " << order;
  }
}

// rhs = -u u_x - u_xxx, pointwise, on a polynomial whose derivatives are known. The samples'
// rounding (eps max|u|) reaches every mode, and the third derivative multiplies the top one by
// k^3 = 15^3: the tolerance is 16 eps max|u| 15^3 (~1.6e-11); the error seen is ~1e-12.
TEST(KdvSpectral, RightHandSideIsMinusUUxMinusUxxx) {
  const std::int64_t points = 32;
  const double length = 2 * kPi;  // k = m
  KdvIntegrator integrator(points, length, 0.01);
  std::vector<double> u(points), rhs(points);
  for (std::int64_t j = 0; j < points; ++j) u[j] = std::sin(j * length / points) + 0.5 * std::cos(3 * j * length / points);
  integrator.rhs(u.data(), rhs.data());
  for (std::int64_t j = 0; j < points; ++j) {
    const double x = j * length / points;
    const double ux = std::cos(x) - 1.5 * std::sin(3 * x), uxxx = -std::cos(x) + 13.5 * std::sin(3 * x);
    EXPECT_NEAR(rhs[j], -u[j] * ux - uxxx, 16 * 2.2e-16 * 1.5 * 15 * 15 * 15) << j;
  }
}

// ---- the integrator -----------------------------------------------------------------------------

// The reference in long double: phi_n(z) = sum_k z^k / (k + n)! where the series is short (|z| <= 2),
// the closed forms where they do not cancel (|z| > 2, with 3 more digits than double).
Etdrk4Weights reference_weights(std::complex<double> z_double) {
  using Wide = std::complex<long double>;
  const Wide z(z_double.real(), z_double.imag());
  auto phi = [&](const Wide& x, int n) {
    Wide sum = 0, term = 1;
    for (int k = 1; k <= n; ++k) term /= static_cast<long double>(k);  // 1 / n!
    for (int k = 0; k < 60; ++k) {
      sum += term;
      term *= x / static_cast<long double>(k + n + 1);
    }
    return sum;
  };
  Wide half, f1, f2, f3;
  if (std::abs(z) <= 2) {
    const Wide p1 = phi(z, 1), p2 = phi(z, 2), p3 = phi(z, 3);
    half = phi(z / 2.0L, 1) / 2.0L;
    f1 = p1 - 3.0L * p2 + 4.0L * p3;
    f2 = p2 - 2.0L * p3;
    f3 = -p2 + 4.0L * p3;
  } else {
    const Wide ez = std::exp(z), z3 = z * z * z;
    half = (std::exp(z / 2.0L) - 1.0L) / z;
    f1 = (-4.0L - z + ez * (4.0L - 3.0L * z + z * z)) / z3;
    f2 = (2.0L + z + ez * (z - 2.0L)) / z3;
    f3 = (-4.0L - 3.0L * z - z * z + ez * (4.0L - z)) / z3;
  }
  auto narrow = [](const Wide& x) { return std::complex<double>(static_cast<double>(x.real()), static_cast<double>(x.imag())); };
  return {narrow(half), narrow(f1), narrow(f2), narrow(f3)};
}

// The contour means against the reference, from z = 0 (where the closed forms are 0/0) to the
// largest |h L| of the convergence test (27) and beyond, on the imaginary axis (KdV's L = i k^3)
// and off it.
TEST(KdvEtdrk4, WeightsMatchTheirSeries) {
  using Complex = std::complex<double>;
  const std::vector<Complex> points = {{0, 0},    {0, 1e-6}, {0, 0.3}, {0, 1},  {0, -1.5}, {0, 1.99},
                                       {0, 2.01}, {0, 3.4},  {0, 10},  {0, 27}, {0, -300}, {-0.5, 0.8},
                                       {-3, 2}};
  for (const Complex& z : points) {
    const Etdrk4Weights weights = etdrk4_weights(z), reference = reference_weights(z);
    const std::pair<Complex, Complex> pairs[] = {{weights.half, reference.half}, {weights.f1, reference.f1},
                                                 {weights.f2, reference.f2}, {weights.f3, reference.f3}};
    for (const auto& [value, expected] : pairs)
      EXPECT_LT(std::abs(value - expected), 1e-14 * std::max(1.0, std::abs(expected))) << "z = " << z;
  }
  // at 0: phi1 = 1, phi2 = 1/2, phi3 = 1/6
  const Etdrk4Weights at_zero = etdrk4_weights(0.0);
  EXPECT_NEAR(at_zero.half.real(), 0.5, 1e-15);
  EXPECT_NEAR(at_zero.f1.real(), 1.0 / 6, 1e-15);
  EXPECT_NEAR(at_zero.f2.real(), 1.0 / 6, 1e-15);
  EXPECT_NEAR(at_zero.f3.real(), 1.0 / 6, 1e-15);
}

// ETDRK4 is fourth order: against a run with an 8x smaller step, the error falls ~16x per halving
// (measured: 7.1e-10, 4.5e-11, 2.8e-12 relative L2 at h = 0.08, 0.04, 0.02 over 4 time units,
// orders 3.99 and 4.00; below h = 0.01 the error reaches rounding, ~1e-13).
TEST(KdvEtdrk4, FourthOrderConvergence) {
  const KdvTrajectory trajectory = kdv_trajectory(7, 0);
  const double duration = 4.0;
  const std::vector<double> reference = integrate(trajectory, duration, 0.0025);
  std::vector<double> errors;
  for (double step : {0.08, 0.04, 0.02}) errors.push_back(relative_l2(integrate(trajectory, duration, step), reference));
  for (std::size_t i = 0; i + 1 < errors.size(); ++i) {
    const double order = std::log2(errors[i] / errors[i + 1]);
    EXPECT_GT(order, 3.5) << "steps " << i << ": errors " << errors[i] << " " << errors[i + 1];
    EXPECT_LT(order, 4.5) << "steps " << i << ": errors " << errors[i] << " " << errors[i + 1];
  }
}

// u = 3c sech^2(sqrt(c) (x - x0 - c t) / 2) solves u_t + u u_x + u_xxx = 0. On the periodic domain
// its images add tails 12c exp(-sqrt(c) d) at distance d >= 40 from the pulse (below 1e-11 of it),
// and its spectrum (decaying like exp(-pi k / sqrt c)) is below 1e-12 at the Nyquist wavenumber
// 2 pi 128 / 100: the semi-discrete system is the PDE to that accuracy, and the pulse must arrive
// where the analytic one does. Measured: 2.9e-10 of the amplitude (ETDRK4's error: 1.8e-11 at
// half the step).
TEST(KdvEtdrk4, SolitonTravelsAtItsSpeed) {
  const std::int64_t points = 256;
  const double length = 100.0, speed = 0.5, start = 40.0, duration = 40.0;
  auto soliton = [&](double x, double t) {
    const double s = 1.0 / std::cosh(std::sqrt(speed) * (x - start - speed * t) / 2);
    return 3 * speed * s * s;
  };
  std::vector<double> u(points), exact(points);
  for (std::int64_t j = 0; j < points; ++j) {
    u[j] = soliton(j * length / points, 0.0);
    exact[j] = soliton(j * length / points, duration);
  }
  KdvIntegrator integrator(points, length, 0.01);
  integrator.advance(u.data(), 4000);
  std::vector<double> error(points);
  for (std::int64_t j = 0; j < points; ++j) error[j] = u[j] - exact[j];
  EXPECT_LT(max_abs(error) / (3 * speed), 1e-9);
  // the peak moved speed * duration = 20 (to the grid spacing, 0.39)
  const auto peak = std::max_element(u.begin(), u.end()) - u.begin();
  EXPECT_NEAR(peak * length / points, start + speed * duration, length / points);
}

// The largest drift of mean(u) and of mean(u^2) / mean(u0^2) - 1 over the stored frames.
std::pair<double, double> conservation_drift(std::uint64_t seed, const KdvRecipe& recipe) {
  const KdvData data = generate_kdv(1, seed, recipe);
  const double energy = mean_square(kdv_trajectory(seed, 0, recipe).initial);
  const std::vector<double> u = data.u.to_vector<double>();
  const std::int64_t points = recipe.points;
  double worst_mean = 0, worst_energy = 0;
  for (std::int64_t s = 0; s < recipe.stored_times; ++s) {
    const std::vector<double> frame(u.begin() + s * points, u.begin() + (s + 1) * points);
    worst_mean = std::max(worst_mean, std::abs(mean(frame)));
    worst_energy = std::max(worst_energy, std::abs(mean_square(frame) / energy - 1));
  }
  return {worst_mean, worst_energy};
}

// Mean(u) and mean(u^2) over a recipe trajectory. The semi-discrete system conserves the mean
// exactly (the spectral first derivative is an antisymmetric matrix D, so sum u D u = 0, and the
// third derivative has zero mean): only rounding moves it. It conserves mean(u^2) only up to
// aliasing (sum u^2 D u = 0 when u^2 is resolved on the grid): on trajectories with tall solitons
// (max|u| ~ 4) the aliased drift reaches ~1e-6 whatever the step (see models/README.md). On this
// smoother one (max|u| ~ 2) aliasing is negligible and the drift is ETDRK4's own: 6.9e-12 at the
// recipe's step, 16x less (5.6e-13) at half of it.
TEST(KdvData, ConservesMeanAndEnergy) {
  KdvRecipe recipe;
  const auto [mean_drift, energy_drift] = conservation_drift(22, recipe);
  EXPECT_LT(mean_drift, 1e-14);
  EXPECT_LT(energy_drift, 1e-10);
  recipe.max_step = 0.005;
  const auto [finer_mean_drift, finer_energy_drift] = conservation_drift(22, recipe);
  EXPECT_LT(finer_mean_drift, 1e-14);
  EXPECT_LT(finer_energy_drift, energy_drift / 8) << "the drift is not the integrator's";
}

// Classical RK4 on the Fourier coefficients of the same semi-discrete system, written here from
// the equations (its own wavenumbers and nonlinear term), with a step 5x below ETDRK4's. It is
// stable: the linearisation's eigenvalues are i k^3 + O(k max|u|) with k <= 2 pi 127 / 115.2 = 6.93,
// so |h lambda| <= 0.002 (333 + 7 x 5) < 0.75, far inside RK4's stability interval on the imaginary
// axis, |h lambda| < 2.83.
std::vector<double> rk4_reference(const KdvTrajectory& trajectory, const std::vector<double>& times, double max_step) {
  using Complex = std::complex<double>;
  const auto points = static_cast<std::int64_t>(trajectory.initial.size()), modes = points / 2 + 1;
  const fft::Plan& plan = fft::plan(points);
  std::vector<double> k(modes);
  for (std::int64_t m = 0; m + 1 < modes; ++m) k[m] = 2 * kPi * m / trajectory.length;
  std::vector<Complex> v(modes), ux_hat(modes), k1(modes), k2(modes), k3(modes), k4(modes), stage(modes);
  std::vector<double> u(points), ux(points), frames;
  auto slope = [&](const std::vector<Complex>& w, std::vector<Complex>& out) {
    for (std::int64_t m = 0; m < modes; ++m) ux_hat[m] = Complex(0, k[m]) * w[m];
    plan.inverse_real(w.data(), u.data());
    plan.inverse_real(ux_hat.data(), ux.data());
    for (std::int64_t j = 0; j < points; ++j) u[j] *= ux[j];
    plan.forward_real(u.data(), out.data());
    for (std::int64_t m = 0; m < modes; ++m) out[m] = Complex(0, k[m] * k[m] * k[m]) * w[m] - out[m];
  };
  plan.forward_real(trajectory.initial.data(), v.data());
  double now = 0;
  for (double time : times) {
    const auto steps = static_cast<std::int64_t>(std::ceil((time - now) / max_step));
    const double h = (time - now) / steps;
    for (std::int64_t s = 0; s < steps; ++s) {
      slope(v, k1);
      for (std::int64_t m = 0; m < modes; ++m) stage[m] = v[m] + 0.5 * h * k1[m];
      slope(stage, k2);
      for (std::int64_t m = 0; m < modes; ++m) stage[m] = v[m] + 0.5 * h * k2[m];
      slope(stage, k3);
      for (std::int64_t m = 0; m < modes; ++m) stage[m] = v[m] + h * k3[m];
      slope(stage, k4);
      for (std::int64_t m = 0; m < modes; ++m) v[m] += h / 6 * (k1[m] + 2.0 * k2[m] + 2.0 * k3[m] + k4[m]);
    }
    now = time;
    plan.inverse_real(v.data(), u.data());
    frames.insert(frames.end(), u.begin(), u.end());
  }
  return frames;
}

// The generated frames (ETDRK4, h <= 0.01) against RK4 (h <= 0.002) for two whole recipe
// trajectories: within 1e-5 relative L2. Measured 3.6e-9 and 1.9e-8 (worst of 24 trajectories:
// 4.1e-7). The reference has converged: RK4 at h <= 0.001 gives the same figures to four digits.
TEST(KdvData, AgreesWithIndependentRk4) {
  const KdvData data = generate_kdv(2, 5);
  const std::vector<double> u = data.u.to_vector<double>(), t = data.t.to_vector<double>();
  for (std::int64_t i = 0; i < 2; ++i) {
    const std::vector<double> times(t.begin() + i * 140, t.begin() + (i + 1) * 140);
    const std::vector<double> reference = rk4_reference(kdv_trajectory(5, i), times, 0.002);
    const std::vector<double> generated(u.begin() + i * 140 * 256, u.begin() + (i + 1) * 140 * 256);
    const double error = relative_l2(generated, reference);
    RecordProperty("relative_l2_" + std::to_string(i), std::to_string(error));
    EXPECT_LT(error, 1e-5) << "trajectory " << i;
  }
}

// ---- the data set -------------------------------------------------------------------------------

// Fewer, coarser steps for the tests that check bookkeeping, not accuracy. The grid stays at 256
// points: on 64 the unaliased product lets these states blow up (their spectrum reaches the
// Nyquist mode). ETDRK4 at h <= 0.04 stayed finite on 40 of 40 trajectories (at 0.1, half blew up).
KdvRecipe small_recipe() {
  KdvRecipe recipe;
  recipe.output_times = 30;
  recipe.stored_times = 20;
  recipe.max_step = 0.04;
  return recipe;
}

TEST(KdvData, RecipeShapesTimesAndGrid) {
  const KdvRecipe recipe;  // the full recipe, 2 trajectories
  const KdvData data = generate_kdv(2, 11, recipe);
  ASSERT_EQ(data.u.shape(), (Shape{2, 140, 256}));
  ASSERT_EQ(data.t.shape(), (Shape{2, 140}));
  ASSERT_EQ(data.x.shape(), (Shape{2, 256}));
  EXPECT_EQ(data.u.dtype(), DType::Float64);
  const std::vector<double> t = data.t.to_vector<double>(), x = data.x.to_vector<double>();
  for (std::int64_t i = 0; i < 2; ++i) {
    const KdvTrajectory trajectory = kdv_trajectory(11, i, recipe);
    EXPECT_GE(trajectory.length, 115.2);
    EXPECT_LE(trajectory.length, 140.8);
    EXPECT_GE(trajectory.end_time, 45.0);
    EXPECT_LE(trajectory.end_time, 55.0);
    // stored times are t_n = n T / 249 for n = 110..249
    for (std::int64_t s = 0; s < 140; ++s)
      EXPECT_DOUBLE_EQ(t[i * 140 + s], (110 + s) * trajectory.end_time / 249) << i << " " << s;
    for (std::int64_t j = 0; j < 256; ++j) EXPECT_DOUBLE_EQ(x[i * 256 + j], j * trajectory.length / 256);
    // u0: zero mean (sums of whole sine periods), at most 10 x 0.5 in size
    EXPECT_NEAR(mean(trajectory.initial), 0.0, 1e-14);
    EXPECT_LE(max_abs(trajectory.initial), 5.0);
    // the stored frames keep the zero mean and a plausible spread (std 0.18..0.93 over 24 trajectories)
    const std::vector<double> u = data.u.select(0, i).to_vector<double>();
    EXPECT_NEAR(mean(u), 0.0, 1e-14);
    EXPECT_GT(std::sqrt(mean_square(u)), 0.1);
    EXPECT_LT(std::sqrt(mean_square(u)), 1.5);
  }
  EXPECT_EQ(kdv_substeps(50.0 / 249, 0.01), 21);
  EXPECT_EQ(kdv_substeps(0.01, 0.01), 1);
}

// std(u0) over many trajectories: each wave adds A^2 / 2 with E[A^2] = 1/12, so the mean of
// var(u0) is 10 / 24 and std(u) averages about 0.6 (the recipe's data: ~0.56).
TEST(KdvData, InitialStatesHaveThePlannedSpread) {
  double variance = 0;
  const int count = 400;
  for (int i = 0; i < count; ++i) variance += mean_square(kdv_trajectory(3, i).initial);
  EXPECT_NEAR(variance / count, 10.0 / 24, 0.05);
}

TEST(KdvData, DefaultSetHasLongerTimes) {
  KdvRecipe recipe = small_recipe();
  recipe.set = KdvSet::Default;
  double low = 1e9, high = 0;
  for (int i = 0; i < 200; ++i) {
    const double end = kdv_trajectory(5, i, recipe).end_time;
    low = std::min(low, end);
    high = std::max(high, end);
  }
  EXPECT_GE(low, 90.0);
  EXPECT_LE(high, 110.0);
  EXPECT_LT(low, 92.0);
  EXPECT_GT(high, 108.0);
  EXPECT_EQ(parse_kdv_set("default"), KdvSet::Default);
  EXPECT_EQ(parse_kdv_set("easy"), KdvSet::Easy);
  EXPECT_STREQ(kdv_set_name(KdvSet::Default), "default");
  try {
    parse_kdv_set("hard");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("easy or default"), std::string::npos) << error.what();
  }
}

TEST(KdvData, DeterministicForASeedWhateverTheThreads) {
  const KdvRecipe recipe = small_recipe();
  const int previous = get_num_threads();
  set_num_threads(1);
  const KdvData one = generate_kdv(4, 42, recipe);
  set_num_threads(3);
  std::vector<std::int64_t> reported;
  const KdvData three = generate_kdv(4, 42, recipe, [&](std::int64_t done) { reported.push_back(done); });
  set_num_threads(previous);
  EXPECT_EQ(one.u.to_vector<double>(), three.u.to_vector<double>());
  EXPECT_EQ(one.t.to_vector<double>(), three.t.to_vector<double>());
  EXPECT_EQ(one.x.to_vector<double>(), three.x.to_vector<double>());
  EXPECT_EQ(reported, (std::vector<std::int64_t>{1, 2, 3, 4}));
  // a trajectory depends on its index only, not on how many are made
  const KdvData two = generate_kdv(2, 42, recipe);
  const auto u4 = one.u.to_vector<double>(), u2 = two.u.to_vector<double>();
  EXPECT_TRUE(std::equal(u2.begin(), u2.end(), u4.begin()));
  // another seed, other data
  const KdvData other = generate_kdv(2, 43, recipe);
  EXPECT_NE(other.u.to_vector<double>(), u2);
}

TEST(KdvData, RejectsBadArguments) {
  KdvRecipe recipe = small_recipe();
  const KdvData none = generate_kdv(0, 0, recipe);
  EXPECT_EQ(none.u.shape(), (Shape{0, 20, 256}));
  EXPECT_EQ(kdv_window_count(none), 0);
  EXPECT_THROW(generate_kdv(-1, 0, recipe), Error);
  recipe.points = 63;
  EXPECT_THROW(generate_kdv(1, 0, recipe), Error);
  recipe = small_recipe();
  recipe.stored_times = 31;
  EXPECT_THROW(generate_kdv(1, 0, recipe), Error);
  recipe = small_recipe();
  recipe.max_step = 0.0;
  EXPECT_THROW(generate_kdv(1, 0, recipe), Error);
}

// ---- files --------------------------------------------------------------------------------------

class KdvFiles : public io_testing::TemporaryFolderTest {
 protected:
  KdvFiles() : TemporaryFolderTest("mech_kdv_data_") {}
};

TEST_F(KdvFiles, SaveLoadRoundTripIsBitExact) {
  const KdvData data = generate_kdv(2, 9, small_recipe());
  const std::string dir = path("set/train");  // created by save_kdv
  save_kdv(data, dir);
  const KdvData loaded = load_kdv(dir);
  EXPECT_EQ(loaded.u.shape(), data.u.shape());
  EXPECT_EQ(loaded.u.to_vector<double>(), data.u.to_vector<double>());
  EXPECT_EQ(loaded.t.to_vector<double>(), data.t.to_vector<double>());
  EXPECT_EQ(loaded.x.to_vector<double>(), data.x.to_vector<double>());
}

// Each broken file gives one line naming it.
TEST_F(KdvFiles, LoadRefusesBrokenFiles) {
  const KdvData data = generate_kdv(2, 9, small_recipe());
  const std::string dir = path("data");
  auto expect_error = [&](const std::string& file, const std::string& what) {
    const std::string message = io_testing::io_error_of([&] { load_kdv(dir); });
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  // missing
  save_kdv(data, dir);
  std::filesystem::remove(path("data/t.npy"));
  expect_error("t.npy", "");
  // truncated
  save_kdv(data, dir);
  std::filesystem::resize_file(path("data/u.npy"), std::filesystem::file_size(path("data/u.npy")) - 8);
  expect_error("u.npy", "");
  // wrong shape: x with one point too few
  save_kdv(data, dir);
  save_npy(path("data/x.npy"), data.x.slice(1, 0, 255).contiguous());
  expect_error("x.npy", "expected shape [2, 256]");
  // wrong trajectory count
  save_kdv(data, dir);
  save_npy(path("data/t.npy"), data.t.slice(0, 0, 1).contiguous());
  expect_error("t.npy", "expected shape [2, 20]");
  // wrong dtype
  save_kdv(data, dir);
  save_npy(path("data/u.npy"), data.u.to(DType::Float32));
  expect_error("u.npy", "float64");
  // NaN inside, and where
  save_kdv(data, dir);
  Tensor u = data.u.clone();
  u.data_ptr<double>()[(1 * 20 + 3) * 256 + 5] = std::nan("");
  save_npy(path("data/u.npy"), u);
  expect_error("u.npy", "[1, 3, 5]");
  save_kdv(data, dir);
  Tensor x = data.x.clone();
  x.data_ptr<double>()[7] = INFINITY;
  save_npy(path("data/x.npy"), x);
  expect_error("x.npy", "[0, 7]");
}

// ---- windows ------------------------------------------------------------------------------------

TEST(KdvWindows, IdsMapToConsecutiveFrames) {
  const KdvData data = generate_kdv(3, 1, small_recipe());  // 20 stored frames: 2 windows each
  EXPECT_EQ(kdv_windows_per_trajectory(data), 2);
  EXPECT_EQ(kdv_window_count(data), 6);
  const std::vector<std::int64_t> ids = {5, 0, 2};
  const Tensor windows = kdv_windows(data, ids, DType::Float64);
  ASSERT_EQ(windows.shape(), (Shape{3, 19, 256}));
  const std::vector<double> u = data.u.to_vector<double>(), w = windows.to_vector<double>();
  const std::int64_t trajectory[] = {2, 0, 1}, start[] = {1, 0, 0};
  for (std::int64_t b = 0; b < 3; ++b)
    for (std::int64_t f = 0; f < 19; ++f)
      for (std::int64_t p = 0; p < 256; ++p)
        ASSERT_EQ(w[(b * 19 + f) * 256 + p], u[(trajectory[b] * 20 + start[b] + f) * 256 + p]) << b << " " << f;
  const Tensor single = kdv_windows(data, {5}, DType::Float32);
  EXPECT_EQ(single.dtype(), DType::Float32);
  EXPECT_EQ(single.to_vector<float>()[256 * 18 + 3], static_cast<float>(u[(2 * 20 + 19) * 256 + 3]));
  EXPECT_THROW(kdv_windows(data, {6}, DType::Float32), Error);
  EXPECT_THROW(kdv_windows(data, {-1}, DType::Float32), Error);
  EXPECT_THROW(kdv_windows(data, {0}, DType::Int64), Error);
  // the full recipe: 122 windows per trajectory
  KdvData full = data;
  full.u = zeros({1, 140, 4}, TensorOptions().dtype(DType::Float64));
  full.t = zeros({1, 140}, TensorOptions().dtype(DType::Float64));
  full.x = zeros({1, 4}, TensorOptions().dtype(DType::Float64));
  EXPECT_EQ(kdv_windows_per_trajectory(full), 122);
}

}  // namespace
}  // namespace mech::models
