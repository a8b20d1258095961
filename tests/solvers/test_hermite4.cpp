// The hermite4 formulation (solvers/hermite4_*.h): its stencil against polynomials, its accuracy and
// observed order against exact solutions (constant and time-varying coefficients, uniform and
// non-uniform grids, P = 1..3), its banded solve against a dense least-squares reference, its
// gradients against central finite differences, and its failures on singular systems.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"
#include "solvers/neurlp_batch.h"
#include "solvers/hermite4_dense.h"
#include "solvers/hermite4_direct.h"
#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_core::hermite4 {
namespace {

struct Problem {
  Sizes z;
  std::int64_t B = 1;
  std::vector<double> coeffs, rhs, iv, steps;
  BatchInputs<double> inputs() const { return {coeffs.data(), rhs.data(), iv.empty() ? nullptr : iv.data(), steps.data()}; }
};

Sizes sizes(int T, int D, int P, int E, int S, int n_iv) {
  return testing::sizes_of(T, D, P, E, S, n_iv, Formulation::Hermite4);
}

std::vector<double> solve(const Problem& p) {
  std::vector<double> u(p.B * p.z.T * p.z.D * p.z.K);
  neurlp_core::forward_batch<double>(p.z, p.B, p.inputs(), u.data(), nullptr, false);
  return u;
}

// ---- manufactured scalar problems: sum_k c_k(t) u^(k) = r(t) with a known u -----------------
// u(t) = Im(exp(lambda t)) + 0.5 cos(0.7 t); its k-th derivative in closed form.
double exact_derivative(double t, int k) {
  const std::complex<double> lambda(-0.3, 1.5);
  const double damped = std::imag(std::pow(lambda, k) * std::exp(lambda * t));
  // d^k cos(a t) = a^k cos(a t + k pi/2)
  const double a = 0.7;
  return damped + 0.5 * std::pow(a, k) * std::cos(a * t + k * M_PI / 2);
}

double coefficient(double t, int k, int P, bool varying) {
  if (k == P) return varying ? 1.5 + 0.5 * std::cos(0.7 * t) : 1.0;
  return varying ? 0.8 + 0.3 * std::sin(t + k) : 0.5 + 0.25 * k;
}

// Nodes on [0, horizon]: uniform, or smoothly stretched, x = s + a sin(2 pi s / H) H / (2 pi), so
// that neighbouring steps differ and the step varies between (1 - a) h and (1 + a) h. Measured with
// a = 0.25 and the solution below: orders from h = 0.1 to 0.01 between 4.00 and 4.22 over P = 1..3,
// constant or varying coefficients, uniform or not. (A faster solution, frequency 2 instead of
// 1.5, with a = 0.4 leaves h = 0.1 pre-asymptotic: 4.45 from 0.1 to 0.01 for P = 1, though 3.93
// from 0.02 to 0.01 and 3.98 from 0.01 to 0.005.)
std::vector<double> nodes(double h, double horizon, bool uniform) {
  const int T = static_cast<int>(std::lround(horizon / h)) + 1;
  std::vector<double> x(T);
  const double amplitude = 0.25;
  for (int i = 0; i < T; ++i) {
    const double s = horizon * i / (T - 1);
    x[i] = uniform ? s : s + amplitude * std::sin(2 * M_PI * s / horizon) * horizon / (2 * M_PI);
  }
  return x;
}

// Max error of u^(0..P) over the grid for the manufactured problem of order P.
double manufactured_error(int P, double h, bool varying, bool uniform) {
  const double horizon = 4.0;
  const std::vector<double> x = nodes(h, horizon, uniform);
  const int T = static_cast<int>(x.size());
  Problem p;
  p.z = sizes(T, 1, P, 1, 1, P);
  p.coeffs.resize(T * (P + 1));
  p.rhs.resize(T);
  for (int t = 0; t < T; ++t) {
    double r = 0.0;
    for (int k = 0; k <= P; ++k) {
      p.coeffs[t * (P + 1) + k] = coefficient(x[t], k, P, varying);
      r += p.coeffs[t * (P + 1) + k] * exact_derivative(x[t], k);
    }
    p.rhs[t] = r;
  }
  for (int i = 0; i < P; ++i) p.iv.push_back(exact_derivative(0.0, i));
  for (int t = 0; t + 1 < T; ++t) p.steps.push_back(x[t + 1] - x[t]);
  const std::vector<double> u = solve(p);
  double error = 0.0;
  for (int t = 0; t < T; ++t)
    for (int k = 0; k <= P; ++k) error = std::max(error, std::abs(u[t * (P + 1) + k] - exact_derivative(x[t], k)));
  return error;
}

// Damped oscillator u'' + 2 zeta w u' + w^2 u = 0, u(0) = 1, u'(0) = 0 on [0, 10].
Problem oscillator(double h) {
  const double zeta = 0.1, w = 2.0;
  const int T = static_cast<int>(std::lround(10.0 / h)) + 1;
  Problem p;
  p.z = sizes(T, 1, 2, 1, 1, 2);
  for (int t = 0; t < T; ++t) {
    p.coeffs.insert(p.coeffs.end(), {w * w, 2 * zeta * w, 1.0});
    p.rhs.push_back(0.0);
  }
  p.iv = {1.0, 0.0};
  p.steps.assign(T - 1, h);
  return p;
}

double oscillator_exact(double t) {
  const double zeta = 0.1, w = 2.0, wd = w * std::sqrt(1 - zeta * zeta);
  return std::exp(-zeta * w * t) * (std::cos(wd * t) + zeta * w / wd * std::sin(wd * t));
}

template <class U>
double oscillator_error(const std::vector<U>& u, double h) {
  double error = 0.0;
  const int T = static_cast<int>(u.size() / 3);
  for (int t = 0; t < T; ++t) error = std::max(error, std::abs(double(u[t * 3]) - oscillator_exact(t * h)));
  return error;
}

// ---- stencil --------------------------------------------------------------------------------

TEST(Hermite4Stencil, DifferentiatesQuarticsExactlyOnNonUniformNodes) {
  const std::vector<double> steps = {0.3, 0.17, 0.41, 0.22, 0.35, 0.28, 0.19};
  const int T = static_cast<int>(steps.size()) + 1;
  std::vector<double> x(T, 0.0);
  for (int t = 1; t < T; ++t) x[t] = x[t - 1] + steps[t - 1];
  auto f = [](double s) { return 0.3 - 1.2 * s + 0.7 * s * s - 0.4 * s * s * s + 0.9 * s * s * s * s; };
  auto df = [](double s) { return -1.2 + 1.4 * s - 1.2 * s * s + 3.6 * s * s * s; };
  for (int t = 0; t < T; ++t) {
    Stencil<double> stencil;
    make_stencil<false>(T, t, [&](int s) { return steps[s]; }, stencil);
    EXPECT_EQ(stencil.count, 5);
    double derivative = 0.0;
    for (int j = 0; j < stencil.count; ++j) derivative += stencil.weight[j] * f(x[stencil.first + j]);
    EXPECT_NEAR(derivative, df(x[t]), 1e-11) << "t = " << t;
  }
}

TEST(Hermite4Stencil, WeightDerivativesMatchFiniteDifferences) {
  std::vector<double> steps = {0.3, 0.17, 0.41, 0.22, 0.35, 0.28};
  const int T = static_cast<int>(steps.size()) + 1;
  for (int t = 0; t < T; ++t) {
    Stencil<double> stencil;
    make_stencil<true>(T, t, [&](int s) { return steps[s]; }, stencil);
    for (int s = 0; s + 1 < stencil.count; ++s) {
      const double delta = 1e-6, saved = steps[stencil.first + s];
      Stencil<double> plus, minus;
      steps[stencil.first + s] = saved + delta;
      make_stencil<false>(T, t, [&](int i) { return steps[i]; }, plus);
      steps[stencil.first + s] = saved - delta;
      make_stencil<false>(T, t, [&](int i) { return steps[i]; }, minus);
      steps[stencil.first + s] = saved;
      for (int j = 0; j < stencil.count; ++j) {
        const double fd = (plus.weight[j] - minus.weight[j]) / (2 * delta);
        EXPECT_NEAR(stencil.dweight[j][s], fd, 1e-6 * (1 + std::abs(fd))) << "t " << t << " j " << j << " s " << s;
      }
    }
  }
}

TEST(Hermite4Stencil, ReverseModeMatchesTheDerivativeMatrix) {
  const std::vector<double> steps = {0.3, 0.17, 0.41, 0.22, 0.35, 0.28};
  const int T = static_cast<int>(steps.size()) + 1;
  for (int count : {T, 3, 2}) {   // 5-node stencils, and the short grids' 3 and 2 nodes
    for (int t = 0; t < count; ++t) {
      Stencil<double> stencil;
      make_stencil<true>(count, t, [&](int s) { return steps[s]; }, stencil);
      const double a[5] = {0.7, -1.3, 0.4, 2.1, -0.6};
      double reverse[4] = {0, 0, 0, 0};
      stencil_step_gradient(stencil, a, reverse);
      for (int s = 0; s + 1 < stencil.count; ++s) {
        double forward = 0.0;
        for (int j = 0; j < stencil.count; ++j) forward += a[j] * stencil.dweight[j][s];
        EXPECT_NEAR(reverse[s], forward, 1e-12 * (1 + std::abs(forward))) << "T " << count << " t " << t << " s " << s;
      }
    }
  }
}

TEST(Hermite4Stencil, ShortGridsUseAllNodes) {
  const std::vector<double> steps = {0.5, 0.25};
  Stencil<double> stencil;
  make_stencil<false>(3, 1, [&](int s) { return steps[s]; }, stencil);
  EXPECT_EQ(stencil.count, 3);
  // exact for quadratics: f = s^2 at nodes 0, 0.5, 0.75, derivative at 0.5 is 1
  const double x[3] = {0.0, 0.5, 0.75};
  double derivative = 0.0;
  for (int j = 0; j < 3; ++j) derivative += stencil.weight[j] * x[j] * x[j];
  EXPECT_NEAR(derivative, 1.0, 1e-13);
}

// ---- accuracy -------------------------------------------------------------------------------

TEST(Hermite4Accuracy, DampedOscillatorAtHOneHundredth) {
  const Problem p = oscillator(0.01);
  const double error = oscillator_error(solve(p), 0.01);
  // Acceptance: <= 1e-7 (about 5e-9 measured while planning; solvers/README.md, "Formulations").
  EXPECT_LE(error, 1e-7);
  RecordProperty("max_error_h0.01", fmt::format("{:.3e}", error));
}

TEST(Hermite4Accuracy, FourthOrderForOrdersOneToThree) {
  for (int P = 1; P <= 3; ++P)
    for (bool varying : {false, true})
      for (bool uniform : {true, false}) {
        const double coarse = manufactured_error(P, 0.1, varying, uniform);
        const double fine = manufactured_error(P, 0.01, varying, uniform);
        const double order = std::log10(coarse / fine);
        EXPECT_NEAR(order, 4.0, 0.3) << "P " << P << (varying ? " varying" : " constant")
                                     << (uniform ? " uniform" : " non-uniform") << ": error " << coarse << " at h 0.1, "
                                     << fine << " at h 0.01";
      }
}

// ---- dense reference --------------------------------------------------------------------------

Problem random_problem(Sizes z, std::int64_t B, unsigned seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0), step(0.2, 0.5);
  Problem p;
  p.z = z;
  p.B = B;
  p.coeffs.resize(B * z.E * z.T * z.D * z.K);
  for (std::size_t i = 0; i < p.coeffs.size(); ++i) {
    double value = unit(engine);
    // the top derivative's coefficient of dimension e in equation e kept away from zero
    const std::size_t k = i % z.K, d = (i / z.K) % z.D, e = (i / (std::size_t(z.K) * z.D * z.T)) % z.E;
    if (int(k) == z.K - 1) value = (d == e % z.D) ? 2.0 + value * 0.5 : 0.2 * value;
    p.coeffs[i] = value;
  }
  p.rhs.resize(B * z.E * z.T);
  for (double& v : p.rhs) v = unit(engine);
  p.iv.resize(B * z.S * z.D * z.n_iv);
  for (double& v : p.iv) v = unit(engine);
  p.steps.resize(B * (z.T - 1) * z.D);
  for (double& v : p.steps) v = step(engine);
  return p;
}

