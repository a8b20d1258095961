// Views and conversions: that views share storage (no copy) with the expected values, and
// float64 gradchecks of view, reshape, permute, transpose, narrow, slice, select, expand,
// squeeze, unsqueeze, flatten, contiguous, clone and to(dtype), alone and chained.
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

TEST(ViewGrad, EachView) {
  const Tensor x = random64({2, 3, 4}, 1);
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> views = {
      {"view", [](const Tensor& t) { return t.view({6, 4}); }},
      {"view -1", [](const Tensor& t) { return t.view({-1, 2}); }},
      {"reshape", [](const Tensor& t) { return t.reshape({4, 6}); }},
      {"permute", [](const Tensor& t) { return t.permute({2, 0, 1}); }},
      {"transpose", [](const Tensor& t) { return t.transpose(0, 2); }},
      {"narrow", [](const Tensor& t) { return t.narrow(2, 1, 2); }},
      {"slice", [](const Tensor& t) { return t.slice(2, 0, 4, 3); }},
      {"slice negative", [](const Tensor& t) { return t.slice(1, -2, 3); }},
      {"select", [](const Tensor& t) { return t.select(1, 2); }},
      {"expand", [](const Tensor& t) { return t.unsqueeze(1).expand({2, 5, 3, 4}); }},
      {"expand -1", [](const Tensor& t) { return t.narrow(0, 0, 1).expand({3, -1, -1}); }},
      {"squeeze", [](const Tensor& t) { return t.narrow(1, 0, 1).squeeze(); }},
      {"squeeze dim", [](const Tensor& t) { return t.narrow(1, 1, 1).squeeze(1); }},
      {"unsqueeze", [](const Tensor& t) { return t.unsqueeze(-1); }},
      {"flatten", [](const Tensor& t) { return t.flatten(1, 2); }},
      {"contiguous", [](const Tensor& t) { return t.transpose(0, 1).contiguous(); }},
      {"clone", [](const Tensor& t) { return t.clone(); }},
      {"to float32 and back", [](const Tensor& t) { return t.to(DType::Float32).to(DType::Float64) * 1.0; }},
  };
  for (const auto& [name, view] : views) {
    SCOPED_TRACE(name);
    if (std::string(name) == "to float32 and back") {
      // The float32 round trip rounds the probe points: compare with a step and tolerance that
      // single precision can resolve (the gradient itself is exactly the identity).
      const auto result = gradcheck([view](const std::vector<Tensor>& in) { return view(in[0]); }, {x},
                                    GradcheckOptions().with_step(1e-2).with_atol(1e-4));
      EXPECT_TRUE(result.ok) << result.message;
      continue;
    }
    EXPECT_GRADCHECK([view](const std::vector<Tensor>& in) { return view(in[0]); }, {x});
    // The same view applied to a non-contiguous input (view itself requires contiguity).
    if (std::string(name).rfind("view", 0) == 0) continue;
    EXPECT_GRADCHECK([view](const std::vector<Tensor>& in) { return view(in[0].permute({2, 1, 0})); },
                     {random64({4, 3, 2}, 2)});
  }
}

TEST(ViewGrad, ChainedViewsIntoArithmetic) {
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor a = in[0].t().slice(0, 0, 4, 2).unsqueeze(0);       // (1, 2, 3)
        Tensor b = in[1].reshape({3, 2}).t().expand({4, 2, 3});    // (4, 2, 3)
        return (a * b).flatten().narrow(0, 3, 12).view({3, 4}).t();
      },
      {random64({3, 4}, 3), random64({6}, 4)});
}

TEST(ViewGrad, ViewGradientReachesTheBaseOnce) {
  Tensor x = zeros({2, 3}, f64.requires_grad());
  // Two overlapping windows: element (0, 1) and (0, 2) are read by both.
  (x.narrow(1, 0, 3).sum() + x.narrow(1, 1, 2).select(0, 0).sum() * 2.0).backward();
  expect_values(x.grad(), {2, 3}, {1, 3, 3, 1, 1, 1});
}
