// The NeuRLP op on tensors: analytic solutions, gradients through the tape against finite
// differences, dtype handling, the reuse path, the error paths, and training through the op.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "autograd/anomaly.h"
#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_training_util.h"

namespace mech {
namespace {

const TensorOptions f64 = TensorOptions().dtype(DType::Float64);

// A linear constant-coefficient ODE sum_k c_k u^(k) = 0 of one dimension on a uniform grid.
struct Ode {
  std::vector<double> coefficients;   // c_0 .. c_P
  std::vector<double> initial;        // u(0), u'(0), ...
  double h;
  int T;
};

NeurlpResult solve(const Ode& ode, const NeurlpOptions& options = {}) {
  const int K = static_cast<int>(ode.coefficients.size());
  std::vector<double> c;
  for (int t = 0; t < ode.T; ++t) c.insert(c.end(), ode.coefficients.begin(), ode.coefficients.end());
  Tensor coeffs = from_vector(c, {1, 1, ode.T, 1, K}, f64);
  Tensor rhs = zeros({1, 1, ode.T}, f64);
  Tensor iv = from_vector(ode.initial, {1, 1, 1, static_cast<std::int64_t>(ode.initial.size())}, f64);
  Tensor steps = full({1, ode.T - 1, 1}, ode.h, f64);
  return neurlp(coeffs, rhs, iv, steps, options);
}

// max_t |u(t_t) - exact(t_t)| for derivative `k` of dimension `d`.
double max_error(const Tensor& u, const std::function<double(double)>& exact, double h, int d = 0, int k = 0) {
  const auto values = u.to_vector<double>();
  const std::int64_t T = u.size(1), D = u.size(2), K = u.size(3);
  double error = 0.0;
  for (std::int64_t t = 0; t < T; ++t)
    error = std::max(error, std::abs(values[(t * D + d) * K + k] - exact(t * h)));
  return error;
}

TEST(NeurlpOp, HarmonicOscillatorFollowsSine) {
  // u'' + u = 0, u(0) = 0, u'(0) = 1, h = 0.05, T = 500 (t up to 25): within the formulation's
  // known accuracy of sin t.
  const NeurlpResult out = solve({{1, 0, 1}, {0, 1}, 0.05, 500});
  const double error = max_error(out.u, [](double t) { return std::sin(t); }, 0.05);
  EXPECT_LT(error, 1.5e-2);
  const double derivative_error = max_error(out.u, [](double t) { return std::cos(t); }, 0.05, 0, 1);
  EXPECT_LT(derivative_error, 1.5e-2);
}

// u'' + 0.2 u' + u = 0, u(0) = 1, u'(0) = 0 over 10 s.
double damped_error(double h, double gamma) {
  NeurlpOptions options;
  options.gamma = gamma;
  const int T = static_cast<int>(std::lround(10.0 / h)) + 1;
  const NeurlpResult out = solve({{1, 0.2, 1}, {1, 0}, h, T}, options);
  const double omega = std::sqrt(1 - 0.01);
  return max_error(out.u, [&](double t) {
    return std::exp(-0.1 * t) * (std::cos(omega * t) + 0.1 / omega * std::sin(omega * t));
  }, h);
}

TEST(NeurlpOp, DampedOscillatorErrorFallsWithStep) {
  // Measured (solvers/README.md, "Formulations", predicts it): with gamma*alpha = 0 the method is second order,
  // and the error falls at least in proportion to h from h = 0.1 to 0.01 (here by ~100x).
  const double coarse = damped_error(0.1, 0.0), fine = damped_error(0.01, 0.0), finer = damped_error(0.001, 0.0);
  EXPECT_LT(fine, coarse * 0.1) << "h=0.1: " << coarse << " h=0.01: " << fine;
  EXPECT_LT(fine, 1e-3);     // solvers/README.md: about 5.5e-4
  EXPECT_LT(finer, fine * 0.02) << "h=0.01: " << fine << " h=0.001: " << finer;
  // With the default gamma*alpha = 0.05 the eps column puts a floor near 1e-3 under the error
  // (6.3e-4 at h = 0.1, 1.05e-3 at h = 0.01 when measured): the paper's formulation, reproduced
  // as the published solver's frozen outputs confirm, so "falls with h" holds only without it.
  const double floor_fine = damped_error(0.01, 0.5);
  EXPECT_GT(floor_fine, 5e-4);
  EXPECT_LT(floor_fine, 2e-3);
}

// u'''' + 5 u'' + 4 u = 0 (roots +-i, +-2i) with the initial values of sin t, t in [0, 5].
double fourth_order_error(double h, double gamma, int derivative = 0) {
  NeurlpOptions options;
  options.gamma = gamma;
  const int T = static_cast<int>(std::lround(5.0 / h)) + 1;
  const NeurlpResult out = solve({{4, 0, 5, 0, 1}, {0, 1, 0, -1}, h, T}, options);
  return max_error(out.u, [&](double t) { return derivative == 2 ? -std::sin(t) : std::sin(t); }, h, 0, derivative);
}

TEST(NeurlpOp, FourthOrderEquation) {
  // Without the eps bias the 4th-order system converges (measured 2.3e-3, 5.6e-4, 5.6e-5 at
  // h = 0.1, 0.05, 0.02). Below h ~ 0.02 float64 rounding takes over: the normal matrix holds
  // h^8 next to 1.
  EXPECT_LT(fourth_order_error(0.05, 0.0), 1.5e-3);
  EXPECT_LT(fourth_order_error(0.02, 0.0), 1.5e-4);
  EXPECT_LT(fourth_order_error(0.02, 0.0, 2), 1e-3);
  // With the default gamma*alpha = 0.05 the paper's eps column biases orders >= 3, more as h
  // shrinks (solvers/README.md, "Formulations"; measured 5.6e-2 at h = 0.1 and 1.2 at h = 0.01): documented here so
  // that a change of this behaviour is noticed.
  EXPECT_GT(fourth_order_error(0.01, 0.5), fourth_order_error(0.1, 0.5));
}

TEST(NeurlpOp, CoupledFirstOrderSystem) {
  // x' = y, y' = -x (D = 2, E = 2, order 1), x(0) = 0, y(0) = 1: x = sin t, y = cos t.
  const int T = 301;
  const double h = 0.01;
  std::vector<double> c;
  for (int e = 0; e < 2; ++e)
    for (int t = 0; t < T; ++t) {
      if (e == 0) c.insert(c.end(), {0, 1, -1, 0});   // x' - y = 0
      else c.insert(c.end(), {1, 0, 0, 1});           // x + y' = 0
    }
  Tensor coeffs = from_vector(c, {1, 2, T, 2, 2}, f64);
  Tensor iv = from_vector(std::vector<double>{0, 1}, {1, 1, 2, 1}, f64);
  const NeurlpResult out = neurlp(coeffs, zeros({1, 2, T}, f64), iv, full({1, T - 1, 2}, h, f64));
  EXPECT_LT(max_error(out.u, [](double t) { return std::sin(t); }, h, 0, 0), 1e-2);
  EXPECT_LT(max_error(out.u, [](double t) { return std::cos(t); }, h, 1, 0), 1e-2);
}

// Random well-posed inputs for gradient checks.
std::vector<Tensor> random_inputs(std::int64_t B, std::int64_t E, std::int64_t T, std::int64_t D, std::int64_t K,
                                  std::int64_t S, std::int64_t n_iv) {
  Tensor coeffs = rand({B, E, T, D, K}, f64, nullptr, -1.0, 1.0);
  // Push the top-derivative coefficient away from zero so the equations determine it.
  Tensor top = full({B, E, T, D, 1}, 2.0, f64);
  coeffs = cat({coeffs.narrow(4, 0, K - 1), top + coeffs.narrow(4, K - 1, 1) * 0.5}, 4);
  return {coeffs.detach(), rand({B, E, T}, f64, nullptr, -1.0, 1.0), rand({B, S, D, n_iv}, f64, nullptr, -1.0, 1.0),
          rand({B, T - 1, D}, f64, nullptr, 0.3, 0.7)};
}

TEST(NeurlpOp, GradcheckThroughTheTape) {
  for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable})
  for (bool keep_factors : {true, false}) {
    NeurlpOptions options;
    options.formulation = formulation;
    options.keep_factors = keep_factors;
    options.smooth_weight = 1.3;
    auto inputs = random_inputs(3, 2, 5, 2, 3, 1, 2);
    for (auto& input : inputs) input.requires_grad_(true);
    auto result = gradcheck(
        [&](const std::vector<Tensor>& in) {
          NeurlpResult out = neurlp(in[0], in[1], in[2], in[3], options);
          // Both outputs feed the checked scalar.
          return cat({out.u.flatten(), out.eps * 3.0}, 0);
        },
        inputs);
    EXPECT_TRUE(result.ok) << formulation_name(formulation) << (keep_factors ? " kept" : " recomputed") << ": "
                           << result.message;
  }
}

