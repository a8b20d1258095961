// Elementwise ops: hand-computed values (arithmetic, unary math, gelu in both forms, where, clamp,
// comparisons), the gradients of clamp at its bounds and of gelu, and the activations' one-kernel
// backward against the composed one it replaced. Their gradient checks are cases of the op table
// (op_cases.h).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

TEST(Elementwise, ArithmeticHandComputed) {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = from_vector<double>({10, 20, 30}, {3});
  expect_values(a + b, {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(a - b, {2, 3}, {-9, -18, -27, -6, -15, -24});
  expect_values(a * b, {2, 3}, {10, 40, 90, 40, 100, 180});
  expect_values(b / a, {2, 3}, {10, 10, 10, 2.5, 4, 5});
  expect_values(a + 1.0, {2, 3}, {2, 3, 4, 5, 6, 7});
  expect_values(2.0 - a, {2, 3}, {1, 0, -1, -2, -3, -4});
  expect_values(a * 0.5, {2, 3}, {0.5, 1, 1.5, 2, 2.5, 3});
  expect_values(6.0 / a, {2, 3}, {6, 3, 2, 1.5, 1.2, 1});
  expect_values(a / 2.0, {2, 3}, {0.5, 1, 1.5, 2, 2.5, 3});
  expect_values(-a, {2, 3}, {-1, -2, -3, -4, -5, -6});
  // Column broadcast against a row: (2, 1) op (3) -> (2, 3).
  Tensor column = from_vector<double>({1, 2}, {2, 1});
  expect_values(column * b, {2, 3}, {10, 20, 30, 20, 40, 60});
  // Transposed operand.
  expect_values(a.t() + a.t(), {3, 2}, {2, 8, 4, 10, 6, 12});
}

TEST(Elementwise, UnaryHandComputed) {
  Tensor x = from_vector<double>({-2, -0.5, 0, 1, 4}, {5});
  expect_values(abs(x), {5}, {2, 0.5, 0, 1, 4});
  expect_values(relu(x), {5}, {0, 0, 0, 1, 4});
  expect_values(clamp(x, -1.0, 2.0), {5}, {-1, -0.5, 0, 1, 2});
  expect_values(clamp(x, std::nullopt, 0.5), {5}, {-2, -0.5, 0, 0.5, 0.5});
  expect_values(clamp(x, 0.0, std::nullopt), {5}, {0, 0, 0, 1, 4});
  expect_values(pow(x, 2.0), {5}, {4, 0.25, 0, 1, 16});
  expect_values(pow(x, 3.0), {5}, {-8, -0.125, 0, 1, 64});
  expect_values(tanh(x), {5}, {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(1.0), std::tanh(4.0)}, 1e-15);
  expect_values(sigmoid(x), {5},
                {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5, 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(-4.0))},
                1e-15);
  expect_values(elu(x, 2.0), {5}, {2 * std::expm1(-2.0), 2 * std::expm1(-0.5), 0, 1, 4}, 1e-15);
  expect_values(softplus(x), {5},
                {std::log1p(std::exp(-2.0)), std::log1p(std::exp(-0.5)), std::log(2.0), std::log1p(std::exp(1.0)),
                 std::log1p(std::exp(4.0))},
                1e-15);
  // Above the threshold softplus is the identity.
  expect_values(softplus(from_vector<double>({30.0}, {1})), {1}, {30.0});
  Tensor positive = from_vector<double>({0.25, 1, 4}, {3});
  expect_values(sqrt(positive), {3}, {0.5, 1, 2});
  expect_values(log(positive), {3}, {std::log(0.25), 0, std::log(4.0)}, 1e-15);
  expect_values(exp(positive), {3}, {std::exp(0.25), std::exp(1.0), std::exp(4.0)}, 1e-12);
  expect_values(pow(positive, 0.5), {3}, {0.5, 1, 2}, 1e-15);
  expect_values(pow(positive, -1.0), {3}, {4, 1, 0.25}, 1e-15);
  // float32 path
  expect_values(relu(from_vector<float>({-1.0f, 2.0f}, {2})), {2}, {0, 2}, 0.0);
}

TEST(Elementwise, WhereAndComparisons) {
  Tensor a = from_vector<double>({1, 5, 3}, {3});
  Tensor b = from_vector<double>({2, 5, 1}, {3});
  expect_values(gt(a, b), {3}, {0, 0, 1});
  expect_values(lt(a, b), {3}, {1, 0, 0});
  expect_values(ge(a, b), {3}, {0, 1, 1});
  expect_values(le(a, b), {3}, {1, 1, 0});
  expect_values(eq(a, b), {3}, {0, 1, 0});
  expect_values(where(gt(a, b), a, b), {3}, {2, 5, 3});
  // Broadcast: condition (3, 1) against values (3).
  Tensor condition = from_vector<double>({1, 0, 1}, {3, 1});
  expect_values(where(condition, a, scalar_tensor(-1.0, f64)), {3, 3}, {1, 5, 3, -1, -1, -1, 1, 5, 3});
  // An int64 condition selects as well.
  Tensor int_condition = from_vector<std::int64_t>({0, 1, 0}, {3});
  expect_values(where(int_condition, a, b), {3}, {2, 5, 1});
}

TEST(Elementwise, MixedPrecisionNotAllowedButInt64Arithmetic) {
  Tensor i = from_vector<std::int64_t>({1, 2, 3}, {3});
  EXPECT_EQ((i + i).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 4, 6}));
  EXPECT_EQ((i * i).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 4, 9}));
}