TEST(Hermite4Dense, BandedMatchesDenseReference) {
  // square, over-determined (two initial points, an extra equation) and D = 2 with per-dimension steps
  const Sizes cases[] = {sizes(9, 1, 2, 1, 1, 2), sizes(7, 2, 2, 3, 2, 2), sizes(12, 2, 3, 2, 1, 3),
                         sizes(3, 1, 1, 1, 1, 1)};
  for (const Sizes& z : cases) {
    const Problem p = random_problem(z, 3, 7);
    const std::vector<double> u = solve(p);
    for (std::int64_t b = 0; b < p.B; ++b) {
      const std::int64_t nc = std::int64_t(z.E) * z.T * z.D * z.K, nr = z.E * z.T, ni = z.S * z.D * z.n_iv,
                         ns = (z.T - 1) * z.D;
      const SystemInputs<double> in{p.coeffs.data() + b * nc, p.rhs.data() + b * nr, p.iv.data() + b * ni,
                                    p.steps.data() + b * ns};
      const DenseSolution reference = neurlp_core::dense_forward(z, in);   // dispatches on the formulation
      double scale = 0.0, difference = 0.0;
      for (int i = 0; i < z.T * z.D * z.K; ++i) {
        scale = std::max(scale, std::abs(reference.u[i]));
        difference = std::max(difference, std::abs(u[b * z.T * z.D * z.K + i] - reference.u[i]));
      }
      // Both solve M = A^T A (cond(A)^2, about 1e8 for the random P = 3 case) with different
      // orderings of the arithmetic: agreement is expected to cond(M) * 1e-16, not to 1e-16.
      EXPECT_LE(difference, 1e-8 * std::max(1.0, scale)) << "T " << z.T << " D " << z.D << " E " << z.E << " b " << b;
    }
  }
}

