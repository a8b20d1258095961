// core/vector_math.h against libm: the maximum error in ulps of exp, expm1, log, tanh, sigmoid,
// erf, sin and cos in float32 and float64 over their whole ranges (a sweep of every 4097th float32
// bit pattern, dense sweeps of the working ranges, random bit patterns and random values), with
// the special values (+-0, +-inf, NaN, denormals, the overflow and underflow thresholds) checked
// exactly. The reference is libm in float64 for float32 and in long double for float64, so its
// own error is far below the ulps measured.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/vector_math.h"

namespace vm = mech::vector_math;

namespace {

using Wide = long double;

// The spacing of T at |value| (the denormal spacing below the normal range).
template <class T>
Wide ulp_at(Wide value) {
  const Wide magnitude = std::fabs(value);
  if (magnitude < static_cast<Wide>(std::numeric_limits<T>::min()))
    return static_cast<Wide>(std::numeric_limits<T>::denorm_min());
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = m 2^exponent, m in [0.5, 1)
  return std::ldexp(Wide(1), exponent - std::numeric_limits<T>::digits);
}

// |ours - reference| in ulps of T at the reference. Infinities count as the first value past the
// largest finite one (so a result that overflows where the exact value is within an ulp of the
// threshold is not an infinite error); NaN must meet NaN.
template <class T>
Wide ulp_error(T ours, Wide reference) {
  if (std::isnan(reference) || std::isnan(ours)) return std::isnan(reference) && std::isnan(ours) ? 0 : INFINITY;
  const Wide past_max = static_cast<Wide>(std::numeric_limits<T>::max()) +
                        ulp_at<T>(static_cast<Wide>(std::numeric_limits<T>::max()));
  auto finite = [&](Wide v) { return std::isinf(v) ? std::copysign(past_max, v) : std::fmax(-past_max, std::fmin(past_max, v)); };
  const Wide a = finite(static_cast<Wide>(ours)), b = finite(reference);
  if (a == b) return 0;
  return std::fabs(a - b) / ulp_at<T>(b);
}

template <class T>
std::vector<T> test_inputs(T low, T high) {
  using UInt = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  std::vector<T> inputs;
  // Whole range: float32 every 1024th bit pattern (1 M values, both signs); float64 random bit
  // patterns.
  std::mt19937_64 random(12345);
  if constexpr (sizeof(T) == 4) {
    for (std::uint64_t bits = 0; bits < (std::uint64_t(1) << 32); bits += 4096 + 1)
      inputs.push_back(std::bit_cast<T>(static_cast<UInt>(bits)));
  } else {
    for (int i = 0; i < 500000; ++i) inputs.push_back(std::bit_cast<T>(static_cast<UInt>(random())));
  }
  // The working range densely, and random values in it.
  const int dense = 300000;
  for (int i = 0; i <= dense; ++i) inputs.push_back(low + (high - low) * static_cast<T>(i) / static_cast<T>(dense));
  std::uniform_real_distribution<double> uniform(static_cast<double>(low), static_cast<double>(high));
  for (int i = 0; i < 200000; ++i) inputs.push_back(static_cast<T>(uniform(random)));
  // Small magnitudes of every scale, denormals included.
  for (T v = std::numeric_limits<T>::denorm_min(); v < T(1); v = std::max(v * T(1.37), std::nextafter(v, T(1)))) {
    inputs.push_back(v);
    inputs.push_back(-v);
  }
  const T specials[] = {T(0),
                        -T(0),
                        std::numeric_limits<T>::infinity(),
                        -std::numeric_limits<T>::infinity(),
                        std::numeric_limits<T>::quiet_NaN(),
                        std::numeric_limits<T>::denorm_min(),
                        std::numeric_limits<T>::min(),
                        std::numeric_limits<T>::max(),
                        -std::numeric_limits<T>::max(),
                        std::numeric_limits<T>::epsilon(),
                        T(1),
                        T(-1)};
  for (T v : specials) inputs.push_back(v);
  return inputs;
}

struct Worst {
  Wide ulps = 0;
  long double input = 0;
};

template <class T, class Ours, class Reference>
Worst worst_error(const std::vector<T>& inputs, Ours ours, Reference reference) {
  Worst worst;
  for (T x : inputs) {
    const Wide error = ulp_error<T>(ours(x), reference(x));
    if (!(error <= worst.ulps)) worst = {error, static_cast<long double>(x)};
  }
  return worst;
}

// The reference of one function at x, in the wide precision of T.
template <class T, class Function>
Wide reference_of(T x, Function function) {
  if constexpr (sizeof(T) == 4) {
    return static_cast<Wide>(function(static_cast<double>(x)));
  } else {
    return function(static_cast<Wide>(x));
  }
}

#define EXPECT_ULPS_AT_MOST(worst, bound, name)                                                        \
  EXPECT_LE((worst).ulps, (bound)) << (name) << ": worst at x = " << std::hexfloat << (worst).input << " (" \
                                   << std::defaultfloat << (worst).input << ")"

template <class T>
class VectorMath : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VectorMath, Precisions);