// gelu(x) = x Phi(x) and d/dx = Phi(x) + x phi(x); the tanh form and its derivative. Reference
// values computed in 30-digit arithmetic.
TEST(Elementwise, GeluHandComputed) {
  const std::vector<double> points{-3, -1, 0, 0.5, 1, 2};
  const std::vector<double> exact{-0.0040496940948902836, -0.15865525393145705, 0, 0.34573123063700655,
                                  0.84134474606854295,    1.9544997361036416};
  const std::vector<double> exact_grad{-0.011945647204183927, -0.083315470587686298, 0.5, 0.86749512465616284,
                                       1.0833154705876863,    1.0852318010781969};
  const std::vector<double> tanh_form{-0.0036373920817730192, -0.1588080093917233, 0, 0.34571400982514392,
                                      0.8411919906082767,     1.954597694087775};
  const std::vector<double> tanh_grad{-0.011584166630969727, -0.082964083845782552, 0.5, 0.86736990353464231,
                                      1.0829640838457826,    1.0860992566236184};
  for (const auto& [form, values, grads] : {std::tuple{GeluApproximation::None, exact, exact_grad},
                                            std::tuple{GeluApproximation::Tanh, tanh_form, tanh_grad}}) {
    // float64: the few-ulp error of erf / tanh; -3 loses digits in 1 + erf(-2.12) (0.0027).
    Tensor x = from_vector<double>(points, {6}, f64.requires_grad());
    Tensor y = gelu(x, form);
    expect_values(y, {6}, values, 1e-15);
    y.sum().backward();
    expect_values(x.grad(), {6}, grads, 1e-15);
    // float32, through its own erf / tanh.
    expect_values(gelu(from_vector<float>({-1.0f, 0.5f, 2.0f}, {3}), form), {3}, {values[1], values[3], values[5]},
                  1e-6);
  }
  // The default is the exact form, as PyTorch's.
  EXPECT_EQ(gelu(from_vector<double>({1.0}, {1})).to_vector<double>()[0],
            gelu(from_vector<double>({1.0}, {1}), GeluApproximation::None).to_vector<double>()[0]);
  EXPECT_THROW(gelu(from_vector<std::int64_t>({1}, {1})), Error);
}

// The one-kernel backward (activation_backward) against the composed backward it replaced (the
// derivative factor as separate ops, then a multiply by the upstream gradient): the same bits for
// sigmoid, relu, elu and softplus, in both dtypes, on contiguous and transposed inputs. tanh's
// 1 - y^2 now rounds once (a fused multiply-add where the target has one): within an ulp of the
// factor.
TEST(ElementwiseGrad, ActivationBackwardKeepsTheComposedBits) {
  for (const DType dtype : {DType::Float64, DType::Float32}) {
    Generator generator(21);
    const TensorOptions options = TensorOptions().dtype(dtype);
    const Tensor base = randn({40, 37}, options, &generator) * 3.0;
    const Tensor upstream = randn({37, 40}, options, &generator).t();  // strided
    for (const bool transposed : {false, true}) {
      const Tensor x_values = transposed ? base.t().contiguous().t() : base.contiguous();
      auto gradient = [&](const std::function<Tensor(const Tensor&)>& f) {
        Tensor x = x_values.detach().requires_grad_(true);
        f(x).backward(upstream);
        return x.grad();
      };
      const Tensor& x = x_values;
      const Tensor positive = gt(x, zeros_like(x));
      const std::string where_ = std::string(dtype_name(dtype)) + (transposed ? " transposed" : " contiguous");
      auto expect_same_bits = [&](const Tensor& got, const Tensor& want, const char* op) {
        EXPECT_EQ(max_abs_difference(got, want), 0.0) << op << ", " << where_;
      };
      const Tensor s = sigmoid(x);
      expect_same_bits(gradient([](const Tensor& t) { return sigmoid(t); }), upstream * (s * rsub(1.0, s)), "sigmoid");
      expect_same_bits(gradient([](const Tensor& t) { return relu(t); }), upstream * positive, "relu");
      expect_same_bits(gradient([](const Tensor& t) { return elu(t, 0.7); }),
                       upstream * where(positive, ones_like(x), exp(x) * 0.7), "elu");
      const Tensor scaled = x * 2.0;
      expect_same_bits(gradient([](const Tensor& t) { return softplus(t, 2.0, 1.5); }),
                       upstream * where(gt(scaled, full_like(x, 1.5)), ones_like(x), rdiv(1.0, exp(-scaled) + 1.0)),
                       "softplus");
      const Tensor y = tanh(x);
      const double eps = dtype == DType::Float32 ? 1.2e-7 : 2.3e-16;
      EXPECT_LE(max_abs_difference(gradient([](const Tensor& t) { return tanh(t); }), upstream * rsub(1.0, y * y)),
                2 * eps * max(abs(upstream)).item())
          << "tanh, " << where_;
    }
  }
}

TEST(ElementwiseGrad, ClampPassesGradientOnlyInside) {
  Tensor x = from_vector<double>({-2, 0.5, 3}, {3}, f64.requires_grad());
  clamp(x, -1.0, 1.0).sum().backward();
  expect_values(x.grad(), {3}, {0, 1, 0});
}
