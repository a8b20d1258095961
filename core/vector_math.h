// Branch-free float32/float64 exp, expm1, log, tanh, sigmoid, erf, sin and cos for the CPU kernels.
//
// Why not libm: a call per element cannot be vectorised, and it was most of the time of an
// elementwise activation (tanh of 1 M floats: ~6 ms through libm on the 2-core test machine).
// Every function here is straight-line arithmetic (range reduction, a polynomial, a scale by
// a power of two built from the exponent bits, selects for the special values), so a plain loop
// `out[j] = exp(in[j])` is auto-vectorised by GCC at -O3 with whatever ISA the build targets
// (-march=native when MECH_NATIVE is on, SSE2 otherwise); there is no target-specific code.
// The same scalar function runs on strided data, so a result does not depend on the layout.
//
// Accuracy (asserted by tests/core/test_vector_math.cpp against libm over the whole range, with
// special values, denormals and the overflow/underflow thresholds): a few ulps; the measured
// maxima are written at each function. The polynomials are truncated Taylor series on reduced
// ranges short enough that the truncation is far below an ulp, so the error is the rounding of
// the evaluation alone. With FMA (madd below) rounding differs from a build without it, within
// the same bounds.
//
// Selects, not branches: GCC vectorises a loop only when it can turn every condition into a
// blend, which (without -fno-trapping-math) it does only if no floating-point operation or
// ordered comparison runs conditionally. So both sides of a choice are computed first and the
// comparisons are the quiet std::isless family.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

// Forces a function's body into its caller: the vectoriser sees only the loop's own code, and
// GCC's inliner declines erf or exp once a kernel template calls them from several loops (the
// contiguous, broadcast and strided paths of one binary kernel), leaving a scalar call per element.
#define MECH_VECTOR_MATH_INLINE __attribute__((always_inline)) inline

