// Reductions: sum, mean and max over all elements and over chosen dims (with and without
// keepdim, negative dims, strided inputs): hand-computed values and max's gradient at the argmax
// (the gradient checks are cases of the op table, op_cases.h).
#include <gtest/gtest.h>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

TEST(Reduce, SumAndMeanHandComputed) {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_values(sum(x), {}, {21});
  expect_values(x.sum({0}), {3}, {5, 7, 9});
  expect_values(x.sum({1}), {2}, {6, 15});
  expect_values(x.sum({-1}, true), {2, 1}, {6, 15});
  expect_values(x.sum({0, 1}, true), {1, 1}, {21});
  expect_values(mean(x), {}, {3.5});
  expect_values(x.mean({0}), {3}, {2.5, 3.5, 4.5});
  expect_values(x.mean({1}, true), {2, 1}, {2, 5});
  // Strided input: the transpose sums the same numbers along swapped dims.
  expect_values(x.t().sum({0}), {2}, {6, 15});
  Tensor cube = arange(0, 24, 1, f64).reshape({2, 3, 4});
  expect_values(cube.sum({0, 2}), {3}, {0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
                                        8 + 9 + 10 + 11 + 20 + 21 + 22 + 23});
  // float32 and int64 sums
  expect_values(from_vector<float>({0.5f, 1.5f, 2.0f}, {3}).sum(), {}, {4.0}, 0.0);
  EXPECT_EQ(from_vector<std::int64_t>({1, 2, 3}, {3}).sum().to_vector<std::int64_t>(), std::vector<std::int64_t>{6});
}

TEST(Reduce, MaxHandComputed) {
  Tensor x = from_vector<double>({1, 7, 3, 9, 5, 2}, {2, 3});
  expect_values(max(x), {}, {9});
  expect_values(x.max(0), {3}, {9, 7, 3});
  expect_values(x.max(1), {2}, {7, 9});
  expect_values(x.max(-1, true), {2, 1}, {7, 9});
  auto [values, indices] = max_with_indices(x, 1);
  expect_values(values, {2}, {7, 9});
  EXPECT_EQ(indices.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0}));
  expect_values(x.t().max(0), {2}, {7, 9});
}

TEST(Reduce, MaxGradientGoesToTheArgmax) {
  Tensor x = from_vector<double>({1, 7, 3, 9, 5, 2}, {2, 3}, f64.requires_grad());
  x.max(1).sum().backward();
  expect_values(x.grad(), {2, 3}, {0, 1, 0, 1, 0, 0});
}
