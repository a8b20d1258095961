// Tensor basics: creation functions and their exact values, shape/stride/contiguity metadata,
// element access, seeded randomness, in-place updates (and their refusal under autograd),
// broadcasting helpers and printing.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/generator.h"
#include "core/tensor.h"

using namespace mech;

namespace {
const TensorOptions f64 = TensorOptions().dtype(DType::Float64);
const TensorOptions i64 = TensorOptions().dtype(DType::Int64);
}  // namespace

TEST(Tensor, CreationValuesShapesAndDtypes) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_TRUE(z.device().is_cpu());
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(ones({3}, f64).to_vector<double>(), std::vector<double>(3, 1.0));
  EXPECT_EQ(full({2}, 2.5, f64).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(full({2}, 7, i64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{7, 7}));
  Tensor s = scalar_tensor(4.0, f64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_DOUBLE_EQ(s.item(), 4.0);
  EXPECT_EQ(arange(0, 5, 1, f64).to_vector<double>(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25, f64).to_vector<double>(), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(3, 0, -1, i64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 2, 1}));
  EXPECT_EQ(linspace(0, 1, 5, f64).to_vector<double>(), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(linspace(2, 2, 1, f64).to_vector<double>(), (std::vector<double>{2}));
  EXPECT_EQ(zeros_like(ones({2}, f64)).dtype(), DType::Float64);
  EXPECT_EQ(full_like(ones({2}, i64), 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 3}));
  Tensor v = from_vector<float>({1.5f, -2.0f}, {2, 1});
  EXPECT_EQ(v.dtype(), DType::Float32);
  EXPECT_EQ(v.shape(), (Shape{2, 1}));
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{1.5, -2.0}));
  EXPECT_THROW(from_vector<double>({1, 2, 3}, {2, 2}), Error);
}

TEST(Tensor, RandomIsSeededAndInRange) {
  Generator first(42), second(42), other(43);
  const auto a = randn({100}, f64, &first).to_vector<double>();
  const auto b = randn({100}, f64, &second).to_vector<double>();
  const auto c = randn({100}, f64, &other).to_vector<double>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Moments of 20000 normal draws: mean within 4 standard errors of 0, variance of 1.
  Generator generator(7);
  const auto many = randn({20000}, f64, &generator).to_vector<double>();
  double mean = 0, square = 0;
  for (double x : many) mean += x, square += x * x;
  mean /= many.size();
  square /= many.size();
  EXPECT_NEAR(mean, 0.0, 4.0 / std::sqrt(20000.0));
  EXPECT_NEAR(square, 1.0, 0.05);
  const auto uniform = rand({1000}, f64, &generator, -2.0, 3.0).to_vector<double>();
  for (double x : uniform) {
    ASSERT_GE(x, -2.0);
    ASSERT_LT(x, 3.0);
  }
}

TEST(Tensor, ContiguityAndMetadataOfViews) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_EQ(x.strides(), (Shape{12, 4, 1}));
  Tensor p = x.permute({2, 0, 1});
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_EQ(p.size(-1), 3);
  EXPECT_EQ(p.stride(0), 1);
  Tensor n = x.narrow(2, 1, 2);
  EXPECT_EQ(n.offset(), 1);
  EXPECT_FALSE(n.is_contiguous());
  EXPECT_TRUE(x.narrow(0, 1, 1).is_contiguous());
  // Size-1 dims do not break contiguity whatever their stride.
  EXPECT_TRUE(Tensor(x.storage(), 0, {1, 4}, {99, 1}, DType::Float32).is_contiguous());
  EXPECT_TRUE(x.narrow(0, 0, 1).transpose(0, 1).narrow(0, 0, 1).squeeze().is_contiguous());
}