TEST(NeurlpOp, Float32InputsGiveFloat32OutputsAndGradients) {
  auto inputs = random_inputs(2, 1, 8, 1, 3, 1, 2);
  std::vector<Tensor> single;
  for (auto& input : inputs) single.push_back(input.to(DType::Float32).detach().requires_grad_(true));
  NeurlpResult out = neurlp(single[0], single[1], single[2], single[3]);
  EXPECT_EQ(out.u.dtype(), DType::Float32);
  EXPECT_EQ(out.eps.dtype(), DType::Float32);
  (out.u.sum() + out.eps.sum()).backward();
  for (auto& input : single) {
    ASSERT_TRUE(input.grad().defined());
    EXPECT_EQ(input.grad().dtype(), DType::Float32);
  }
  // Computed in float64 by default: agrees with the float64 op to float32 rounding of the inputs.
  NeurlpResult reference = neurlp(single[0].to(DType::Float64), single[1].to(DType::Float64),
                                  single[2].to(DType::Float64), single[3].to(DType::Float64));
  const auto a = out.u.to_vector<double>(), b = reference.u.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * (1 + std::abs(b[i])));
  // float32 compute is allowed for well-conditioned problems (large steps).
  NeurlpOptions single_compute;
  single_compute.compute_dtype = DType::Float32;
  NeurlpResult low = neurlp(single[0], single[1], single[2], single[3], single_compute);
  const auto c = low.u.to_vector<double>();
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], b[i], 1e-2 * (1 + std::abs(b[i])));
}

