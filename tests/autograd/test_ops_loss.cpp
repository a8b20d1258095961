// mse_loss and l1_loss: hand-computed values for each reduction and float64 gradchecks to both
// input and target.
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

TEST(LossGrad, MseEveryReduction) {
  for (auto reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_GRADCHECK(
        [reduction](const std::vector<Tensor>& in) { return mse_loss(in[0].t(), in[1], reduction); },
        {random64({4, 3}, 1), random64({3, 4}, 2)});
  }
}

TEST(LossGrad, L1EveryReduction) {
  // |input| in [1, 2] with alternating signs and |target| <= 0.5, so every difference is at least
  // 0.5 from the kink of |.| and both signs of the difference occur.
  const Tensor signs = from_vector<double>({1, -1, 1, -1}, {4});
  for (auto reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_GRADCHECK(
        [reduction, signs](const std::vector<Tensor>& in) { return l1_loss(in[0] * signs, in[1].t(), reduction); },
        {uniform64({3, 4}, 3, 1.0, 2.0), uniform64({4, 3}, 4, -0.5, 0.5)});
  }
}