TYPED_TEST(VectorMath, ExpWithinOneUlpIncludingDenormalResults) {
  using T = TypeParam;
  const T low = sizeof(T) == 4 ? T(-104) : T(-746), high = sizeof(T) == 4 ? T(89) : T(710);
  const auto worst = worst_error<T>(test_inputs<T>(low, high), [](T x) { return vm::exp(x); },
                                    [](T x) { return reference_of(x, [](auto v) { return std::exp(v); }); });
  EXPECT_ULPS_AT_MOST(worst, 1.0, "exp");
  EXPECT_EQ(vm::exp(T(0)), T(1));
  EXPECT_EQ(vm::exp(-T(0)), T(1));
  EXPECT_EQ(vm::exp(std::numeric_limits<T>::infinity()), std::numeric_limits<T>::infinity());
  EXPECT_EQ(vm::exp(-std::numeric_limits<T>::infinity()), T(0));
  EXPECT_TRUE(std::isnan(vm::exp(std::numeric_limits<T>::quiet_NaN())));
  // The thresholds: the largest finite result and the first overflow, the smallest denormal.
  const T overflow = std::log(std::numeric_limits<T>::max());
  EXPECT_TRUE(std::isfinite(vm::exp(std::nextafter(overflow, T(0)))));
  EXPECT_TRUE(std::isinf(vm::exp(std::nextafter(overflow, T(1000)))));
  const T smallest = std::log(std::numeric_limits<T>::denorm_min());
  EXPECT_EQ(vm::exp(smallest), std::exp(smallest));
  EXPECT_EQ(vm::exp(smallest - T(1)), T(0));
}

TYPED_TEST(VectorMath, Expm1WithinTwoUlpsAndExactNearZero) {
  using T = TypeParam;
  const T low = sizeof(T) == 4 ? T(-20) : T(-40), high = sizeof(T) == 4 ? T(89) : T(710);
  const auto worst = worst_error<T>(test_inputs<T>(low, high), [](T x) { return vm::expm1(x); },
                                    [](T x) { return reference_of(x, [](auto v) { return std::expm1(v); }); });
  EXPECT_ULPS_AT_MOST(worst, 2.0, "expm1");
  // Near zero the result is x itself (no cancellation): a tiny and a denormal argument.
  const T tiny = std::numeric_limits<T>::epsilon() * T(1e-3);
  EXPECT_EQ(vm::expm1(tiny), tiny);
  EXPECT_EQ(vm::expm1(std::numeric_limits<T>::denorm_min()), std::numeric_limits<T>::denorm_min());
  EXPECT_EQ(std::signbit(vm::expm1(-T(0))), true);
  EXPECT_EQ(vm::expm1(-std::numeric_limits<T>::infinity()), T(-1));
  EXPECT_EQ(vm::expm1(std::numeric_limits<T>::infinity()), std::numeric_limits<T>::infinity());
  EXPECT_TRUE(std::isnan(vm::expm1(std::numeric_limits<T>::quiet_NaN())));
}