TEST(NeurlpOp, AnomalyModeChecksOutputsAlsoWhenNothingRecords) {
  // u' + u = 0 solved in float64 from an initial value of 1e200: finite there, but the outputs take
  // coeffs' dtype, float32, where 1e200 is Inf. No input requires grad, so the op records nothing;
  // anomaly mode must still name it (autograd/anomaly.h: every op, recorded or not).
  const TensorOptions f32 = TensorOptions().dtype(DType::Float32);
  const Tensor coeffs = full({1, 1, 8, 1, 2}, 1.0, f32);
  const Tensor rhs = zeros({1, 1, 8}, f64), iv = full({1, 1, 1, 1}, 1e200, f64);
  const Tensor steps = full({1, 7, 1}, 0.1, f64);
  EXPECT_FALSE(all_finite(neurlp(coeffs, rhs, iv, steps).u));   // off: the op itself does not refuse
  AnomalyGuard anomaly;
  try {
    neurlp(coeffs, rhs, iv, steps);
    ADD_FAILURE() << "anomaly mode let a non-finite output of neurlp through";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("anomaly: op 'neurlp' produced NaN or Inf"), std::string::npos)
        << error.what();
  }
}

TEST(NeurlpOp, ReusePathMatchesFreshSolves) {
  auto inputs = random_inputs(5, 1, 30, 1, 3, 1, 2);
  NeurlpFactorization factors(inputs[0], inputs[3], 1, 2);
  for (int trial = 0; trial < 3; ++trial) {
    Tensor rhs = rand({5, 1, 30}, f64, nullptr, -1.0, 1.0), iv = rand({5, 1, 1, 2}, f64, nullptr, -1.0, 1.0);
    NeurlpResult reused = factors.solve(rhs, iv);
    NeurlpResult fresh = neurlp(inputs[0], rhs, iv, inputs[3]);
    const auto a = reused.u.to_vector<double>(), b = fresh.u.to_vector<double>();
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-11 * (1 + std::abs(b[i])));
    EXPECT_NEAR(reused.eps.to_vector<double>()[3], fresh.eps.to_vector<double>()[3], 1e-12);
  }
  EXPECT_THROW(factors.solve(zeros({5, 1, 29}, f64), zeros({5, 1, 1, 2}, f64)), Error);
}

// The error paths: every one throws, with a message naming what is wrong.
template <class F>
std::string error_of(F&& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "no error";
}