TEST(Hermite4Batch, LanePacksMatchOneSystemAtATime) {
  // 19 systems: two full lane packs of 8 (block-transposed gathers and scatters) and a partial one.
  const Sizes z = sizes(13, 1, 2, 1, 1, 2);
  const Problem batch = random_problem(z, 19, 51);
  std::vector<double> u(19 * 13 * 3), weights(u.size()), d_coeffs(batch.coeffs.size()), d_rhs(batch.rhs.size()),
      d_iv(batch.iv.size()), d_steps(batch.steps.size());
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = std::sin(0.37 * i);
  auto kept = neurlp_core::forward_batch<double>(z, 19, batch.inputs(), u.data(), nullptr, true);
  neurlp_core::backward_batch<double>(*kept, weights.data(), nullptr, {d_coeffs.data(), d_rhs.data(), d_iv.data(), d_steps.data()});
  const std::int64_t nc = 13 * 3, nr = 13, ni = 2, ns = 12, nu = 13 * 3;
  for (std::int64_t b = 0; b < 19; ++b) {
    Problem one;
    one.z = z;
    one.coeffs.assign(batch.coeffs.begin() + b * nc, batch.coeffs.begin() + (b + 1) * nc);
    one.rhs.assign(batch.rhs.begin() + b * nr, batch.rhs.begin() + (b + 1) * nr);
    one.iv.assign(batch.iv.begin() + b * ni, batch.iv.begin() + (b + 1) * ni);
    one.steps.assign(batch.steps.begin() + b * ns, batch.steps.begin() + (b + 1) * ns);
    std::vector<double> u1(nu), g_c(nc), g_r(nr), g_i(ni), g_s(ns);
    neurlp_core::forward_backward_batch<double>(z, 1, one.inputs(), u1.data(), nullptr, weights.data() + b * nu,
                                                nullptr, {g_c.data(), g_r.data(), g_i.data(), g_s.data()});
    for (std::int64_t i = 0; i < nu; ++i) EXPECT_NEAR(u[b * nu + i], u1[i], 1e-12) << "b " << b;
    for (std::int64_t i = 0; i < nc; ++i) EXPECT_NEAR(d_coeffs[b * nc + i], g_c[i], 1e-10) << "b " << b;
    for (std::int64_t i = 0; i < nr; ++i) EXPECT_NEAR(d_rhs[b * nr + i], g_r[i], 1e-10) << "b " << b;
    for (std::int64_t i = 0; i < ns; ++i) EXPECT_NEAR(d_steps[b * ns + i], g_s[i], 1e-10) << "b " << b;
  }
}

