// conv1d: a hand-computed case, agreement with a direct (definition) loop over every geometry of
// the op table (op_cases.h: stride, zero/circular padding, dilation, bias), and a gradient check
// with only the weight requiring grad (the op table holds the other gradient checks).
#include <gtest/gtest.h>

#include "autograd/op_cases.h"
#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {

// out[n, o, l] = b[o] + sum_{c, k} w[o, c, k] x[n, c, l*s - p + k*d], the pad taken per mode.
std::vector<double> reference_conv(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t s, std::int64_t p,
                                   std::int64_t d, PaddingMode mode, std::int64_t out_length) {
  const auto N = x.shape()[0], C = x.shape()[1], L = x.shape()[2], O = w.shape()[0], K = w.shape()[2];
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const auto bv = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  std::vector<double> out;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t o = 0; o < O; ++o) {
      for (std::int64_t l = 0; l < out_length; ++l) {
        double total = bv[o];
        for (std::int64_t c = 0; c < C; ++c) {
          for (std::int64_t k = 0; k < K; ++k) {
            std::int64_t position = l * s - p + k * d;
            if (position < 0 || position >= L) {
              if (mode == PaddingMode::Zeros) continue;
              position = ((position % L) + L) % L;
            }
            total += wv[(o * C + c) * K + k] * xv[(n * C + c) * L + position];
          }
        }
        out.push_back(total);
      }
    }
  }
  return out;
}

}  // namespace

TEST(Conv1d, HandComputed) {
  // x = [1 2 3 4], w = [1 0 -1], bias 0.5, padding 1 (zeros): y[l] = x[l-1] - x[l+1] + 0.5.
  Tensor x = from_vector<double>({1, 2, 3, 4}, {1, 1, 4});
  Tensor w = from_vector<double>({1, 0, -1}, {1, 1, 3});
  Tensor b = from_vector<double>({0.5}, {1});
  expect_values(conv1d(x, w, b, 1, 1), {1, 1, 4}, {-1.5, -1.5, -1.5, 3.5});
  // Circular: the pads are x[3] on the left and x[0] on the right.
  expect_values(conv1d(x, w, b, 1, 1, 1, PaddingMode::Circular), {1, 1, 4}, {2.5, -1.5, -1.5, 2.5});
  // Stride 2, dilation 2, padding 1: the span is 5 in a padded length 6, so one output, reading
  // positions (-1, 1, 3): 1 * 0 + 0 * 2 - 1 * 4.
  expect_values(conv1d(x, w, Tensor(), 2, 1, 2), {1, 1, 1}, {-4});
}

// Every conv1d geometry of the op table (op_cases.h) against the definition loop.
TEST(Conv1d, MatchesDefinitionForEveryOption) {
  std::uint64_t seed = 100;
  int geometries = 0;
  for (const op_tests::OpCase& op_case : op_tests::op_cases()) {
    if (!op_case.conv) continue;
    ++geometries;
    const op_tests::Conv1dForm& c = *op_case.conv;
    const Shape& input_shape = op_case.leaves[0].shape;
    const Shape& weight_shape = op_case.leaves[1].shape;
    Tensor x = random64(input_shape, ++seed);
    Tensor w = random64(weight_shape, ++seed);
    Tensor b = c.bias ? random64({weight_shape[0]}, ++seed) : Tensor();
    Tensor y = conv1d(x, w, b, c.stride, c.padding, c.dilation, c.mode);
    const auto out_length = op_tests::conv1d_out_length(input_shape[2], weight_shape[2], c);
    ASSERT_EQ(y.shape(), (Shape{input_shape[0], weight_shape[0], out_length})) << op_case.name;
    const auto expected = reference_conv(x, w, b, c.stride, c.padding, c.dilation, c.mode, out_length);
    const auto actual = y.to_vector<double>();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      ASSERT_NEAR(actual[i], expected[i], 1e-12) << op_case.name << ": element " << i;
    }
    // float32 agrees to single precision.
    const auto single = conv1d(x.to(DType::Float32), w.to(DType::Float32),
                               b.defined() ? b.to(DType::Float32) : Tensor(), c.stride, c.padding, c.dilation, c.mode)
                            .to_vector<double>();
    for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(single[i], expected[i], 1e-4) << op_case.name;
  }
  EXPECT_GE(geometries, 40) << "the op table lost conv1d geometries";
}

TEST(Conv1d, NonContiguousInputAndWeight) {
  Tensor x = random64({3, 10, 2}, 1).permute({2, 0, 1});  // (2, 3, 10), strided
  Tensor w2 = random64({3, 3, 4}, 3).transpose(0, 1);     // (3, 3, 4), strided
  Tensor y = conv1d(x, w2, Tensor(), 1, 1);
  const auto expected = reference_conv(x, w2, Tensor(), 1, 1, 1, PaddingMode::Zeros, 9);
  const auto actual = y.to_vector<double>();
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-12);
}

TEST(Conv1dGrad, OnlyWeightRequiresGrad) {
  Tensor x = random64({2, 2, 6}, 303);
  Tensor w = random64({3, 2, 3}, 304).requires_grad_(true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return conv1d(in[0], in[1]); }, {x, w});
  conv1d(x, w).sum().backward();
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}
