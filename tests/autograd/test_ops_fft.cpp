// rfft and irfft: values against the direct DFT (even and odd, power-of-two and other lengths,
// both dtypes), the round trip, batch shapes, non-contiguous inputs, the gradients against the
// definition of their adjoints (the op table, op_cases.h, holds the finite-difference checks), and
// the errors for bad shapes and dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {

const std::vector<std::int64_t> kLengths = {1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 64};

// Rows of x (R, n) -> their first n/2+1 DFT coefficients as (R, n/2+1, 2) values, by definition.
std::vector<double> direct_rfft(const std::vector<double>& x, std::int64_t rows, std::int64_t n) {
  std::vector<double> out;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t k = 0; k <= n / 2; ++k) {
      double re = 0, im = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double angle = -2.0 * std::numbers::pi * static_cast<double>(j * k) / static_cast<double>(n);
        re += x[r * n + j] * std::cos(angle);
        im += x[r * n + j] * std::sin(angle);
      }
      out.push_back(re);
      out.push_back(im);
    }
  }
  return out;
}

// Rows of (re, im) pairs (R, n/2+1, 2) -> the real signal of the Hermitian spectrum they begin
// (divided by n), by definition: bin k and its mirror n-k, where both exist, give
// 2 Re(Z_k e^{i theta}); bin 0 and (even n) bin n/2 give Re(Z_k) cos(theta) alone.
std::vector<double> direct_irfft(const std::vector<double>& z, std::int64_t rows, std::int64_t n) {
  const std::int64_t bins = n / 2 + 1;
  std::vector<double> out;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < n; ++j) {
      double total = 0;
      for (std::int64_t k = 0; k < bins; ++k) {
        const double re = z[(r * bins + k) * 2], im = z[(r * bins + k) * 2 + 1];
        const double angle = 2.0 * std::numbers::pi * static_cast<double>(j * k) / static_cast<double>(n);
        const bool paired = k > 0 && 2 * k < n;
        total += paired ? 2.0 * (re * std::cos(angle) - im * std::sin(angle)) : re * std::cos(angle);
      }
      out.push_back(total / static_cast<double>(n));
    }
  }
  return out;
}