TEST(Hermite4Batch, ResolveWithNewRhsAndInitialValues) {
  const Sizes z = sizes(15, 2, 2, 2, 1, 2);
  const Problem first = random_problem(z, 10, 61);
  Problem second = random_problem(z, 10, 62);
  second.coeffs = first.coeffs;   // same A, new b
  second.steps = first.steps;
  std::vector<double> u(10 * 15 * 2 * 3);
  auto kept = neurlp_core::forward_batch<double>(z, 10, first.inputs(), u.data(), nullptr, true);
  neurlp_core::resolve_batch<double>(*kept, second.inputs(), u.data(), nullptr);
  const std::vector<double> reference = solve(second);
  for (std::size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(u[i], reference[i], 1e-10 * (1 + std::abs(reference[i])));
}

TEST(Hermite4Dense, BandedGradientsMatchDenseReference) {
  const Sizes z = sizes(10, 2, 2, 3, 2, 1);   // over-determined: non-zero residuals
  const Problem p = random_problem(z, 2, 71);
  std::vector<double> weights(2 * 10 * 2 * 3);
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = std::cos(0.7 * i);
  std::vector<double> u(weights.size()), dc(p.coeffs.size()), dr(p.rhs.size()), dv(p.iv.size()), dh(p.steps.size());
  neurlp_core::forward_backward_batch<double>(z, 2, p.inputs(), u.data(), nullptr, weights.data(), nullptr,
                                              {dc.data(), dr.data(), dv.data(), dh.data()});
  const std::int64_t nc = 3 * 10 * 2 * 3, nr = 30, ni = 2 * 2 * 1, ns = 9 * 2, nu = 60;
  for (std::int64_t b = 0; b < 2; ++b) {
    const SystemInputs<double> in{p.coeffs.data() + b * nc, p.rhs.data() + b * nr, p.iv.data() + b * ni,
                                  p.steps.data() + b * ns};
    std::vector<double> rc(nc), rr(nr), rv(ni), rh(ns);
    hermite4::dense_backward(z, in, weights.data() + b * nu, {rc.data(), rr.data(), rv.data(), rh.data()});
    auto near = [&](const std::vector<double>& reference, const std::vector<double>& got, std::int64_t count, const char* name) {
      for (std::int64_t i = 0; i < count; ++i)
        EXPECT_NEAR(got[b * count + i], reference[i], 1e-8 * (1 + std::abs(reference[i]))) << name << " " << b << " " << i;
    };
    near(rc, dc, nc, "coeffs");
    near(rr, dr, nr, "rhs");
    near(rv, dv, ni, "iv");
    near(rh, dh, ns, "steps");
  }
}

// ---- gradients --------------------------------------------------------------------------------

// L = sum(u * weights); analytic gradients against central differences of the forward. The
// forward rounds at about 1e-13 relative on these random systems (the normal equations square
// cond(A)), so the difference step is 1e-4 (rounding noise ~1e-9, truncation ~1e-8 x the third
// derivative) rather than 1e-6 (noise ~1e-7); measured agreement is ~1e-8.
void check_gradients(const Sizes& z, unsigned seed, bool uniform_steps = false) {
  Problem p = random_problem(z, 2, seed);
  // Uniform steps take the stencil's reuse path (weights and their derivatives made once).
  if (uniform_steps) std::fill(p.steps.begin(), p.steps.end(), 0.3);
  std::mt19937_64 engine(seed + 1);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<double> weights(p.B * z.T * z.D * z.K);
  for (double& w : weights) w = unit(engine);
  auto loss = [&]() {
    const std::vector<double> u = solve(p);
    double total = 0.0;
    for (std::size_t i = 0; i < u.size(); ++i) total += u[i] * weights[i];
    return total;
  };
  std::vector<double> u(weights.size()), d_coeffs(p.coeffs.size()), d_rhs(p.rhs.size()), d_iv(p.iv.size()),
      d_steps(p.steps.size());
  auto kept = neurlp_core::forward_batch<double>(z, p.B, p.inputs(), u.data(), nullptr, true);
  neurlp_core::backward_batch<double>(*kept, weights.data(), nullptr, {d_coeffs.data(), d_rhs.data(), d_iv.data(), d_steps.data()});
  // The fused entry point gives the same.
  std::vector<double> u2(u.size()), f_coeffs(p.coeffs.size()), f_rhs(p.rhs.size()), f_iv(p.iv.size()),
      f_steps(p.steps.size());
  neurlp_core::forward_backward_batch<double>(z, p.B, p.inputs(), u2.data(), nullptr, weights.data(), nullptr,
                                              {f_coeffs.data(), f_rhs.data(), f_iv.data(), f_steps.data()});
  EXPECT_EQ(u, u2);
  EXPECT_EQ(d_steps, f_steps);
  auto check = [&](std::vector<double>& values, const std::vector<double>& analytic, const char* name) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double saved = values[i], delta = 1e-4;
      values[i] = saved + delta;
      const double plus = loss();
      values[i] = saved - delta;
      const double minus = loss();
      values[i] = saved;
      const double fd = (plus - minus) / (2 * delta);
      EXPECT_NEAR(analytic[i], fd, 2e-6 * (1 + std::abs(fd))) << name << "[" << i << "] T " << z.T << " D " << z.D;
    }
  };
  check(p.coeffs, d_coeffs, "coeffs");
  check(p.rhs, d_rhs, "rhs");
  check(p.iv, d_iv, "iv");
  check(p.steps, d_steps, "steps");
}

