// Lane packs: a scalar type that holds W independent batch elements (one per SIMD lane), so the
// per-system NeuRLP code in solvers/neurlp_system.h, written once for a scalar S, runs W systems at
// the cost of one: every arithmetic operation becomes one vector instruction and the (identical)
// control flow of the W systems is paid once. Built on GCC/Clang vector extensions, which support
// + - * / between packs and between a pack and a scalar; sqrt and the pivot test get overloads here.
// The plain scalar types (float, double) are packs of width 1, which is what the dense reference,
// the CUDA backend (one thread per system) and the tests use.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

#if defined(__CUDACC__)
#define MECH_HOST_DEVICE __host__ __device__
#define MECH_FORCE_INLINE __forceinline__
#else
#define MECH_HOST_DEVICE
#define MECH_FORCE_INLINE __attribute__((always_inline)) inline
#endif

// Full unrolling of a loop with a compile-time trip count (the fixed-size interior blocks). nvcc's
// host pass gets none: its front end knows no GCC pragma and GCC no `unroll` pragma.
#if defined(__CUDA_ARCH__) || (defined(__clang__) && !defined(__CUDACC__))
#define MECH_UNROLL _Pragma("unroll")
#elif defined(__CUDACC__)
#define MECH_UNROLL
#elif defined(__GNUC__)
#define MECH_UNROLL _Pragma("GCC unroll 64")
#else
#define MECH_UNROLL
#endif

#if !defined(__CUDACC__) && defined(__GNUC__)
// Packs wider than the target's registers are passed by value between inlined helpers; GCC warns
// that the ABI of such calls differs between -mavx512f and not. None of these functions crosses a
// library boundary, so the warning carries no information here.
#pragma GCC diagnostic ignored "-Wpsabi"
#define MECH_HAS_LANE_PACKS 1
#endif

