// The CPU FFT (core/fft.h) against the direct DFT: complex forward and inverse for power-of-two
// and other lengths (Bluestein), the real transforms for even and odd lengths, round trips, and
// the shared plan cache.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/fft.h"

using mech::fft::Complex;

namespace {

std::vector<Complex> random_complex(std::int64_t n, unsigned seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<Complex> values(static_cast<std::size_t>(n));
  for (auto& value : values) value = {uniform(engine), uniform(engine)};
  return values;
}

double max_difference(const std::vector<Complex>& a, const std::vector<Complex>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

class FftLength : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(FftLength, ComplexTransformsMatchTheDirectDft) {
  const std::int64_t n = GetParam();
  const auto input = random_complex(n, static_cast<unsigned>(n));
  for (bool inverse : {false, true}) {
    std::vector<Complex> expected(input.size()), actual = input;
    mech::fft::dft(input.data(), expected.data(), n, inverse);
    const auto& plan = mech::fft::plan(n);
    inverse ? plan.inverse(actual.data()) : plan.forward(actual.data());
    // Rounding grows like log n for radix-2 and a little more through Bluestein's convolution.
    EXPECT_LT(max_difference(actual, expected), 1e-12 * std::sqrt(static_cast<double>(n)) * 8)
        << "n " << n << (inverse ? " inverse" : " forward");
  }
}

TEST_P(FftLength, RealTransformsMatchTheDirectDftAndRoundTrip) {
  const std::int64_t n = GetParam();
  const auto noise = random_complex(n, static_cast<unsigned>(7 * n + 1));
  std::vector<double> real(static_cast<std::size_t>(n));
  std::vector<Complex> as_complex(static_cast<std::size_t>(n)), expected(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) {
    real[static_cast<std::size_t>(j)] = noise[static_cast<std::size_t>(j)].real();
    as_complex[static_cast<std::size_t>(j)] = real[static_cast<std::size_t>(j)];
  }
  mech::fft::dft(as_complex.data(), expected.data(), n, false);
  const auto& plan = mech::fft::plan(n);
  std::vector<Complex> spectrum(static_cast<std::size_t>(n / 2 + 1));
  plan.forward_real(real.data(), spectrum.data());
  for (std::int64_t k = 0; k <= n / 2; ++k)
    EXPECT_LT(std::abs(spectrum[static_cast<std::size_t>(k)] - expected[static_cast<std::size_t>(k)]), 1e-11)
        << "n " << n << " k " << k;

  // The imaginary parts of X_0 and X_{n/2} (even n) cannot come from a real signal: ignored.
  spectrum[0] += Complex{0.0, 3.0};
  if (n % 2 == 0) spectrum[static_cast<std::size_t>(n / 2)] += Complex{0.0, -2.0};
  std::vector<double> back(static_cast<std::size_t>(n));
  plan.inverse_real(spectrum.data(), back.data());
  for (std::int64_t j = 0; j < n; ++j)
    EXPECT_NEAR(back[static_cast<std::size_t>(j)], real[static_cast<std::size_t>(j)], 1e-13) << "n " << n << " j " << j;
}

INSTANTIATE_TEST_SUITE_P(Lengths, FftLength,
                         ::testing::Values(1, 2, 3, 4, 5, 6, 7, 8, 12, 15, 16, 17, 64, 100, 129, 256, 1000, 1024));

TEST(Fft, KnownTransforms) {
  // A single cosine of frequency 3 over 16 points: n/2 at k = 3 and k = 13, zero elsewhere.
  const std::int64_t n = 16;
  std::vector<double> wave(n);
  for (std::int64_t j = 0; j < n; ++j) wave[static_cast<std::size_t>(j)] = std::cos(2.0 * M_PI * 3.0 * static_cast<double>(j) / n);
  std::vector<Complex> spectrum(n / 2 + 1);
  mech::fft::plan(n).forward_real(wave.data(), spectrum.data());
  for (std::int64_t k = 0; k <= n / 2; ++k) {
    const double expected = k == 3 ? 8.0 : 0.0;
    EXPECT_NEAR(spectrum[static_cast<std::size_t>(k)].real(), expected, 1e-13) << k;
    EXPECT_NEAR(spectrum[static_cast<std::size_t>(k)].imag(), 0.0, 1e-13) << k;
  }
}

TEST(Fft, PlansAreSharedAndLengthsChecked) {
  EXPECT_EQ(&mech::fft::plan(32), &mech::fft::plan(32));
  EXPECT_EQ(mech::fft::plan(33).size(), 33);
  EXPECT_THROW(mech::fft::Plan(0), mech::Error);
  try {
    mech::fft::Plan(-4);
    ADD_FAILURE() << "a negative length was accepted";
  } catch (const mech::Error& error) {
    EXPECT_NE(std::string(error.what()).find("fft: length -4"), std::string::npos) << error.what();
  }
}

}  // namespace