TEST(Hermite4Gradients, SquareSystemMatchesFiniteDifferences) { check_gradients(sizes(8, 1, 2, 1, 1, 2), 11); }

TEST(Hermite4Gradients, UniformGridMatchesFiniteDifferences) { check_gradients(sizes(11, 1, 2, 1, 1, 2), 16, true); }

TEST(Hermite4Gradients, OverdeterminedCoupledSystemMatchesFiniteDifferences) {
  // residual non-zero (more rows than unknowns), D = 2 with per-dimension steps, stencil centred
  // and one-sided
  check_gradients(sizes(7, 2, 2, 3, 2, 1), 12);
}

TEST(Hermite4Gradients, OrdersOneAndThree) {
  check_gradients(sizes(6, 1, 1, 1, 1, 1), 13);
  check_gradients(sizes(6, 1, 3, 2, 1, 3), 14);
}

TEST(Hermite4Gradients, PerDimensionStepsThroughStencilAndStepRows) {
  // D = 2 with different steps per dimension: dimension 0's steps enter the stencil (whose weights
  // multiply the random, time-varying coefficients and rhs, so its contribution is not zero) and
  // dimension 0's step rows; dimension 1's steps only its step rows. T = 9 has centred and
  // one-sided stencils.
  check_gradients(sizes(9, 2, 2, 2, 1, 2), 15);
}

