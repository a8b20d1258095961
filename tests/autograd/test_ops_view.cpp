// Views and conversions: that views share storage (no copy) with the expected values, and that
// overlapping views' gradients reach the base once (the gradient checks of every view are cases
// of the op table, op_cases.h).
#include <gtest/gtest.h>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

TEST(Views, ShareStorageAndReadTheRightElements) {
  Tensor x = arange(0, 12, 1, f64).reshape({3, 4});
  Tensor t = x.t();
  EXPECT_EQ(t.storage(), x.storage());
  expect_values(t, {4, 3}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  expect_values(x.narrow(1, 1, 2), {3, 2}, {1, 2, 5, 6, 9, 10});
  expect_values(x.slice(1, 0, 4, 3), {3, 2}, {0, 3, 4, 7, 8, 11});
  expect_values(x.slice(0, -2, 3), {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  expect_values(x.select(0, 1), {4}, {4, 5, 6, 7});
  expect_values(x.select(1, -1), {3}, {3, 7, 11});
  expect_values(x.permute({1, 0}).reshape({2, 6}), {2, 6}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  expect_values(x.view({2, -1}), {2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  expect_values(x.select(0, 0).unsqueeze(1).expand({4, 2}), {4, 2}, {0, 0, 1, 1, 2, 2, 3, 3});
  EXPECT_EQ(x.unsqueeze(0).unsqueeze(3).shape(), (Shape{1, 3, 4, 1}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{3, 4, 1}));
  EXPECT_EQ(x.unsqueeze(0).unsqueeze(3).squeeze().shape(), (Shape{3, 4}));
  EXPECT_EQ(x.unsqueeze(0).squeeze(0).shape(), (Shape{3, 4}));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{3, 4}));  // size 3: unchanged
  EXPECT_EQ(x.reshape({2, 3, 2}).flatten(1).shape(), (Shape{2, 6}));
  EXPECT_EQ(x.flatten().shape(), (Shape{12}));
  // Writing through a view changes the base.
  x.narrow(0, 1, 1).fill_(-1.0);
  expect_values(x.select(0, 1), {4}, {-1, -1, -1, -1});
}

TEST(Views, ContiguousCloneAndDtype) {
  Tensor x = arange(0, 6, 1, f64).reshape({2, 3});
  EXPECT_TRUE(x.contiguous().is_same(x));
  Tensor t = x.t();
  EXPECT_FALSE(t.is_contiguous());
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), x.storage());
  expect_values(c, {3, 2}, {0, 3, 1, 4, 2, 5});
  Tensor copy = x.clone();
  copy.fill_(7.0);
  expect_values(x, {2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor single = x.to(DType::Float32);
  EXPECT_EQ(single.dtype(), DType::Float32);
  expect_values(single, {2, 3}, {0, 1, 2, 3, 4, 5}, 0.0);
  Tensor integer = from_vector<double>({1.75, -2.5}, {2}).to(DType::Int64);
  EXPECT_EQ(integer.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, -2}));  // truncation, as C++
  // reshape of a non-viewable tensor copies; view refuses.
  EXPECT_EQ(t.reshape({6}).to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(t.view({6}), Error);
}

TEST(ViewGrad, ViewGradientReachesTheBaseOnce) {
  Tensor x = zeros({2, 3}, f64.requires_grad());
  // Two overlapping windows: element (0, 1) and (0, 2) are read by both.
  (x.narrow(1, 0, 3).sum() + x.narrow(1, 1, 2).select(0, 0).sum() * 2.0).backward();
  expect_values(x.grad(), {2, 3}, {1, 3, 3, 1, 1, 1});
}
