// mse_loss and l1_loss: hand-computed values for each reduction (their gradient checks are cases
// of the op table, op_cases.h).
#include <gtest/gtest.h>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

TEST(Loss, MseHandComputed) {
  Tensor input = from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor target = from_vector<double>({0, 2, 5, 1}, {2, 2});
  // differences 1, 0, -2, 3 -> squares 1, 0, 4, 9
  expect_values(mse_loss(input, target, Reduction::None), {2, 2}, {1, 0, 4, 9});
  expect_values(mse_loss(input, target, Reduction::Sum), {}, {14});
  expect_values(mse_loss(input, target), {}, {3.5});
}

TEST(Loss, L1HandComputed) {
  Tensor input = from_vector<double>({1, 2, 3, 4}, {4});
  Tensor target = from_vector<double>({0, 2, 5, 1}, {4});
  expect_values(l1_loss(input, target, Reduction::None), {4}, {1, 0, 2, 3});
  expect_values(l1_loss(input, target, Reduction::Sum), {}, {6});
  expect_values(l1_loss(input, target), {}, {1.5});
  Tensor single = from_vector<float>({1.5f}, {1});
  expect_values(l1_loss(single, from_vector<float>({-1.0f}, {1})), {}, {2.5}, 0.0);
}
