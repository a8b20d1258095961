// The NeuRLP op on tensors with Formulation::Hermite4 (mech::neurlp, and the reuse path
// NeurlpFactorization): accuracy on the damped oscillator, tape gradients against finite
// differences, float32 inputs and the float32 direct path, eps zeros, errors, and a short training
// run that recovers coefficients.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor.h"
#include "solvers/conditioning_test_util.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_test_util.h"
#include "solvers/neurlp_training_util.h"

namespace mech {
namespace {

const TensorOptions f64 = TensorOptions().dtype(DType::Float64);

NeurlpOptions hermite4_options() {
  NeurlpOptions options;
  options.formulation = Formulation::Hermite4;
  return options;
}

// Damped oscillator inputs (B = 1), zeta 0.1, w 2, u(0) = 1, u'(0) = 0, h on [0, 10].
std::vector<Tensor> oscillator(double h) {
  const int T = static_cast<int>(std::lround(10.0 / h)) + 1;
  std::vector<double> c;
  for (int t = 0; t < T; ++t) c.insert(c.end(), {4.0, 0.4, 1.0});
  return {from_vector(c, {1, 1, T, 1, 3}, f64), zeros({1, 1, T}, f64),
          from_vector(std::vector<double>{1.0, 0.0}, {1, 1, 1, 2}, f64), full({1, T - 1, 1}, h, f64)};
}

double oscillator_error(const Tensor& u, double h) {
  const auto values = u.to(DType::Float64).to_vector<double>();
  const double wd = 2.0 * std::sqrt(1 - 0.01);
  double error = 0.0;
  for (std::size_t t = 0; t < values.size() / 3; ++t) {
    const double time = t * h;
    const double exact = std::exp(-0.2 * time) * (std::cos(wd * time) + 0.2 / wd * std::sin(wd * time));
    error = std::max(error, std::abs(values[t * 3] - exact));
  }
  return error;
}

std::vector<Tensor> random_inputs(std::int64_t B, std::int64_t E, std::int64_t T, std::int64_t D, std::int64_t K,
                                  std::int64_t S, std::int64_t n_iv, unsigned seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0), step(0.2, 0.5);
  std::vector<double> c(B * E * T * D * K);
  for (std::size_t i = 0; i < c.size(); ++i) {
    const std::size_t k = i % K, d = (i / K) % D, e = (i / (K * D * T)) % E;
    c[i] = int(k) == K - 1 ? (d == e % D ? 2.0 + 0.5 * unit(engine) : 0.2 * unit(engine)) : unit(engine);
  }
  std::vector<double> r(B * E * T), v(B * S * D * n_iv), h(B * (T - 1) * D);
  for (double& x : r) x = unit(engine);
  for (double& x : v) x = unit(engine);
  for (double& x : h) x = step(engine);
  return {from_vector(c, {B, E, T, D, K}, f64), from_vector(r, {B, E, T}, f64), from_vector(v, {B, S, D, n_iv}, f64),
          from_vector(h, {B, T - 1, D}, f64)};
}

TEST(Hermite4Op, DampedOscillator) {
  auto in = oscillator(0.01);
  const NeurlpResult out = neurlp(in[0], in[1], in[2], in[3], hermite4_options());
  EXPECT_EQ(out.u.shape(), Shape({1, 1001, 1, 3}));
  EXPECT_LE(oscillator_error(out.u, 0.01), 1e-7);
  EXPECT_EQ(out.eps.shape(), Shape({1}));
  EXPECT_EQ(out.eps.to_vector<double>()[0], 0.0);
}

TEST(Hermite4Op, Float32ComputeUsesTheDirectSolve) {
  auto in = oscillator(0.01);
  NeurlpOptions options = hermite4_options();
  options.compute_dtype = DType::Float32;
  const NeurlpResult out = neurlp(in[0], in[1], in[2], in[3], options);
  EXPECT_EQ(out.u.dtype(), DType::Float64);
  // The float32 normal equations would not reach this (cond(A^T A) ~ 1e8 at h = 0.01).
  EXPECT_LE(oscillator_error(out.u, 0.01), 1e-4);
}

TEST(Hermite4Op, GradcheckThroughTheTape) {
  for (bool keep : {true, false})
  for (auto shape : {std::vector<std::int64_t>{2, 1, 7, 1, 3, 1, 2}, std::vector<std::int64_t>{2, 3, 6, 2, 3, 2, 1}}) {
    auto inputs = random_inputs(shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6], 3);
    for (auto& input : inputs) input.requires_grad_(true);
    // Step 1e-4: the forward rounds near 1e-13 relative (normal equations), see test_hermite4.cpp.
    auto result = gradcheck(
        [&](const std::vector<Tensor>& x) {
          NeurlpOptions options = hermite4_options();
          options.keep_factors = keep;   // false: backward re-solves in the fused pass
          return neurlp(x[0], x[1], x[2], x[3], options).u;
        },
        inputs,
        GradcheckOptions().with_step(1e-4).with_atol(1e-6).with_rtol(1e-5));
    EXPECT_TRUE(result.ok) << (keep ? "kept: " : "recomputed: ") << result.message;
  }
}

