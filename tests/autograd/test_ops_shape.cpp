// cat, stack and index_select: hand-computed values and repeated indices accumulating in the
// backward (the gradient checks are cases of the op table, op_cases.h).
#include <gtest/gtest.h>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {
Tensor index_of(const std::vector<std::int64_t>& values) {
  return from_vector<std::int64_t>(values, {static_cast<std::int64_t>(values.size())});
}
}  // namespace

TEST(Cat, HandComputedAlongEachDimension) {
  Tensor a = from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = from_vector<double>({5, 6}, {1, 2});
  Tensor c = from_vector<double>({7, 8}, {2, 1});
  expect_values(cat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
  expect_values(cat({a, c}, 1), {2, 3}, {1, 2, 7, 3, 4, 8});
  expect_values(cat({a, c}, -1), {2, 3}, {1, 2, 7, 3, 4, 8});
  // A non-contiguous piece and an empty piece.
  expect_values(cat({a.t(), zeros({0, 2}, f64), b}, 0), {3, 2}, {1, 3, 2, 4, 5, 6});
}

TEST(Stack, HandComputed) {
  Tensor a = from_vector<double>({1, 2, 3}, {3});
  Tensor b = from_vector<double>({4, 5, 6}, {3});
  expect_values(stack({a, b}, 0), {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values(stack({a, b}, 1), {3, 2}, {1, 4, 2, 5, 3, 6});
  expect_values(stack({a, b}, -1), {3, 2}, {1, 4, 2, 5, 3, 6});
  expect_values(stack({scalar_tensor(1.0, f64), scalar_tensor(2.0, f64)}, 0), {2}, {1, 2});
}

TEST(IndexSelect, HandComputed) {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_values(index_select(x, 1, index_of({2, 0, 2})), {2, 3}, {3, 1, 3, 6, 4, 6});
  expect_values(index_select(x, 0, index_of({1})), {1, 3}, {4, 5, 6});
  expect_values(index_select(x.t(), 0, index_of({1, 1})), {2, 2}, {2, 5, 2, 5});
  expect_values(index_select(x, 0, index_of({})), {0, 3}, {});
  // int64 data works too.
  Tensor ints = from_vector<std::int64_t>({10, 20, 30}, {3});
  EXPECT_EQ(index_select(ints, 0, index_of({2, 1})).to_vector<std::int64_t>(), (std::vector<std::int64_t>{30, 20}));
}

TEST(IndexSelect, RepeatedIndicesAccumulateInBackward) {
  Tensor x = from_vector<double>({1, 2, 3}, {3}, f64.requires_grad());
  index_select(x, 0, index_of({0, 2, 0, 0})).sum().backward();
  expect_values(x.grad(), {3}, {3, 0, 1});
}
