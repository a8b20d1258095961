// conv1d: a hand-computed case, agreement with a direct (definition) loop over every option
// combination (stride, zero/circular padding, dilation, bias), and float64 gradchecks to input,
// weight and bias, including non-contiguous operands.
#include <gtest/gtest.h>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {

struct ConvCase {
  Shape input, weight;
  std::int64_t stride, padding, dilation;
  PaddingMode mode;
  bool bias;
};

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

const std::vector<ConvCase> kCases = {
    {{2, 3, 10}, {4, 3, 3}, 1, 0, 1, PaddingMode::Zeros, true},
    {{2, 3, 10}, {4, 3, 3}, 1, 1, 1, PaddingMode::Zeros, false},
    {{1, 2, 11}, {3, 2, 3}, 2, 2, 1, PaddingMode::Zeros, true},
    {{2, 2, 12}, {2, 2, 3}, 1, 2, 2, PaddingMode::Zeros, true},
    {{2, 3, 9}, {2, 3, 3}, 1, 1, 1, PaddingMode::Circular, true},
    {{1, 2, 8}, {3, 2, 5}, 3, 4, 1, PaddingMode::Circular, false},
    {{2, 1, 7}, {2, 1, 2}, 2, 3, 3, PaddingMode::Circular, true},
    {{3, 4, 6}, {5, 4, 1}, 1, 0, 1, PaddingMode::Zeros, true},
    // Padding wider than the input (taps that read only zeros), and stride 3 with dilation 2.
    {{1, 2, 4}, {2, 2, 3}, 1, 5, 1, PaddingMode::Zeros, true},
    {{2, 2, 13}, {2, 2, 3}, 3, 3, 2, PaddingMode::Zeros, false},
};

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

TEST(Conv1d, MatchesDefinitionForEveryOption) {
  std::uint64_t seed = 100;
  for (const auto& c : kCases) {
    Tensor x = random64(c.input, ++seed);
    Tensor w = random64(c.weight, ++seed);
    Tensor b = c.bias ? random64({c.weight[0]}, ++seed) : Tensor();
    Tensor y = conv1d(x, w, b, c.stride, c.padding, c.dilation, c.mode);
    const auto L = c.input[2], K = c.weight[2];
    const auto out_length = (L + 2 * c.padding - c.dilation * (K - 1) - 1) / c.stride + 1;
    ASSERT_EQ(y.shape(), (Shape{c.input[0], c.weight[0], out_length}));
    const auto expected = reference_conv(x, w, b, c.stride, c.padding, c.dilation, c.mode, out_length);
    const auto actual = y.to_vector<double>();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      ASSERT_NEAR(actual[i], expected[i], 1e-12) << "case input " << shape_str(c.input) << " element " << i;
    }
    // float32 agrees to single precision.
    const auto single = conv1d(x.to(DType::Float32), w.to(DType::Float32),
                               b.defined() ? b.to(DType::Float32) : Tensor(), c.stride, c.padding, c.dilation, c.mode)
                            .to_vector<double>();
    for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(single[i], expected[i], 1e-4);
  }
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

TEST(Conv1dGrad, EveryOption) {
  std::uint64_t seed = 200;
  for (const auto& c : kCases) {
    std::vector<Tensor> inputs{random64(c.input, ++seed), random64(c.weight, ++seed)};
    if (c.bias) inputs.push_back(random64({c.weight[0]}, ++seed));
    const auto result = gradcheck(
        [&c](const std::vector<Tensor>& in) {
          return conv1d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), c.stride, c.padding, c.dilation, c.mode);
        },
        inputs);
    EXPECT_TRUE(result.ok) << "case input " << shape_str(c.input) << " weight " << shape_str(c.weight) << ": "
                           << result.message;
  }
}

TEST(Conv1dGrad, NonContiguousOperands) {
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return conv1d(in[0].permute({2, 0, 1}), in[1].transpose(0, 1), in[2].slice(0, 0, 6, 2), 2, 2, 1,
                      PaddingMode::Circular);
      },
      {random64({3, 9, 2}, 300), random64({3, 3, 3}, 301), random64({6}, 302)});
}

TEST(Conv1dGrad, OnlyWeightRequiresGrad) {
  Tensor x = random64({2, 2, 6}, 303);
  Tensor w = random64({3, 2, 3}, 304).requires_grad_(true);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return conv1d(in[0], in[1]); }, {x, w});
  conv1d(x, w).sum().backward();
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}
