// Helpers shared by the op test files: seeded random float64 tensors, a gradcheck assertion that
// prints the first mismatch, and element-wise comparison against expected values.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "autograd/gradcheck.h"
#include "core/generator.h"
#include "core/tensor.h"

namespace mech::testing {

inline const TensorOptions f64 = TensorOptions().dtype(DType::Float64);
inline const TensorOptions f32 = TensorOptions().dtype(DType::Float32);

// Standard-normal float64 tensor from a generator seeded per call site.
inline Tensor random64(const Shape& shape, std::uint64_t seed) {
  Generator generator(seed);
  return randn(shape, f64, &generator);
}

// Uniform in [low, high), float64.
inline Tensor uniform64(const Shape& shape, std::uint64_t seed, double low, double high) {
  Generator generator(seed);
  return rand(shape, f64, &generator, low, high);
}

#define EXPECT_GRADCHECK(function, ...)                                      \
  do {                                                                       \
    const auto gradcheck_result = ::mech::gradcheck(function, __VA_ARGS__); \
    EXPECT_TRUE(gradcheck_result.ok) << gradcheck_result.message;           \
  } while (0)

inline void expect_values(const Tensor& actual, const Shape& shape, const std::vector<double>& expected,
                          double tolerance = 1e-12) {
  ASSERT_EQ(actual.shape(), shape);
  const auto values = actual.to_vector<double>();
  ASSERT_EQ(values.size(), expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_NEAR(values[i], expected[i], tolerance) << "element " << i;
  }
}

inline double max_abs_difference(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>();
  const auto y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

}  // namespace mech::testing