TEST(Tensor, ItemAndToVectorReadStridedData) {
  Tensor x = arange(0, 6, 1, f64).reshape({2, 3});
  EXPECT_EQ(x.t().to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(x.t().to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_DOUBLE_EQ(x.select(0, 1).select(0, 2).item(), 5.0);
  EXPECT_THROW(x.item(), Error);
}

TEST(Tensor, InPlaceUpdates) {
  Tensor x = zeros({2, 3}, f64);
  x.fill_(2.0);
  EXPECT_EQ(x.to_vector<double>(), std::vector<double>(6, 2.0));
  x.add_(from_vector<double>({1, 2, 3}, {3}));  // broadcast row
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{3, 4, 5, 3, 4, 5}));
  x.add_(ones({2, 3}, f64), -0.5);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{2.5, 3.5, 4.5, 2.5, 3.5, 4.5}));
  x.mul_(2.0);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{5, 7, 9, 5, 7, 9}));
  // copy_ broadcasts, converts dtype and writes through a strided view.
  x.t().copy_(from_vector<float>({1.0f, 2.0f}, {2}));
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  x.zero_();
  EXPECT_EQ(x.to_vector<double>(), std::vector<double>(6, 0.0));
}

TEST(Tensor, InPlaceRefusedOnTensorsThatNeedGrad) {
  Tensor w = ones({2}, f64.requires_grad());
  EXPECT_THROW(w.fill_(0.0), Error);
  EXPECT_THROW(w.add_(ones({2}, f64)), Error);
  {
    NoGradGuard no_grad;
    w.mul_(3.0);
  }
  EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{3, 3}));
}

TEST(Tensor, AutogradMetadata) {
  Tensor leaf = ones({2}, f64.requires_grad());
  EXPECT_TRUE(leaf.requires_grad());
  EXPECT_TRUE(leaf.is_leaf());
  Tensor y = leaf * 2.0;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.storage(), y.storage());
  EXPECT_FALSE(ones({2}).requires_grad());
}

TEST(Tensor, BroadcastShapes) {
  EXPECT_EQ(broadcast_shapes({3, 1, 4}, {2, 4}, "test"), (Shape{3, 2, 4}));
  EXPECT_EQ(broadcast_shapes({}, {2, 2}, "test"), (Shape{2, 2}));
  EXPECT_EQ(broadcast_shapes({5, 1}, {1}, "test"), (Shape{5, 1}));
  EXPECT_THROW(broadcast_shapes({3}, {4}, "test"), Error);
  EXPECT_EQ(wrap_dim(-1, 3, "test"), 2);
  EXPECT_THROW(wrap_dim(3, 3, "test"), Error);
}

TEST(Tensor, Printing) {
  Tensor x = from_vector<double>({1, 2.5, -3, 4}, {2, 2});
  const std::string text = x.str();
  EXPECT_NE(text.find("[[1, 2.5],"), std::string::npos) << text;
  EXPECT_NE(text.find("[-3, 4]]"), std::string::npos) << text;
  EXPECT_NE(text.find("shape=[2, 2]"), std::string::npos) << text;
  EXPECT_NE(text.find("float64"), std::string::npos) << text;
  EXPECT_EQ(fmt::format("{}", from_vector<std::int64_t>({7}, {1})), "tensor([7], shape=[1], dtype=int64)");
  EXPECT_NE((ones({1}, f64.requires_grad()) * 2.0).str().find("grad_fn=mul"), std::string::npos);
  EXPECT_EQ(Tensor().str(), "Tensor(undefined)");
}

// grad_fn_name reaches the tape from core's header: the recording op's name, empty for a leaf.
TEST(Tensor, GradFnNameNamesTheRecordingOp) {
  Tensor leaf = ones({2}, f64.requires_grad());
  EXPECT_EQ(leaf.grad_fn_name(), "");
  EXPECT_EQ((leaf * 2.0).grad_fn_name(), "mul");
  EXPECT_EQ(leaf.sum().grad_fn_name(), "sum");
  NoGradGuard no_grad;
  EXPECT_EQ((leaf * 2.0).grad_fn_name(), "");
}
