// Elementwise ops: hand-computed values (arithmetic, unary math, where, clamp, comparisons) and
// clamp's gradient at its bounds. Their gradient checks are cases of the op table (op_cases.h).
#include <gtest/gtest.h>

#include <cmath>

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

TEST(ElementwiseGrad, ClampPassesGradientOnlyInside) {
  Tensor x = from_vector<double>({-2, 0.5, 3}, {3}, f64.requires_grad());
  clamp(x, -1.0, 1.0).sum().backward();
  expect_values(x.grad(), {3}, {0, 1, 0});
}