TYPED_TEST(VectorMath, LogWithinOneUlpAndItsDomain) {
  using T = TypeParam;
  const auto worst = worst_error<T>(test_inputs<T>(T(0), T(4)), [](T x) { return vm::log(x); },
                                    [](T x) { return reference_of(x, [](auto v) { return std::log(v); }); });
  EXPECT_ULPS_AT_MOST(worst, 1.0, "log");
  EXPECT_EQ(vm::log(T(1)), T(0));
  EXPECT_EQ(vm::log(T(0)), -std::numeric_limits<T>::infinity());
  EXPECT_EQ(vm::log(-T(0)), -std::numeric_limits<T>::infinity());
  EXPECT_TRUE(std::isnan(vm::log(T(-1))));
  EXPECT_TRUE(std::isnan(vm::log(-std::numeric_limits<T>::infinity())));
  EXPECT_EQ(vm::log(std::numeric_limits<T>::infinity()), std::numeric_limits<T>::infinity());
  EXPECT_TRUE(std::isnan(vm::log(std::numeric_limits<T>::quiet_NaN())));
  EXPECT_EQ(vm::log(std::numeric_limits<T>::denorm_min()), std::log(std::numeric_limits<T>::denorm_min()));
}

TYPED_TEST(VectorMath, TanhWithinThreeUlpsAndOddAtTheEnds) {
  using T = TypeParam;
  const auto worst = worst_error<T>(test_inputs<T>(T(-25), T(25)), [](T x) { return vm::tanh(x); },
                                    [](T x) { return reference_of(x, [](auto v) { return std::tanh(v); }); });
  EXPECT_ULPS_AT_MOST(worst, 3.0, "tanh");
  EXPECT_EQ(vm::tanh(T(0)), T(0));
  EXPECT_TRUE(std::signbit(vm::tanh(-T(0))));
  EXPECT_EQ(vm::tanh(std::numeric_limits<T>::infinity()), T(1));
  EXPECT_EQ(vm::tanh(-std::numeric_limits<T>::infinity()), T(-1));
  EXPECT_EQ(vm::tanh(std::numeric_limits<T>::denorm_min()), std::numeric_limits<T>::denorm_min());
  EXPECT_TRUE(std::isnan(vm::tanh(std::numeric_limits<T>::quiet_NaN())));
}

TYPED_TEST(VectorMath, SigmoidWithinThreeUlpsIncludingTinyResults) {
  using T = TypeParam;
  const T bound = sizeof(T) == 4 ? T(110) : T(750);
  const auto worst = worst_error<T>(test_inputs<T>(-bound, bound), [](T x) { return vm::sigmoid(x); },
                                    [](T x) {
                                      return reference_of(x, [](auto v) { return 1 / (1 + std::exp(-v)); });
                                    });
  EXPECT_ULPS_AT_MOST(worst, 3.0, "sigmoid");
  EXPECT_EQ(vm::sigmoid(T(0)), T(0.5));
  EXPECT_EQ(vm::sigmoid(std::numeric_limits<T>::infinity()), T(1));
  EXPECT_EQ(vm::sigmoid(-std::numeric_limits<T>::infinity()), T(0));
  EXPECT_TRUE(std::isnan(vm::sigmoid(std::numeric_limits<T>::quiet_NaN())));
}