TEST(NeurlpOp, ErrorPaths) {
  auto in = random_inputs(4, 1, 6, 1, 3, 1, 2);
  auto with = [&](int which, const Tensor& replacement) {
    auto copy = in;
    copy[which] = replacement;
    return error_of([&] { neurlp(copy[0], copy[1], copy[2], copy[3]); });
  };
  // Non-finite inputs and non-positive steps, each naming the batch element.
  Tensor coeffs = in[0].clone();
  coeffs.data_ptr<double>()[2 * 6 * 3 + 4] = NAN;   // batch element 2
  std::string message = with(0, coeffs);
  EXPECT_NE(message.find("batch element 2"), std::string::npos) << message;
  EXPECT_NE(message.find("coeffs"), std::string::npos) << message;
  Tensor rhs = in[1].clone();
  rhs.data_ptr<double>()[1 * 6 + 3] = INFINITY;
  message = with(1, rhs);
  EXPECT_NE(message.find("batch element 1"), std::string::npos) << message;
  Tensor iv = in[2].clone();
  iv.data_ptr<double>()[3 * 2 + 1] = NAN;
  message = with(2, iv);
  EXPECT_NE(message.find("batch element 3"), std::string::npos) << message;
  Tensor steps = in[3].clone();
  steps.data_ptr<double>()[1 * 5 + 2] = 0.0;
  message = with(3, steps);
  EXPECT_NE(message.find("batch element 1"), std::string::npos) << message;
  EXPECT_NE(message.find("step"), std::string::npos) << message;
  steps.data_ptr<double>()[1 * 5 + 2] = -0.1;
  EXPECT_NE(with(3, steps).find("positive"), std::string::npos);
  // The exception type carries the element.
  try {
    neurlp(in[0], in[1], in[2], steps);
    FAIL() << "no error";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 1);
  }
  // Shapes, dtypes and a missing tensor.
  EXPECT_NE(with(0, zeros({4, 1, 6, 3}, f64)).find("(B,E,T,D,K)"), std::string::npos);
  EXPECT_NE(with(1, zeros({4, 1, 5}, f64)).find("rhs"), std::string::npos);
  EXPECT_NE(with(3, zeros({4, 6, 1}, f64))
                .find("neurlp: expected steps of shape [4, 5, 1] (B,T-1,D) to match coeffs [4, 1, 6, 1, 3], got [4, 6, 1]"),
            std::string::npos);
  EXPECT_NE(with(2, zeros({4, 1, 2, 2}, f64)).find("iv"), std::string::npos);
  EXPECT_NE(with(2, zeros({4, 1, 1, 3}, f64)).find("n_iv"), std::string::npos);
  EXPECT_NE(with(0, zeros({4, 1, 6, 1, 3}, TensorOptions().dtype(DType::Int64))).find("float"), std::string::npos);
  EXPECT_NE(with(1, Tensor()).find("rhs"), std::string::npos);
  // A singular system: no equations (all coefficients zero) and no initial values leave the
  // constants undetermined; the pivot test names the batch element instead of returning NaN.
  NeurlpOptions scalable;
  scalable.formulation = Formulation::Scalable;
  Tensor singular = in[0].clone();
  for (int i = 0; i < 6 * 3; ++i) singular.data_ptr<double>()[3 * 6 * 3 + i] = 0.0;   // element 3
  message = error_of([&] { neurlp(singular, in[1], Tensor(), in[3], scalable); });
  EXPECT_NE(message.find("batch element 3"), std::string::npos) << message;
  EXPECT_NE(message.find("singular"), std::string::npos) << message;
  message = error_of([&] { neurlp(singular, in[1], Tensor(), in[3]); });
  EXPECT_NE(message.find("batch element 3"), std::string::npos) << message;
  // hermite4 is solved with its own rows (solvers/hermite4_rows.h), not as another: no eps,
  // and more accurate than mnn on the same grid (tests/solvers/test_hermite4_op.cpp checks it).
  NeurlpOptions hermite;
  hermite.formulation = Formulation::Hermite4;
  const NeurlpResult routed = neurlp(in[0], in[1], in[2], in[3], hermite);
  for (double value : routed.eps.to_vector<double>()) EXPECT_EQ(value, 0.0);
  EXPECT_EQ(routed.u.shape(), Shape({4, 6, 1, 3}));
  EXPECT_EQ(parse_formulation("hermite4"), Formulation::Hermite4);
  EXPECT_THROW(parse_formulation("lp"), Error);
}

TEST(NeurlpOp, TrainingRecoversCoefficients) {
  // Data from u'' + 0.3 u' + 2 u = 0 (T = 80, h = 0.1); learn (a, b) from (0.1, 1) by gradient
  // descent on the mean squared error of u.
  const neurlp_training::Oscillator ode(80, 0.1);
  neurlp_training::expect_training_recovers_coefficients(
      [&](const Tensor& a, const Tensor& b) { return neurlp(ode.coeffs(a, b), ode.rhs, ode.iv, ode.steps).u.select(3, 0); },
      0.1, 1.0);
}

}  // namespace
}  // namespace mech