// ---- failures -----------------------------------------------------------------------------

TEST(Hermite4Errors, NoEquationAtOneTimeNamesElement) {
  Problem p = random_problem(sizes(10, 1, 2, 1, 1, 2), 3, 21);
  // element 1: all coefficients zero at t = 6 (no equation there) makes the square system singular
  const int T = 10, K = 3;
  p.coeffs[(1 * T + 6) * K + 2] = 0.0;
  p.coeffs[(1 * T + 6) * K + 1] = 0.0;
  p.coeffs[(1 * T + 6) * K + 0] = 0.0;
  try {
    solve(p);
    FAIL() << "expected SolverError";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 1);
    EXPECT_NE(std::string(error.what()).find("batch element 1"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("singular"), std::string::npos) << error.what();
  }
}

TEST(Hermite4Errors, TopCoefficientZeroEverywhereIsSingular) {
  // c_P = 0 at every t: the equations are of order P-1 and the P initial values over-fix them, so
  // the square system is singular, in both solves. (c_P = 0 at isolated points or on a stretch of
  // the grid is NOT singular for the discrete system: measured, the solve goes through, so there is
  // no check for it.)
  Problem p = random_problem(sizes(12, 1, 2, 1, 1, 2), 4, 24);
  for (int t = 0; t < 12; ++t) p.coeffs[(3 * 12 + t) * 3 + 2] = 0.0;   // element 3
  for (bool direct : {false, true}) {
    try {
      std::vector<double> u(p.B * 12 * 3);
      if (direct) direct_forward_batch<double>(p.z, p.B, p.inputs(), u.data());
      else neurlp_core::forward_batch<double>(p.z, p.B, p.inputs(), u.data(), nullptr, false);
      FAIL() << "expected SolverError";
    } catch (const SolverError& error) {
      EXPECT_EQ(error.batch_element(), 3) << error.what();
    }
  }
}