TYPED_TEST(VectorMath, ErfWithinTwoUlpsOddAndSaturating) {
  using T = TypeParam;
  std::vector<T> inputs = test_inputs<T>(T(-7), T(7));
  // Both sides of the switch between the two pieces at |x| = 1 and of the clamp (4.5 in float32,
  // 6.5 in float64; each dtype's inputs go past both).
  for (const T edge : {T(1), T(4.5), T(6.5)}) {
    T below = edge, above = edge;
    for (int i = 0; i < 64; ++i) {
      below = std::nextafter(below, T(0));
      above = std::nextafter(above, T(10));
      for (const T v : {below, above, -below, -above}) inputs.push_back(v);
    }
  }
  const auto worst = worst_error<T>(inputs, [](T x) { return vm::erf(x); },
                                    [](T x) { return reference_of(x, [](auto v) { return std::erf(v); }); });
  EXPECT_ULPS_AT_MOST(worst, 2.0, "erf");
  EXPECT_EQ(vm::erf(T(0)), T(0));
  EXPECT_TRUE(std::signbit(vm::erf(-T(0))));
  EXPECT_EQ(vm::erf(std::numeric_limits<T>::infinity()), T(1));
  EXPECT_EQ(vm::erf(-std::numeric_limits<T>::infinity()), T(-1));
  EXPECT_EQ(vm::erf(std::numeric_limits<T>::max()), T(1));
  EXPECT_TRUE(std::isnan(vm::erf(std::numeric_limits<T>::quiet_NaN())));
  // Odd to the bit, and 2/sqrt(pi) x at the smallest normal arguments.
  for (const T v : {T(0.3), T(1), T(2.5), T(5)}) EXPECT_EQ(vm::erf(-v), -vm::erf(v));
  const T tiny = std::numeric_limits<T>::min() * T(3);
  EXPECT_LE(ulp_error<T>(vm::erf(tiny), static_cast<Wide>(tiny) * 1.12837916709551257389615890312154517L), 1.0);
}

TYPED_TEST(VectorMath, SinAndCosWithinAFewUlpsEverywhere) {
  using T = TypeParam;
  std::vector<T> inputs = test_inputs<T>(T(-100), T(100));
  // Arguments near multiples of pi/2 (where the reduction cancels most) up to the limit.
  for (long k = -41000; k <= 41000; k += 7) {
    const T near = static_cast<T>(static_cast<long double>(k) * 1.57079632679489661923132169163975144L);
    inputs.push_back(near);
    inputs.push_back(std::nextafter(near, T(0)));
  }
  std::vector<T> sine(inputs.size()), cosine(inputs.size());
  vm::sin(inputs.data(), sine.data(), static_cast<std::int64_t>(inputs.size()));
  vm::cos(inputs.data(), cosine.data(), static_cast<std::int64_t>(inputs.size()));
  Worst worst_sin, worst_cos;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const T x = inputs[i];
    const Wide s = ulp_error<T>(sine[i], reference_of(x, [](auto v) { return std::sin(v); }));
    const Wide c = ulp_error<T>(cosine[i], reference_of(x, [](auto v) { return std::cos(v); }));
    if (!(s <= worst_sin.ulps)) worst_sin = {s, static_cast<long double>(x)};
    if (!(c <= worst_cos.ulps)) worst_cos = {c, static_cast<long double>(x)};
  }
  const double bound = sizeof(T) == 4 ? 1.0 : 2.5;
  EXPECT_ULPS_AT_MOST(worst_sin, bound, "sin");
  EXPECT_ULPS_AT_MOST(worst_cos, bound, "cos");
  // The scalar form inside the reduction's range agrees with the array form there.
  EXPECT_EQ(vm::sin_in_range(T(1)), sine[std::find(inputs.begin(), inputs.end(), T(1)) - inputs.begin()]);
  EXPECT_TRUE(std::signbit(vm::sin_in_range(-T(0))));
  const T special[] = {std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN()};
  T out[2];
  vm::sin(special, out, 2);
  EXPECT_TRUE(std::isnan(out[0]) && std::isnan(out[1]));
}

}  // namespace