TEST(Hermite4Op, Float32DirectGradientsMatchFloat64) {
  // The float32 direct path (solve and backward marches in float32) against float64, on the
  // oscillator at h = 0.1 (T = 101): agreement to float32 rounding amplified by cond(A).
  for (bool keep : {true, false}) {
  auto inputs = oscillator(0.1);
  std::vector<Tensor> single, dbl;
  for (auto& x : inputs) {
    single.push_back(x.to(DType::Float32).detach().requires_grad_(true));
    dbl.push_back(x.detach().requires_grad_(true));
  }
  NeurlpOptions low = hermite4_options();
  low.compute_dtype = DType::Float32;
  low.keep_factors = keep;   // false: the direct solve runs again in backward
  const Tensor weights = linspace(-1.0, 1.0, 101 * 3, f64).reshape({1, 101, 1, 3});
  const NeurlpResult low_out = neurlp(single[0], single[1], single[2], single[3], low);
  (low_out.u * weights.to(DType::Float32)).sum().backward();
  const NeurlpResult high_out = neurlp(dbl[0], dbl[1], dbl[2], dbl[3], hermite4_options());
  (high_out.u * weights).sum().backward();
  EXPECT_EQ(low_out.u.dtype(), DType::Float32);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(single[i].grad().defined());
    EXPECT_EQ(single[i].grad().dtype(), DType::Float32);
    const auto a = single[i].grad().to_vector<float>();
    const auto b = dbl[i].grad().to_vector<double>();
    double scale = 0.0, difference = 0.0;
    for (std::size_t j = 0; j < a.size(); ++j) {
      scale = std::max(scale, std::abs(b[j]));
      difference = std::max(difference, std::abs(a[j] - b[j]));
    }
    EXPECT_LE(difference, 1e-4 * scale) << "input " << i << (keep ? " kept" : " recomputed") << ": max difference "
                                        << difference << " of scale " << scale;
  }
  }
}

TEST(Hermite4Op, Float32NormalEquationsForNonSquareSystems) {
  // Two initial points make the system over-determined: float32 compute then goes through the
  // float32 normal equations (16-lane packs), usable for large steps (0.2-0.5 here) only.
  // Bound: rounding the inputs to float32, forming M = A^T A and its Cholesky solve in float32 are
  // each backward stable for M, so per system ||u32 - u64||_2 <= c kappa_2(M) u ||x||_2 to first
  // order, x the whole solution and u = 2^-24 (conditioning_test_util.h). Checked with c = 1 and
  // ||u64||_2 for ||x||_2 (the output lacks the latent derivative, so this is the stricter form).
  // kappa_2(M) of these systems: 1.1e7, 9.6e5, 4.0e4; the errors measured at -O1 and -O2 are 1/15
  // to 1/220 of the bound (a fixed 1e-2 (1 + |u|) per entry failed at -O1, whose code generation
  // rounds system 0 to 5x the -O2 error: still 1/48 of its bound).
  const std::int64_t B = 3, E = 1, T = 12, D = 1, K = 3, S = 2, n_iv = 2;
  auto inputs = random_inputs(B, E, T, D, K, S, n_iv, 8);
  NeurlpOptions low = hermite4_options();
  low.compute_dtype = DType::Float32;
  const auto a = neurlp(inputs[0], inputs[1], inputs[2], inputs[3], low).u.to_vector<double>();
  const auto b = neurlp(inputs[0], inputs[1], inputs[2], inputs[3], hermite4_options()).u.to_vector<double>();
  const neurlp_core::Sizes z = neurlp_core::testing::sizes_of(T, D, K - 1, E, S, n_iv, Formulation::Hermite4);
  const double *c = inputs[0].data_ptr<double>(), *r = inputs[1].data_ptr<double>(), *v = inputs[2].data_ptr<double>(),
               *h = inputs[3].data_ptr<double>();
  const std::int64_t per_system = T * D * K;
  for (std::int64_t system = 0; system < B; ++system) {
    const double kappa = neurlp_core::testing::normal_matrix_condition(
        z, {c + system * E * T * D * K, r + system * E * T, v + system * S * D * n_iv, h + system * (T - 1) * D});
    double error = 0.0, norm = 0.0;
    for (std::int64_t i = system * per_system; i < (system + 1) * per_system; ++i) {
      error += (a[i] - b[i]) * (a[i] - b[i]);
      norm += b[i] * b[i];
    }
    EXPECT_LE(std::sqrt(error), kappa * neurlp_core::testing::kFloat32Unit * std::sqrt(norm))
        << "system " << system << ": kappa_2(M) " << kappa;
  }
}