namespace mech::neurlp_core {

// LaneTraits<S>: the real type of one lane and the number of lanes.
template <class S>
struct LaneTraits {
  using Real = S;
  static constexpr int width = 1;
};

template <class S>
using lane_real_t = typename LaneTraits<S>::Real;

// Scalars: width 1.
MECH_HOST_DEVICE inline double lane_sqrt(double x) { return ::sqrt(x); }
MECH_HOST_DEVICE inline double lane_inverse_sqrt(double x) { return 1.0 / ::sqrt(x); }
MECH_HOST_DEVICE inline float lane_inverse_sqrt(float x) { return 1.0f / ::sqrtf(x); }
MECH_HOST_DEVICE inline float lane_sqrt(float x) { return ::sqrtf(x); }
MECH_HOST_DEVICE inline double lane_get(double x, int) { return x; }
MECH_HOST_DEVICE inline float lane_get(float x, int) { return x; }
MECH_HOST_DEVICE inline void lane_set(double& x, int, double value) { x = value; }
MECH_HOST_DEVICE inline void lane_set(float& x, int, float value) { x = value; }
// First lane whose pivot fails `pivot > bound` (NaN fails too), or -1 when all pass.
MECH_HOST_DEVICE inline int first_failing_lane(double pivot, double bound) {
  return pivot > bound ? -1 : 0;
}
MECH_HOST_DEVICE inline int first_failing_lane(float pivot, float bound) {
  return pivot > bound ? -1 : 0;
}

template <class S>
MECH_HOST_DEVICE inline S splat(lane_real_t<S> value) {
  S out{};
  return out + value;
}

#if defined(MECH_HAS_LANE_PACKS)
// Packs as wide as the target's vector registers: 512 bits (8 doubles or 16 floats) with AVX-512,
// 256 bits (4 doubles or 8 floats) otherwise. Wider packs than the registers are split in two by
// the compiler, and the unrolled fixed-size blocks then need twice the registers there are and
// spill: on AMD Zen 3 (AVX2) 256-bit packs run mnn's fused forward+backward at B = 256, T = 1000
// about 2x faster than 512-bit ones. A lane's results differ between the widths within rounding
// (the compiled arithmetic differs: which products become multiply-adds; solvers/README.md, "The
// CPU batch driver"). -DMECH_NEURLP_PACK_BYTES=32 or 64 forces a width.
#ifndef MECH_NEURLP_PACK_BYTES
#if defined(__AVX512F__)
#define MECH_NEURLP_PACK_BYTES 64
#else
#define MECH_NEURLP_PACK_BYTES 32
#endif
#endif
constexpr int kPackBytes = MECH_NEURLP_PACK_BYTES;
typedef double PackF64 __attribute__((vector_size(MECH_NEURLP_PACK_BYTES)));
typedef float PackF32 __attribute__((vector_size(MECH_NEURLP_PACK_BYTES)));

template <>
struct LaneTraits<PackF64> {
  using Real = double;
  static constexpr int width = kPackBytes / 8;
};
template <>
struct LaneTraits<PackF32> {
  using Real = float;
  static constexpr int width = kPackBytes / 4;
};

inline PackF64 lane_sqrt(PackF64 x) {
  PackF64 out;
  for (int lane = 0; lane < LaneTraits<PackF64>::width; ++lane) out[lane] = __builtin_sqrt(x[lane]);
  return out;
}
inline PackF32 lane_sqrt(PackF32 x) {
  PackF32 out;
  for (int lane = 0; lane < LaneTraits<PackF32>::width; ++lane) out[lane] = __builtin_sqrtf(x[lane]);
  return out;
}
inline double lane_get(PackF64 x, int lane) { return x[lane]; }
inline float lane_get(PackF32 x, int lane) { return x[lane]; }
inline void lane_set(PackF64& x, int lane, double value) { x[lane] = value; }
inline void lane_set(PackF32& x, int lane, float value) { x[lane] = value; }

// 1 / sqrt(x) without the divider: the hardware estimate y (relative error < 2^-14) refined in
// one step of fourth order, y (1 - e)^(-1/2) with e = 1 - x y^2 expanded to e^3 (the error left
// is about e^4 / 4 < 2^-58, so the result is within rounding, ~1 ulp; the tests compare with the
// dense solver at 1e-10). sqrt and divide share one unit that takes ~40 cycles per 8 lanes, on the
// factorisation's critical path; this is a short chain of FMAs. Used by the fixed-size interior
// blocks; other targets and widths take 1 / sqrt(x).
inline PackF64 lane_inverse_sqrt(PackF64 x) {
#if defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64
  __m512d estimate_register = _mm512_maskz_rsqrt14_pd(0xFF, reinterpret_cast<__m512d&>(x));
  PackF64 y;
  std::memcpy(&y, &estimate_register, sizeof(y));
  const PackF64 e = 1.0 - (x * y) * y;
  const PackF64 series = 0.5 + e * (0.375 + e * (0.3125 + e * 0.2734375));   // 1/2, 3/8, 5/16, 35/128
  return y + (y * e) * series;
#else
  return 1.0 / lane_sqrt(x);
#endif
}
inline PackF32 lane_inverse_sqrt(PackF32 x) {
#if defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64
  __m512 estimate_register = _mm512_maskz_rsqrt14_ps(0xFFFF, reinterpret_cast<__m512&>(x));
  PackF32 y;
  std::memcpy(&y, &estimate_register, sizeof(y));
  const PackF32 e = 1.0f - (x * y) * y;
  return y + (y * e) * (0.5f + 0.375f * e);
#else
  return 1.0f / lane_sqrt(x);
#endif
}

inline int first_failing_lane(PackF64 pivot, PackF64 bound) {
#if defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64
  // One compare into a mask register (NaN compares false, so it fails).
  const unsigned pass = _mm512_cmp_pd_mask(reinterpret_cast<__m512d&>(pivot), reinterpret_cast<__m512d&>(bound),
                                           _CMP_GT_OQ);
  return pass == 0xFFu ? -1 : __builtin_ctz(~pass);
#else
  // The comparison gives -1 (all bits) in passing lanes; NaN compares false, so it fails. The
  // common case (all pass) is one horizontal AND, the lane search only runs on failure.
  auto pass = pivot > bound;
  long long all = -1;
  for (int lane = 0; lane < LaneTraits<PackF64>::width; ++lane) all &= pass[lane];
  if (all) return -1;
  for (int lane = 0; lane < LaneTraits<PackF64>::width; ++lane)
    if (!pass[lane]) return lane;
  return -1;
#endif
}
inline int first_failing_lane(PackF32 pivot, PackF32 bound) {
#if defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64
  const unsigned pass = _mm512_cmp_ps_mask(reinterpret_cast<__m512&>(pivot), reinterpret_cast<__m512&>(bound),
                                           _CMP_GT_OQ);
  return pass == 0xFFFFu ? -1 : __builtin_ctz(~pass);
#else
  auto pass = pivot > bound;
  int all = -1;
  for (int lane = 0; lane < LaneTraits<PackF32>::width; ++lane) all &= pass[lane];
  if (all) return -1;
  for (int lane = 0; lane < LaneTraits<PackF32>::width; ++lane)
    if (!pass[lane]) return lane;
  return -1;
#endif
}
#endif

}  // namespace mech::neurlp_core