void expect_message(const std::function<void()>& call, const std::vector<std::string>& parts) {
  try {
    call();
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

}  // namespace

TEST(Rfft, MatchesTheDirectDftForEveryLength) {
  for (const std::int64_t n : kLengths) {
    const Tensor x = random64({3, n}, 10 + static_cast<std::uint64_t>(n));
    const Tensor spectrum = rfft(x);
    expect_values(spectrum, {3, n / 2 + 1, 2}, direct_rfft(x.to_vector<double>(), 3, n), 1e-12 * static_cast<double>(n));
    // float32: computed in double, rounded once.
    const Tensor single = rfft(x.to(DType::Float32));
    EXPECT_EQ(single.dtype(), DType::Float32);
    expect_values(single.to(DType::Float64), {3, n / 2 + 1, 2}, spectrum.to_vector<double>(),
                  4e-7 * static_cast<double>(n));
  }
}

TEST(Irfft, MatchesTheDirectInverseIgnoringTheUnpairedImaginaryParts) {
  for (const std::int64_t n : kLengths) {
    // Random spectra: the imaginary parts of bin 0 and (even n) bin n/2 are nonzero and must not
    // matter.
    const Tensor z = random64({2, n / 2 + 1, 2}, 40 + static_cast<std::uint64_t>(n));
    expect_values(irfft(z, n), {2, n}, direct_irfft(z.to_vector<double>(), 2, n), 1e-13 * static_cast<double>(n));
    const Tensor single = irfft(z.to(DType::Float32), n);
    EXPECT_EQ(single.dtype(), DType::Float32);
    expect_values(single.to(DType::Float64), {2, n}, irfft(z, n).to_vector<double>(), 1e-6);
  }
}

TEST(Irfft, InvertsRfftForEvenAndOddLengths) {
  for (const std::int64_t n : kLengths) {
    const Tensor x = random64({4, n}, 70 + static_cast<std::uint64_t>(n));
    expect_values(irfft(rfft(x), n), {4, n}, x.to_vector<double>(), 1e-13 * static_cast<double>(n));
    const Tensor single = x.to(DType::Float32);
    expect_values(irfft(rfft(single), n).to(DType::Float64), {4, n}, single.to_vector<double>(), 1e-6);
  }
}

TEST(Rfft, AnyBatchShapeTransformsEachRow) {
  const Tensor x = random64({2, 3, 4, 10}, 5);
  const Tensor spectrum = rfft(x);
  EXPECT_EQ(spectrum.shape(), (Shape{2, 3, 4, 6, 2}));
  expect_values(spectrum, {2, 3, 4, 6, 2}, direct_rfft(x.to_vector<double>(), 24, 10), 1e-12);
  // One dimension: the signal itself.
  const Tensor line = random64({9}, 6);
  expect_values(rfft(line), {5, 2}, direct_rfft(line.to_vector<double>(), 1, 9), 1e-12);
  expect_values(irfft(rfft(line), 9), {9}, line.to_vector<double>(), 1e-13);
  const Tensor back = irfft(spectrum, 10);
  EXPECT_EQ(back.shape(), x.shape());
  // Empty batches give empty results.
  EXPECT_EQ(rfft(zeros({0, 3, 8}, f64)).shape(), (Shape{0, 3, 5, 2}));
  EXPECT_EQ(irfft(zeros({2, 0, 5, 2}, f64), 8).shape(), (Shape{2, 0, 8}));
}

TEST(Rfft, NonContiguousInputsMatchTheirContiguousCopies) {
  const Tensor stored = random64({12, 5}, 8);
  // Transposed (the transformed dim has stride 5), sliced with a step, broadcast.
  const Tensor transposed = stored.t();
  EXPECT_FALSE(transposed.is_contiguous());
  EXPECT_EQ(max_abs_difference(rfft(transposed), rfft(transposed.contiguous())), 0.0);
  const Tensor strided = stored.slice(0, 0, 12, 2);
  EXPECT_EQ(max_abs_difference(rfft(strided), rfft(strided.contiguous())), 0.0);
  const Tensor broadcast = stored.narrow(0, 0, 1).expand({3, 5});
  EXPECT_EQ(max_abs_difference(rfft(broadcast), rfft(broadcast.contiguous())), 0.0);
  // (4, 3, 2) pairs whose re/im dim has stride 12.
  const Tensor pairs = random64({2, 3, 4}, 9).permute({2, 1, 0});
  EXPECT_FALSE(pairs.is_contiguous());
  EXPECT_EQ(max_abs_difference(irfft(pairs, 4), irfft(pairs.contiguous(), 4)), 0.0);
  EXPECT_EQ(max_abs_difference(irfft(pairs.slice(0, 0, 4, 2), 5), irfft(pairs.slice(0, 0, 4, 2).contiguous(), 5)), 0.0);
}

// The gradients are the adjoints of the forward maps, written out from the definition: for
// L = sum(rfft(x) * w), dL/dx_j = sum_k w_re_k cos(theta jk) + w_im_k sin(-theta jk) over the
// n/2+1 stored bins only (not the irfft of w times n, which would count the paired bins twice).
TEST(Rfft, GradientIsTheAdjointOfTheForward) {
  for (const std::int64_t n : {6, 7, 8}) {
    Tensor x = random64({2, n}, 20 + static_cast<std::uint64_t>(n));
    x.requires_grad_();
    const Tensor w = random64({2, n / 2 + 1, 2}, 30 + static_cast<std::uint64_t>(n));
    sum(rfft(x) * w).backward();
    const auto wv = w.to_vector<double>();
    std::vector<double> expected;
    for (std::int64_t r = 0; r < 2; ++r) {
      for (std::int64_t j = 0; j < n; ++j) {
        double total = 0;
        for (std::int64_t k = 0; k <= n / 2; ++k) {
          const double angle = -2.0 * std::numbers::pi * static_cast<double>(j * k) / static_cast<double>(n);
          total += wv[(r * (n / 2 + 1) + k) * 2] * std::cos(angle) + wv[(r * (n / 2 + 1) + k) * 2 + 1] * std::sin(angle);
        }
        expected.push_back(total);
      }
    }
    expect_values(x.grad(), {2, n}, expected, 1e-12);
  }
}

// For L = sum(irfft(z) * g): the ignored imaginary parts get exactly zero, the paired bins twice
// the weight of the unpaired ones.
TEST(Irfft, GradientIsTheAdjointOfTheForward) {
  for (const std::int64_t n : {6, 7}) {
    const std::int64_t bins = n / 2 + 1;
    Tensor z = random64({bins, 2}, 50 + static_cast<std::uint64_t>(n));
    z.requires_grad_();
    const Tensor g = random64({n}, 60 + static_cast<std::uint64_t>(n));
    sum(irfft(z, n) * g).backward();
    const auto gv = g.to_vector<double>();
    std::vector<double> expected;
    for (std::int64_t k = 0; k < bins; ++k) {
      const bool paired = k > 0 && 2 * k < n;
      double re = 0, im = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double angle = 2.0 * std::numbers::pi * static_cast<double>(j * k) / static_cast<double>(n);
        re += gv[j] * std::cos(angle) / static_cast<double>(n);
        im -= gv[j] * std::sin(angle) / static_cast<double>(n);
      }
      expected.push_back(paired ? 2 * re : re);
      expected.push_back(paired ? 2 * im : 0.0);
    }
    expect_values(z.grad(), {bins, 2}, expected, 1e-13);
    const auto grad = z.grad().to_vector<double>();
    EXPECT_EQ(grad[1], 0.0);  // bin 0's imaginary part
    if (n % 2 == 0) {
      EXPECT_EQ(grad[2 * (bins - 1) + 1], 0.0);  // bin n/2's
    }
  }
}