TEST(Hermite4Op, FormulationNames) {
  EXPECT_EQ(parse_formulation("hermite4"), Formulation::Hermite4);
  EXPECT_STREQ(formulation_name(Formulation::Hermite4), "hermite4");
}

TEST(Hermite4Op, ReusePathMatchesFreshSolves) {
  auto in = random_inputs(5, 1, 30, 1, 3, 1, 2, 10);
  NeurlpFactorization factors(in[0], in[3], 1, 2, hermite4_options());
  std::mt19937_64 engine(3);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<double> r(5 * 30), v(5 * 2);
    for (double& x : r) x = unit(engine);
    for (double& x : v) x = unit(engine);
    const Tensor rhs = from_vector(r, {5, 1, 30}, f64), iv = from_vector(v, {5, 1, 1, 2}, f64);
    const NeurlpResult reused = factors.solve(rhs, iv);
    const NeurlpResult fresh = neurlp(in[0], rhs, iv, in[3], hermite4_options());
    const auto a = reused.u.to_vector<double>(), b = fresh.u.to_vector<double>();
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-11 * (1 + std::abs(b[i])));
    for (double value : reused.eps.to_vector<double>()) EXPECT_EQ(value, 0.0);
  }
}

TEST(Hermite4Op, ErrorsNameTheProblem) {
  auto in = random_inputs(3, 1, 8, 1, 3, 1, 2, 5);
  auto c = in[0].to_vector<double>();
  for (int k = 0; k < 3; ++k) c[(1 * 8 + 5) * 3 + k] = 0.0;   // element 1 loses its equation at t = 5
  try {
    neurlp(from_vector(c, in[0].shape(), f64), in[1], in[2], in[3], hermite4_options());
    FAIL() << "expected SolverError";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 1);
  }
  // one initial value for a second-order system
  auto short_iv = random_inputs(1, 1, 8, 1, 3, 1, 1, 6);
  EXPECT_THROW(neurlp(short_iv[0], short_iv[1], short_iv[2], short_iv[3], hermite4_options()), SolverError);
  // The input checks every formulation shares (solvers/neurlp_inputs.h), naming the op, the shapes and
  // what was expected.
  auto message_of = [&](int which, const Tensor& replacement) -> std::string {
    auto copy = in;
    copy[which] = replacement;
    try {
      neurlp(copy[0], copy[1], copy[2], copy[3], hermite4_options());
    } catch (const Error& error) {
      return error.what();
    }
    return "no error";
  };
  std::string message = message_of(3, zeros({3, 6, 1}, f64));
  EXPECT_NE(message.find("neurlp: expected steps of shape [3, 7, 1] (B,T-1,D) to match coeffs [3, 1, 8, 1, 3], "
                         "got [3, 6, 1]"),
            std::string::npos)
      << message;
  message = message_of(0, zeros({3, 1, 8, 1, 3}, TensorOptions().dtype(DType::Int64)));
  EXPECT_NE(message.find("neurlp: expected coeffs to be float32 or float64, got int64"), std::string::npos)
      << message;
  message = message_of(2, zeros({3, 1, 1, 3}, f64));
  EXPECT_NE(message.find("neurlp: expected n_iv < K = 3"), std::string::npos) << message;
}

TEST(Hermite4Op, TrainingRecoversCoefficients) {
  // Data from u'' + 0.3 u' + 2 u = 0 (T = 80, h = 0.1); learn (a, b) from (0.1, 1) by gradient
  // descent on the mean squared error of u, through hermite4.
  const neurlp_training::Oscillator ode(80, 0.1);
  neurlp_training::expect_training_recovers_coefficients(
      [&](const Tensor& a, const Tensor& b) {
        return neurlp(ode.coeffs(a, b), ode.rhs, ode.iv, ode.steps, hermite4_options()).u.select(3, 0);
      },
      0.1, 1.0);
}

}  // namespace
}  // namespace mech