TEST(Hermite4Errors, FewerThanPInitialValues) {
  Problem p = random_problem(sizes(10, 1, 2, 1, 1, 1), 2, 22);
  try {
    solve(p);
    FAIL() << "expected SolverError";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 0);
    EXPECT_NE(std::string(error.what()).find("initial values"), std::string::npos) << error.what();
  }
}

TEST(Hermite4Errors, NonPositiveStepNamesElement) {
  Problem p = random_problem(sizes(10, 1, 2, 1, 1, 2), 9, 23);
  p.steps[8 * 9 + 3] = -0.1;
  try {
    solve(p);
    FAIL() << "expected SolverError";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 8);
  }
}

// ---- direct and mixed-precision solves of square systems ---------------------------------------

template <class T>
std::vector<T> converted(const std::vector<double>& values) {
  return std::vector<T>(values.begin(), values.end());
}

TEST(Hermite4Direct, Float32OnTheDampedOscillator) {
  const Problem p = oscillator(0.01);
  const auto c = converted<float>(p.coeffs), r = converted<float>(p.rhs), v = converted<float>(p.iv),
             h = converted<float>(p.steps);
  std::vector<float> u(p.z.T * 3);
  direct_forward_batch<float>(p.z, 1, {c.data(), r.data(), v.data(), h.data()}, u.data());
  const double error = oscillator_error(u, 0.01);
  // Acceptance: <= 1e-4 (about 1e-5: solvers/README.md, "Precision").
  EXPECT_LE(error, 1e-4);
  RecordProperty("float32_direct_error", fmt::format("{:.3e}", error));
}