namespace mech::vector_math {

namespace detail {

template <class T>
struct Traits;
template <>
struct Traits<float> {
  using UInt = std::uint32_t;
  static constexpr int kMantissaBits = 23;
  static constexpr UInt kBias = 127;
  static constexpr float kShifter = 0x1.8p23f;  // x + kShifter - kShifter rounds x to an integer
};
template <>
struct Traits<double> {
  using UInt = std::uint64_t;
  static constexpr int kMantissaBits = 52;
  static constexpr UInt kBias = 1023;
  static constexpr double kShifter = 0x1.8p52;
};

// a * b + c, fused where the target has FMA (one rounding, and twice the throughput).
template <class T>
MECH_VECTOR_MATH_INLINE T madd(T a, T b, T c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// x rounded to the nearest integer (ties to even), for |x| < 2^22 (float) or 2^51 (double).
template <class T>
MECH_VECTOR_MATH_INLINE T round_integer(T x) {
  return (x + Traits<T>::kShifter) - Traits<T>::kShifter;
}

// The low bits of the integer n (integral-valued, as in round_integer), as an unsigned integer
// modulo 2^bits: the difference of the bit patterns of n + shifter and shifter.
template <class T>
MECH_VECTOR_MATH_INLINE typename Traits<T>::UInt integer_bits(T n) {
  using UInt = typename Traits<T>::UInt;
  return std::bit_cast<UInt>(n + Traits<T>::kShifter) - std::bit_cast<UInt>(Traits<T>::kShifter);
}

// 2^n for an integral-valued n in the normal exponent range (-126..127 float, -1022..1023 double).
template <class T>
MECH_VECTOR_MATH_INLINE T pow2(T n) {
  using UInt = typename Traits<T>::UInt;
  return std::bit_cast<T>(static_cast<UInt>(integer_bits(n) + Traits<T>::kBias) << Traits<T>::kMantissaBits);
}

// condition ? a : b as bit operations on a mask. A plain ?: between a constant and a computed value
// lets GCC thread the constant through the code after it, which splits the loop body into paths
// that it then cannot vectorise.
template <class T>
MECH_VECTOR_MATH_INLINE T select(bool condition, T a, T b) {
  using UInt = typename Traits<T>::UInt;
  const UInt mask = UInt(0) - static_cast<UInt>(condition);
  return std::bit_cast<T>((std::bit_cast<UInt>(a) & mask) | (std::bit_cast<UInt>(b) & ~mask));
}

// Clamps x to [low, high]; NaN passes through (both comparisons are false).
template <class T>
MECH_VECTOR_MATH_INLINE T clamp_keep_nan(T x, T low, T high) {
  const T above_low = select(std::isless(x, low), low, x);
  return select(std::isgreater(above_low, high), high, above_low);
}

template <class T>
struct Ln2;
template <>
struct Ln2<float> {
  // hi has 16 significant bits, so k * hi is exact for the |k| <= 256 that occur.
  static constexpr float kHi = 0x1.62e4p-1f;
  static constexpr float kLo = 0x1.7f7d1cp-20f;
};
template <>
struct Ln2<double> {
  // hi has 32 significant bits: k * hi is exact for |k| < 2^20.
  static constexpr double kHi = 0x1.62e42feep-1;
  static constexpr double kLo = 0x1.a39ef35793c76p-33;
};

// The polynomial c[0] + c[1] x + ... + c[N-1] x^(N-1) by Horner's rule, written out by a fold so
// the coefficients are constants and the caller's loop stays vectorisable (a loop over them, GCC
// left rolled and then did not vectorise the caller).
template <class T, std::size_t N, std::size_t... I>
MECH_VECTOR_MATH_INLINE T horner_steps(T x, const T (&coefficients)[N], std::index_sequence<I...>) {
  T p = coefficients[N - 1];
  ((p = madd(p, x, coefficients[N - 2 - I])), ...);
  return p;
}

template <class T, std::size_t N>
MECH_VECTOR_MATH_INLINE T horner(T x, const T (&coefficients)[N]) {
  return horner_steps(x, coefficients, std::make_index_sequence<N - 1>{});
}

// e^r - 1 for |r| <= ln2/2 (+ rounding): Taylor to r^8 (float) or r^14 (double), whose truncation
// is below 1e-2 ulp there. p holds the coefficients from r^2 on, divided by r^2.
template <class T>
MECH_VECTOR_MATH_INLINE T expm1_reduced(T r) {
  T p;
  if constexpr (sizeof(T) == 4) {
    static constexpr T c[] = {T(0.5), T(1.0 / 6), T(1.0 / 24), T(1.0 / 120), T(1.0 / 720), T(1.0 / 5040),
                              T(1.0 / 40320)};
    p = horner(r, c);
  } else {
    static constexpr T c[] = {T(0.5),           T(1.0 / 6.0),         T(1.0 / 24.0),          T(1.0 / 120.0),
                              T(1.0 / 720.0),   T(1.0 / 5040.0),      T(1.0 / 40320.0),       T(1.0 / 362880.0),
                              T(1.0 / 3628800.0), T(1.0 / 39916800.0), T(1.0 / 479001600.0), T(1.0 / 6227020800.0),
                              T(1.0 / 87178291200.0)};
    p = horner(r, c);
  }
  return madd(p * r, r, r);
}

// value * 2^k for integral k in [-1077, 1025] as value * 2^k1 * 2^k2: each factor is normal even
// where 2^k is not (denormal results; k = 128 in float32, which overflows exactly where the result
// does). For value in [0.5, 2], value * 2^k1 is exact, so a denormal result is rounded once.
template <class T>
MECH_VECTOR_MATH_INLINE T scale_by_pow2(T value, T k) {
  const T k1 = round_integer(k * T(0.5));
  return value * pow2(k1) * pow2(k - k1);
}

// x = k ln2 + r with k integral and |r| <= ln2/2 (Cody-Waite: k * ln2 in two parts).
template <class T>
MECH_VECTOR_MATH_INLINE T reduce_ln2(T x, T& k) {
  k = round_integer(x * T(1.4426950408889634));
  return madd(-k, Ln2<T>::kLo, madd(-k, Ln2<T>::kHi, x));
}

// e^x for x whose result is a normal number (x in about [-87, 88] for float32, [-708, 709] for
// float64), as exp without its clamp and split scale: the same value there, in fewer operations,
// for callers whose argument is bounded by construction.
template <class T>
MECH_VECTOR_MATH_INLINE T exp_normal_result(T x) {
  T k;
  const T r = reduce_ln2(x, k);
  return (expm1_reduced(r) + T(1)) * pow2(k);
}

}  // namespace detail

// For the kernels' own choices (e.g. elu's two sides) with the same reason as above.
using detail::select;

// e^x. Measured max error vs libm: 1 ulp (float32), 1 ulp (float64), denormal results included.
template <class T>
MECH_VECTOR_MATH_INLINE T exp(T x) {
  using namespace detail;
  // Beyond these every result is 0 or inf; inside them the split scale below stays normal.
  constexpr T low = sizeof(T) == 4 ? T(-104) : T(-746);
  constexpr T high = sizeof(T) == 4 ? T(89) : T(710);
  const T clamped = clamp_keep_nan(x, low, high);
  T k;
  const T r = reduce_ln2(clamped, k);
  return scale_by_pow2(expm1_reduced(r) + T(1), k);
}

// e^x - 1, accurate for small |x|. Measured max error vs libm: 1.45 ulp (float32), 1.65 (float64).
template <class T>
MECH_VECTOR_MATH_INLINE T expm1(T x) {
  using namespace detail;
  // Below low the result rounds to -1; high is past overflow.
  constexpr T low = sizeof(T) == 4 ? T(-30) : T(-40);
  constexpr T high = sizeof(T) == 4 ? T(89) : T(710);
  const T clamped = clamp_keep_nan(x, low, high);
  T k;
  const T r = reduce_ln2(clamped, k);
  const T q = expm1_reduced(r);
  // e^x - 1 = 2^k (q + (1 - 2^-k)): exact in the scale, one rounding in the sum. (For k = 0 it
  // is q itself.) 2^-k is bounded below (1 - 2^-100 rounds to 1 anyway) to keep it normal.
  const T minus_k = select(std::isless(-k, T(-100)), T(-100), -k);
  const T result = scale_by_pow2(q + (T(1) - pow2(minus_k)), k);
  return select(x == T(0), x, result);  // keeps expm1(-0) = -0
}

// Natural logarithm. Measured max error vs libm: 1 ulp (float32, float64).
template <class T>
MECH_VECTOR_MATH_INLINE T log(T x) {
  using namespace detail;
  using UInt = typename Traits<T>::UInt;
  constexpr int m = Traits<T>::kMantissaBits;
  // Denormals are scaled into the normal range first (by 2^m, undone in the exponent).
  const bool denormal = std::isless(x, std::numeric_limits<T>::min());
  const T scaled = select(denormal, x * pow2(T(m)), x);
  const UInt bits = std::bit_cast<UInt>(scaled);
  constexpr UInt mantissa_mask = (UInt(1) << m) - 1;
  // The biased exponent field as a float (OR-ing it into the mantissa of 2^m and subtracting).
  const UInt exponent_field = (bits >> m) & ((UInt(1) << (sizeof(T) * 8 - 1 - m)) - 1);
  const T shifter = pow2(T(m));
  T exponent = std::bit_cast<T>(exponent_field | std::bit_cast<UInt>(shifter)) - shifter -
               static_cast<T>(Traits<T>::kBias) - select(denormal, T(m), T(0));
  // x = 2^exponent * mantissa, mantissa in [sqrt(1/2), sqrt(2)).
  T mantissa = std::bit_cast<T>((bits & mantissa_mask) | std::bit_cast<UInt>(T(1)));
  const bool high = std::isgreater(mantissa, T(1.4142135623730951));
  mantissa = select(high, mantissa * T(0.5), mantissa);
  exponent = select(high, exponent + T(1), exponent);
  // log(1 + f) = 2 atanh(s), s = f / (2 + f): the form f - (hf^2 - s (hf^2 + R)) keeps f exact.
  const T f = mantissa - T(1);
  const T s = f / (T(2) + f);
  const T z = s * s;
  T R;
  if constexpr (sizeof(T) == 4) {
    static constexpr T c[] = {T(2.0 / 3), T(2.0 / 5), T(2.0 / 7), T(2.0 / 9)};
    R = horner(z, c);
  } else {
    static constexpr T c[] = {T(2.0 / 3),  T(2.0 / 5),  T(2.0 / 7),  T(2.0 / 9),  T(2.0 / 11),
                              T(2.0 / 13), T(2.0 / 15), T(2.0 / 17), T(2.0 / 19), T(2.0 / 21)};
    R = horner(z, c);
  }
  R = R * z;
  const T half_f2 = T(0.5) * f * f;
  T result = exponent * Ln2<T>::kHi - ((half_f2 - (s * (half_f2 + R) + exponent * Ln2<T>::kLo)) - f);
  constexpr T inf = std::numeric_limits<T>::infinity();
  result = select(x == T(0), -inf, result);
  result = select(std::isless(x, T(0)), std::numeric_limits<T>::quiet_NaN(), result);
  result = select(x == inf, inf, result);
  return select(x != x, x, result);
}

// tanh x = sign(x) e / (e + 2) with e = expm1(2|x|). Measured max error vs libm: 2.24 ulp
// (float32), 2.40 (float64).
template <class T>
MECH_VECTOR_MATH_INLINE T tanh(T x) {
  // tanh(20) rounds to 1 in both precisions; the clamp keeps e finite.
  const T a = detail::clamp_keep_nan(std::fabs(x), T(0), T(20));
  const T e = expm1(a + a);
  return std::copysign(e / (e + T(2)), x);
}

// 1 / (1 + e^-x), from e^-|x| on both sides so nothing overflows and tiny results stay accurate.
// Measured max error vs a float64 (float32) / long double (float64) reference: 2.60 ulp
// (float32), 2.35 (float64).
template <class T>
MECH_VECTOR_MATH_INLINE T sigmoid(T x) {
  const T e = exp(-std::fabs(x));
  const T p = T(1) / (T(1) + e);
  const T tiny = e * p;
  return detail::select(std::isgreaterequal(x, T(0)), p, tiny);
}

// erf x. Two pieces, both computed for every element and then selected:
//   |x| < 1:  x + x P(x^2), P a polynomial near erf(x)/x - 1 on x^2 in [0, 1] (x + x P instead of
//             x (1 + P): the rounding of P, a tenth of the result, then stays far below an ulp);
//   |x| >= 1: sign(x) (1 - e^(-x^2) G(u)), G a polynomial near erfcx(|x|) = e^(x^2) erfc(|x|) on
//             u, the map of t = 1/|x| in [1/L, 1] to [-1, 1] (erfcx is smooth and bounded in t).
// Beyond L = 4.5 (float32) or 6.5 (float64) erfc is far below half an ulp of 1, so |x| is clamped
// to L and the result rounds to +-1. The coefficients are Chebyshev interpolants computed in
// 50-digit arithmetic, of degree 6 and 9 (float32) or 11 and 25 (float64), whose own error is below
// 2e-8 (float32) and 2e-17 (float64) relative to the function, far below an ulp of the result. In
// the second piece the rounding of x^2 and of G scale with erfc(1) = 0.157 or less against a
// result near 1, so they stay a fraction of an ulp too. Measured max error vs libm: 1.00 ulp
// (float32), 1.20 (float64); 1.33 and 1.53 in a build without FMA.
namespace detail {

// erf(x), and e^(-x^2) through `gaussian` (the second piece's factor, 0 beyond the clamp, where
// e^(-L^2) is below 2e-9 (float32) or 5e-19 (float64)): gelu's derivative needs both.
template <class T>
MECH_VECTOR_MATH_INLINE T erf_and_gaussian(T x, T& gaussian) {
  constexpr T clamp_at = sizeof(T) == 4 ? T(4.5) : T(6.5);
  const T magnitude = std::fabs(x);
  const bool beyond = std::isgreater(magnitude, clamp_at);
  const T a = select(beyond, clamp_at, magnitude);  // NaN stays NaN
  T small_factor, large_factor, u;
  if constexpr (sizeof(T) == 4) {
    static constexpr T p[] = {0.128379166f,     -0.376126267f,  0.112835947f,   -0.0268542120f,
                              0.00518908742f,  -0.000801686429f, 7.87587506e-5f};
    static constexpr T g[] = {0.300610118f,    0.150537945f,   -0.0263432890f,  0.00249243385f,  0.000608909331f,
                              -0.000450652911f, 0.000164641254f, -3.65987485e-5f, -6.18381904e-6f, 6.25689381e-6f};
    small_factor = horner(x * x, p);
    // u = (t - 11/18) / (7/18) for t in [2/9, 1]. (For a = 0, 1/a = inf makes this piece NaN: the
    // select below takes the other, and a NaN in a discarded lane costs nothing.)
    u = madd(T(1) / a, T(18.0 / 7.0), T(-11.0 / 7.0));
    large_factor = horner(u, g);
  } else {
    static constexpr T p[] = {0.12837916709551257,     -0.37612638903183540,     0.11283791670945006,
                              -0.026866170643237770,   0.0052239776071164227,    -0.00085483259753896921,
                              0.00012055294904839708,  -1.4924736907419660e-5,   1.6447424703317362e-6,
                              -1.6208483801871706e-7,  1.3720064546777686e-8,    -7.7958988270021422e-10};
    static constexpr T g[] = {
        0.28717076743451323,    0.16887199216404983,    -0.031919696236940050,  0.0028848606638070622,
        0.0011609593609235983,  -0.00082371841142496313, 0.00029757741705525388, -6.0861767010388209e-5,
        -6.3548582560604053e-6, 1.3671842240535435e-5,  -8.0914268028253287e-6, 3.1997966204047669e-6,
        -7.9280506793811711e-7, -3.3656111683681257e-8, 1.8295023816557674e-7,  -1.3542855636149015e-7,
        7.1236447352260990e-8,  -2.6228315783959880e-8, 1.1465911412779350e-9,  2.8635675232843264e-9,
        1.3859555593492587e-9,  2.3826194628033843e-10, -2.9696832173454604e-9, 1.2338354871071644e-9,
        4.9537658683078767e-10, -2.8550740856521467e-10};
    small_factor = horner(x * x, p);
    // u = (t - 15/26) / (11/26) for t in [2/13, 1].
    u = madd(T(1) / a, T(26.0 / 11.0), T(-15.0 / 11.0));
    large_factor = horner(u, g);
  }
  const T square_exponential = exp_normal_result(-(a * a));  // e^(-42.25) at the least: normal
  gaussian = select(beyond, T(0), square_exponential);
  const T large = std::copysign(T(1) - square_exponential * large_factor, x);
  return select(std::isless(a, T(1)), madd(x, small_factor, x), large);
}

}  // namespace detail

template <class T>
MECH_VECTOR_MATH_INLINE T erf(T x) {
  T unused;
  return detail::erf_and_gaussian(x, unused);
}

// ---- sin and cos ---------------------------------------------------------------------------
// Reduced by k pi/2 with pi/2 in three parts (Cody-Waite), which is accurate while
// |x| <= kTrigReductionLimit; the array functions below send larger (and infinite) arguments to
// libm in a second pass. float32 is evaluated in float64 (then rounded once).
inline constexpr double kTrigReductionLimit = 65536.0;

namespace detail {

// sin r and cos r for |r| <= pi/4 (+ rounding), Taylor to r^17 / r^18 (truncation < 1e-3 ulp).
MECH_VECTOR_MATH_INLINE double sin_reduced(double r) {
  static constexpr double c[] = {1.0 / 6.0,          -1.0 / 120.0,          1.0 / 5040.0,
                                 -1.0 / 362880.0,    1.0 / 39916800.0,      -1.0 / 6227020800.0,
                                 1.0 / 1307674368000.0, -1.0 / 355687428096000.0};
  const double z = r * r;
  return madd(-(r * z), horner(z, c), r);
}

MECH_VECTOR_MATH_INLINE double cos_reduced(double r) {
  static constexpr double c[] = {1.0 / 24.0,           -1.0 / 720.0,       1.0 / 40320.0,
                                 -1.0 / 3628800.0,     1.0 / 479001600.0, -1.0 / 87178291200.0,
                                 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0};
  const double z = r * r;
  const double tail = z * z * horner(z, c);
  // 1 - z/2 + tail, with 1 - z/2 summed so its rounding error is recovered (|r| near pi/4).
  const double half_z = 0.5 * z;
  const double head = 1.0 - half_z;
  return head + (((1.0 - head) - half_z) + tail);
}

// sin (cosine = false) or cos of x, |x| <= kTrigReductionLimit.
MECH_VECTOR_MATH_INLINE double sin_cos(double x, bool cosine) {
  // pi/2 = p1 + p2 + p3; p1 and p2 have 33 significant bits, so k * p1 and k * p2 are exact for
  // |k| < 2^20.
  constexpr double p1 = 0x1.921fb544p0, p2 = 0x1.0b4611a6p-34, p3 = 0x1.3198a2e037073p-69;
  const double k = round_integer(x * 0.63661977236758134);
  const double r = madd(-k, p3, madd(-k, p2, madd(-k, p1, x)));
  const std::uint64_t quadrant = integer_bits(k) + (cosine ? 1 : 0);
  const double cosine_value = cos_reduced(r), sine_value = sin_reduced(r);
  const double value = select((quadrant & 1) != 0, cosine_value, sine_value);
  const double signed_value = std::bit_cast<double>(std::bit_cast<std::uint64_t>(value) ^ ((quadrant & 2) << 62));
  return select(x == 0.0, cosine ? 1.0 : x, signed_value);  // keeps sin(-0) = -0
}

// out[j] = f(in[j]) in blocks, then libm for the elements outside the reduction's range.
template <class T, class Fast, class Slow>
void map_trig(const T* in, T* out, std::int64_t n, Fast fast, Slow slow) {
  constexpr std::int64_t kBlock = 1024;
  for (std::int64_t start = 0; start < n; start += kBlock) {
    const std::int64_t count = n - start < kBlock ? n - start : kBlock;
    const T* i = in + start;
    T* o = out + start;
    int outside = 0;
    for (std::int64_t j = 0; j < count; ++j) {
      const double v = static_cast<double>(i[j]);
      const bool inside = std::islessequal(std::fabs(v), kTrigReductionLimit);
      outside |= !inside;
      o[j] = static_cast<T>(fast(select(inside, v, 0.0)));
    }
    if (outside) {
      for (std::int64_t j = 0; j < count; ++j)
        if (!(std::fabs(static_cast<double>(i[j])) <= kTrigReductionLimit)) o[j] = slow(i[j]);
    }
  }
}

}  // namespace detail

// sin and cos of one element for |x| <= kTrigReductionLimit (NaN elsewhere is not promised:
// use the array forms for arbitrary input). Measured max error vs libm: 1 ulp (float32), 2.16 ulp
// (float64, at arguments near large multiples of pi/2, where the reduction's rounding shows).
template <class T>
MECH_VECTOR_MATH_INLINE T sin_in_range(T x) {
  return static_cast<T>(detail::sin_cos(static_cast<double>(x), false));
}
template <class T>
MECH_VECTOR_MATH_INLINE T cos_in_range(T x) {
  return static_cast<T>(detail::sin_cos(static_cast<double>(x), true));
}

// out[j] = sin(in[j]) / cos(in[j]) for any input (NaN and infinities give NaN like libm).
template <class T>
void sin(const T* in, T* out, std::int64_t n) {
  detail::map_trig(in, out, n, [](double v) { return detail::sin_cos(v, false); }, [](T v) { return std::sin(v); });
}
template <class T>
void cos(const T* in, T* out, std::int64_t n) {
  detail::map_trig(in, out, n, [](double v) { return detail::sin_cos(v, true); }, [](T v) { return std::cos(v); });
}

}  // namespace mech::vector_math
