// SpectralConv1d: its output against the definition (DFT, per-bin complex channel mixing, inverse
// DFT) written as loops, translation equivariance, finite-difference gradients of input and weight
// in float64, the initialisation, and the errors for bad shapes and options.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "autograd/gradcheck.h"
#include "nn/nn.h"

namespace mech::nn {
namespace {

const auto f64 = TensorOptions().dtype(DType::Float64);

// out[n, o, j] = (1/P) sum_{k < modes} c_k Re(Z_k exp(2 pi i j k / P)), Z_k = sum_i X[n, i, k]
// W[i, o, k], X the DFT of x over space, c_k = 2 for the bins that stand for a conjugate pair.
std::vector<double> reference(const Tensor& x, const Tensor& w, std::int64_t modes) {
  const auto N = x.size(0), I = x.size(1), P = x.size(2), O = w.size(1);
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> out;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t o = 0; o < O; ++o) {
      for (std::int64_t j = 0; j < P; ++j) {
        double total = 0;
        for (std::int64_t k = 0; k < modes; ++k) {
          double z_re = 0, z_im = 0;
          for (std::int64_t i = 0; i < I; ++i) {
            double x_re = 0, x_im = 0;
            for (std::int64_t p = 0; p < P; ++p) {
              const double angle = -2.0 * std::numbers::pi * static_cast<double>(p * k) / static_cast<double>(P);
              x_re += xv[(n * I + i) * P + p] * std::cos(angle);
              x_im += xv[(n * I + i) * P + p] * std::sin(angle);
            }
            const double w_re = wv[((i * O + o) * modes + k) * 2], w_im = wv[((i * O + o) * modes + k) * 2 + 1];
            z_re += x_re * w_re - x_im * w_im;
            z_im += x_re * w_im + x_im * w_re;
          }
          const double angle = 2.0 * std::numbers::pi * static_cast<double>(j * k) / static_cast<double>(P);
          const double paired = (k > 0 && 2 * k < P) ? 2.0 : 1.0;
          // Bin 0 and (even P) bin P/2: the imaginary part is dropped, as irfft does.
          total += paired > 1.0 ? paired * (z_re * std::cos(angle) - z_im * std::sin(angle)) : z_re * std::cos(angle);
        }
        out.push_back(total / static_cast<double>(P));
      }
    }
  }
  return out;
}

TEST(SpectralConv1d, MatchesTheDefinition) {
  Generator generator(3);
  // Some modes kept, all bins kept (even P, so the Nyquist bin too), an odd length.
  for (const auto& [points, modes] : {std::pair<std::int64_t, std::int64_t>{16, 5}, {8, 5}, {9, 3}}) {
    SpectralConv1d layer(SpectralConv1dOptions(3, 2, modes).dtype(DType::Float64), &generator);
    const Tensor x = randn({2, 3, points}, f64, &generator);
    // Weights of both signs (the initialisation is non-negative).
    layer.weight().detach().copy_(randn(layer.weight().shape(), f64, &generator));
    const Tensor y = layer.forward(x);
    ASSERT_EQ(y.shape(), (Shape{2, 2, points}));
    const auto expected = reference(x, layer.weight(), modes);
    const auto actual = y.to_vector<double>();
    for (std::size_t e = 0; e < expected.size(); ++e) EXPECT_NEAR(actual[e], expected[e], 1e-12) << "element " << e;
  }
}

// A spectral convolution commutes with circular shifts of space.
TEST(SpectralConv1d, IsTranslationEquivariant) {
  Generator generator(4);
  SpectralConv1d layer(SpectralConv1dOptions(2, 3, 4).dtype(DType::Float64), &generator);
  const Tensor x = randn({1, 2, 12}, f64, &generator);
  const Tensor shifted = cat({x.narrow(2, 5, 7), x.narrow(2, 0, 5)}, 2);
  const Tensor y = layer.forward(x);
  const Tensor expected = cat({y.narrow(2, 5, 7), y.narrow(2, 0, 5)}, 2);
  const auto a = layer.forward(shifted).to_vector<double>(), b = expected.to_vector<double>();
  for (std::size_t e = 0; e < a.size(); ++e) EXPECT_NEAR(a[e], b[e], 1e-13) << "element " << e;
}

TEST(SpectralConv1d, GradientsMatchFiniteDifferences) {
  Generator generator(5);
  // Even P with some bins dropped, odd P with all kept.
  for (const auto& [points, modes] : {std::pair<std::int64_t, std::int64_t>{10, 3}, {7, 4}}) {
    const Tensor x = randn({2, 2, points}, f64, &generator);
    const Tensor weight = randn({2, 3, modes, 2}, f64, &generator);
    const auto result =
        gradcheck([](const std::vector<Tensor>& in) { return spectral_conv1d(in[0], in[1]); }, {x, weight});
    EXPECT_TRUE(result.ok) << "P " << points << ", modes " << modes << ": " << result.message;
  }
  // Through the module: the gradient reaches its registered weight.
  SpectralConv1d layer(SpectralConv1dOptions(2, 3, 3).dtype(DType::Float64), &generator);
  const Tensor x = randn({2, 2, 10}, f64, &generator);
  sum(layer.forward(x) * layer.forward(x)).backward();
  ASSERT_TRUE(layer.weight().grad().defined());
  EXPECT_GT(max(abs(layer.weight().grad())).item(), 0.0);
}

TEST(SpectralConv1d, InitialisationAndParameters) {
  SpectralConv1d layer(SpectralConv1dOptions(4, 5, 6));
  EXPECT_EQ(layer.weight().shape(), (Shape{4, 5, 6, 2}));
  EXPECT_EQ(layer.weight().dtype(), DType::Float32);
  ASSERT_EQ(layer.parameters().size(), 1u);
  const auto values = layer.weight().to_vector<double>();
  double low = 1.0, high = 0.0;
  for (double v : values) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  EXPECT_GE(low, 0.0);
  EXPECT_LT(high, 1.0 / 20.0);
  EXPECT_GT(high, 0.8 / 20.0);  // 240 uniform draws reach the top fifth of the range
  EXPECT_EQ(layer.forward(zeros({3, 4, 32})).shape(), (Shape{3, 5, 32}));
  EXPECT_NE(layer.str().find("modes=6"), std::string::npos) << layer.str();
}

TEST(SpectralConv1d, BadShapesAndOptionsAreErrors) {
  EXPECT_THROW(SpectralConv1d(SpectralConv1dOptions(0, 2, 3)), Error);
  EXPECT_THROW(SpectralConv1d(SpectralConv1dOptions(2, 2, 0)), Error);
  SpectralConv1d layer(SpectralConv1dOptions(2, 3, 5));
  try {
    layer.forward(zeros({1, 3, 16}));
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("SpectralConv1d::forward"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("[1, 3, 16]"), std::string::npos) << error.what();
  }
  // 5 modes need P/2 + 1 >= 5: 7 points give only 4 bins.
  try {
    layer.forward(zeros({1, 2, 7}));
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("5 modes"), std::string::npos) << error.what();
  }
  EXPECT_NO_THROW(layer.forward(zeros({1, 2, 8})));
  EXPECT_THROW(layer.forward(zeros({2, 16})), Error);
}

}  // namespace
}  // namespace mech::nn