TEST(Hermite4Direct, MixedPrecisionReachesFloat64Accuracy) {
  const Problem p = oscillator(0.01);
  std::vector<double> mixed(p.z.T * 3), direct(p.z.T * 3);
  mixed_forward_batch(p.z, 1, p.inputs(), mixed.data(), 3);
  direct_forward_batch<double>(p.z, 1, p.inputs(), direct.data());
  std::vector<double> unrefined(p.z.T * 3);
  mixed_forward_batch(p.z, 1, p.inputs(), unrefined.data(), 0);
  // Against the float64 direct solve of the same square system (the normal equations differ from
  // both by their own rounding, cond(A^T A) x 1e-16, about 1e-9 here).
  double difference = 0.0, unrefined_difference = 0.0;
  for (std::size_t i = 0; i < mixed.size(); ++i) {
    difference = std::max(difference, std::abs(mixed[i] - direct[i]));
    unrefined_difference = std::max(unrefined_difference, std::abs(unrefined[i] - direct[i]));
  }
  EXPECT_LE(difference, 1e-11);
  EXPECT_GT(unrefined_difference, 100 * difference);   // the refinement is what gets there
  EXPECT_LE(oscillator_error(mixed, 0.01), 1e-7);
  RecordProperty("mixed_vs_direct64", fmt::format("{:.3e}", difference));
  RecordProperty("float32_vs_direct64", fmt::format("{:.3e}", unrefined_difference));
}

TEST(Hermite4Direct, Float64DirectMatchesNormalEquationsWithGradients) {
  const Problem p = random_problem(sizes(11, 2, 2, 2, 1, 2), 3, 31);
  const std::vector<double> reference = solve(p);
  std::vector<double> u(reference.size());
  auto kept = direct_forward_batch<double>(p.z, p.B, p.inputs(), u.data());
  for (std::size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(u[i], reference[i], 1e-9 * (1 + std::abs(reference[i])));
  std::mt19937_64 engine(5);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<double> weights(u.size());
  for (double& w : weights) w = unit(engine);
  auto gradients = [&](bool direct) {
    std::vector<std::vector<double>> g = {std::vector<double>(p.coeffs.size()), std::vector<double>(p.rhs.size()),
                                          std::vector<double>(p.iv.size()), std::vector<double>(p.steps.size())};
    const BatchGradients<double> out{g[0].data(), g[1].data(), g[2].data(), g[3].data()};
    if (direct) {
      direct_backward_batch<double>(*kept, p.inputs(), weights.data(), out);
    } else {
      std::vector<double> u2(u.size());
      neurlp_core::forward_backward_batch<double>(p.z, p.B, p.inputs(), u2.data(), nullptr, weights.data(), nullptr,
                                                  out);
    }
    return g;
  };
  const auto direct = gradients(true), normal = gradients(false);
  for (int which = 0; which < 4; ++which)
    for (std::size_t i = 0; i < direct[which].size(); ++i)
      EXPECT_NEAR(direct[which][i], normal[which][i], 1e-8 * (1 + std::abs(normal[which][i])))
          << "input " << which << " index " << i;
}

TEST(Hermite4Direct, SingularBlockNamesElementAndTime) {
  Problem p = random_problem(sizes(10, 1, 2, 1, 1, 2), 4, 41);
  for (int k = 0; k < 3; ++k) p.coeffs[(2 * 10 + 4) * 3 + k] = 0.0;   // element 2, t = 4: no equation
  std::vector<double> u(p.B * 10 * 3);
  try {
    direct_forward_batch<double>(p.z, p.B, p.inputs(), u.data());
    FAIL() << "expected SolverError";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 2);
    EXPECT_NE(std::string(error.what()).find("t=4"), std::string::npos) << error.what();
  }
}

TEST(Hermite4Direct, RejectsNonSquareSystems) {
  const Problem p = random_problem(sizes(6, 1, 2, 2, 1, 2), 1, 42);
  std::vector<double> u(6 * 3);
  EXPECT_THROW(direct_forward_batch<double>(p.z, 1, p.inputs(), u.data()), Error);
}

}  // namespace
}  // namespace mech::neurlp_core::hermite4