TEST(Rfft, GradientsFlowInFloat32) {
  Tensor x = random64({3, 16}, 11).to(DType::Float32);
  x.requires_grad_();
  // irfft(rfft(x)) is the identity, so is its gradient.
  sum(irfft(rfft(x), 16) * 3.0).backward();
  EXPECT_EQ(x.grad().dtype(), DType::Float32);
  expect_values(x.grad().to(DType::Float64), {3, 16}, std::vector<double>(48, 3.0), 1e-5);
}

TEST(Rfft, ErrorsNameTheOpAndTheShapes) {
  expect_message([] { rfft(zeros({3, 4}, TensorOptions().dtype(DType::Int64))); }, {"rfft", "float32 or float64", "[3, 4]"});
  expect_message([] { rfft(zeros({}, f64)); }, {"rfft", "(..., n)", "[]"});
  expect_message([] { rfft(zeros({3, 0}, f64)); }, {"rfft", "[3, 0]"});
  expect_message([] { rfft(Tensor()); }, {"rfft"});
}

TEST(Irfft, ErrorsNameTheOpAndTheShapes) {
  // 8 points need 5 bins.
  expect_message([] { irfft(zeros({3, 4, 2}, f64), 8); }, {"irfft", "(..., 5, 2)", "length 8", "[3, 4, 2]"});
  expect_message([] { irfft(zeros({3, 5}, f64), 8); }, {"irfft", "[3, 5]"});
  expect_message([] { irfft(zeros({5, 3}, f64), 8); }, {"irfft", "[5, 3]"});
  expect_message([] { irfft(zeros({5, 2}, f64), 0); }, {"irfft", ">= 1", "[5, 2]"});
  expect_message([] { irfft(zeros({5, 2}, TensorOptions().dtype(DType::Int64)), 8); }, {"irfft", "int64", "[5, 2]"});
}
