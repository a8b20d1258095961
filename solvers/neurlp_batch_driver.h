// The CPU lane-batch driver of NeuRLP, internal to solvers/neurlp_batch*.cpp: the storage of a kept
// factorisation, lane-pack gather/scatter, validation, scheduling, the fixed-size dispatch and the
// entry points for one row policy (forward_with, resolve_with, backward_with,
// forward_backward_with). neurlp_batch.cpp instantiates them for the Taylor rows (mnn, scalable) and
// chooses the policy per call; neurlp_batch_hermite4.cpp instantiates them for hermite4's rows, so
// each translation unit stays the size the compiler inlines the hot paths in (one unit holding
// both measured 5-10% slower) and the two compile in parallel.
#pragma once

#include <algorithm>
#include <atomic>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/host_cache.h"
#include "core/parallel.h"
#include "solvers/neurlp_batch.h"

namespace mech::neurlp_core {

template <class T>
struct PackOf;
template <>
struct PackOf<double> {
  using type = PackF64;
};
template <>
struct PackOf<float> {
  using type = PackF32;
};


// ---- storage ---------------------------------------------------------------------------------

// Factor storage and workspaces are large (tens of MB for B = 256, T = 1000) and a training loop
// frees and reallocates them every step: they come from the host block cache (core/host_cache.h),
// which hands freed blocks of the same size back instead of fresh pages from the kernel.
using RawBlock = host_cache::Block;
using host_cache::take_block;

// One block per group of lanes, not zero-filled (forward writes every entry before it is read):
// L, 1/diag L, q and the Schur complement (mnn's border), the packed inputs, u (n, with hermite4's
// latent column) and eps. Keeping the packed inputs and solution spares backward transposing them
// into lane packs again.
template <class T>
struct Factorization<T>::Storage {
  using P = typename PackOf<T>::type;
  std::int64_t groups = 0, n = 0, envelope_size = 0, border = 0, block = 0;
  std::int64_t coeffs = 0, rhs = 0, iv = 0, steps = 0;   // per-system input sizes
  std::vector<RawBlock> blocks;

  P* base(std::int64_t group) const { return static_cast<P*>(blocks[group].get()); }
  // The layout of one block, from its first pack.
  Factors<P> factors_at(P* b) const {
    return {b, b + envelope_size, border ? b + envelope_size + n : nullptr,
            border ? b + envelope_size + 2 * n : nullptr};
  }
  P* inputs_start(P* b) const { return b + envelope_size + n + border * (n + 1); }
  SystemInputs<P> inputs_at(P* b) const {
    P* p = inputs_start(b);
    return {p, p + coeffs, p + coeffs + rhs, p + coeffs + rhs + iv};
  }
  P* u_at(P* b) const { return inputs_start(b) + coeffs + rhs + iv + steps; }
  P* eps_at(P* b) const { return u_at(b) + n; }
  Factors<P> factors(std::int64_t group) const { return factors_at(base(group)); }
  SystemInputs<P> inputs(std::int64_t group) const { return inputs_at(base(group)); }
  P* u(std::int64_t group) const { return u_at(base(group)); }
  P* eps(std::int64_t group) const { return eps_at(base(group)); }
};


namespace driver {


// ---- gather / scatter between (B, ...) arrays and lane packs ---------------------------------

// Non-temporal stores of one pack (no read of the destination's cache line first), where the
// target has them for the pack's width: AVX-512 for 64-byte packs, AVX for 32-byte ones. `dest` is
// aligned to the pack's size.
#if (defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64) || (defined(__AVX__) && MECH_NEURLP_PACK_BYTES == 32)
#define MECH_NEURLP_STREAM_STORES 1
template <class P>
MECH_FORCE_INLINE void stream_store(void* dest, const P& pack) {
  static_assert(sizeof(P) == MECH_NEURLP_PACK_BYTES);
#if MECH_NEURLP_PACK_BYTES == 64
  __m512d value;
  std::memcpy(&value, &pack, sizeof(P));
  _mm512_stream_pd(static_cast<double*>(dest), value);
#else
  __m256d value;
  std::memcpy(&value, &pack, sizeof(P));
  _mm256_stream_pd(static_cast<double*>(dest), value);
#endif
}
#endif

// Copies packs with non-temporal stores where the target has them; the destination is 64-byte
// aligned (pool blocks are).
template <class P>
void stream_copy(const P* source, std::int64_t count, P* dest) {
#if defined(MECH_NEURLP_STREAM_STORES)
  for (std::int64_t i = 0; i < count; ++i) stream_store(dest + i, source[i]);
#else
  std::memcpy(static_cast<void*>(dest), static_cast<const void*>(source), count * sizeof(P));
#endif
}

inline void stream_fence() {
#if defined(MECH_NEURLP_STREAM_STORES)
  _mm_sfence();
#endif
}

constexpr int kF64Lanes = LaneTraits<PackF64>::width;

// In-register transpose of a square of float64 packs (8x8: three shuffle stages; 4x4: two): row r
// of the input becomes lane r of every output. Turns the batch-major <-> lane-interleaved copies
// into full-width loads, shuffles and stores instead of one scalar access per element.
inline void transpose_packs(PackF64 (&r)[kF64Lanes]) {
#if MECH_NEURLP_PACK_BYTES == 64
  PackF64 t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = __builtin_shufflevector(r[2 * k], r[2 * k + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    t[2 * k + 1] = __builtin_shufflevector(r[2 * k], r[2 * k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int k = 0; k < 2; ++k) {
    const int o = 4 * k;
    u[o + 0] = __builtin_shufflevector(t[o + 0], t[o + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[o + 1] = __builtin_shufflevector(t[o + 0], t[o + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[o + 2] = __builtin_shufflevector(t[o + 1], t[o + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[o + 3] = __builtin_shufflevector(t[o + 1], t[o + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  // u[0] = columns 0|4, u[1] = 2|6, u[2] = 1|5, u[3] = 3|7 (rows 0-3); u[4..7] the same for rows 4-7.
  r[0] = __builtin_shufflevector(u[0], u[4], 0, 1, 2, 3, 8, 9, 10, 11);
  r[4] = __builtin_shufflevector(u[0], u[4], 4, 5, 6, 7, 12, 13, 14, 15);
  r[2] = __builtin_shufflevector(u[1], u[5], 0, 1, 2, 3, 8, 9, 10, 11);
  r[6] = __builtin_shufflevector(u[1], u[5], 4, 5, 6, 7, 12, 13, 14, 15);
  r[1] = __builtin_shufflevector(u[2], u[6], 0, 1, 2, 3, 8, 9, 10, 11);
  r[5] = __builtin_shufflevector(u[2], u[6], 4, 5, 6, 7, 12, 13, 14, 15);
  r[3] = __builtin_shufflevector(u[3], u[7], 0, 1, 2, 3, 8, 9, 10, 11);
  r[7] = __builtin_shufflevector(u[3], u[7], 4, 5, 6, 7, 12, 13, 14, 15);
#elif MECH_NEURLP_PACK_BYTES == 32
  const PackF64 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 2, 6);   // r00 r10 r02 r12
  const PackF64 t1 = __builtin_shufflevector(r[0], r[1], 1, 5, 3, 7);   // r01 r11 r03 r13
  const PackF64 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 2, 6);
  const PackF64 t3 = __builtin_shufflevector(r[2], r[3], 1, 5, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  r[1] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  r[2] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
#else
  PackF64 copy[kF64Lanes];
  for (int i = 0; i < kF64Lanes; ++i) copy[i] = r[i];
  for (int i = 0; i < kF64Lanes; ++i)
    for (int j = 0; j < kF64Lanes; ++j) r[i][j] = copy[j][i];
#endif
}

// dest[i][lane] = source[element(lane) * count + i]; lanes past `valid` repeat the last valid
// element, so that the padding lanes solve a valid problem and never fail on their own.
// Returns the sum of value * 0 over everything gathered: NaN in a lane iff that lane saw a NaN or
// an infinity, so validation costs one multiply-add per value and the slow, message-building
// check runs only for a group that has a bad value.
template <class T, class P>
P gather(const T* source, std::int64_t count, std::int64_t first_element, int valid, P* dest) {
  constexpr int width = LaneTraits<P>::width;
  const T* lanes[width];
  for (int lane = 0; lane < width; ++lane)
    lanes[lane] = source + (first_element + std::min(lane, valid - 1)) * count;
  P probe{};
  std::int64_t i = 0;
  if constexpr (std::is_same_v<P, PackF64>) {
    for (; i + width <= count; i += width) {
      PackF64 block[width];
      for (int lane = 0; lane < width; ++lane) std::memcpy(&block[lane], lanes[lane] + i, sizeof(PackF64));
      transpose_packs(block);
      for (int k = 0; k < width; ++k) {
        dest[i + k] = block[k];
        probe += block[k] * T(0);
      }
    }
  }
  for (; i < count; ++i) {
    P value;
    for (int lane = 0; lane < width; ++lane) value[lane] = lanes[lane][i];
    dest[i] = value;
    probe += value * T(0);
  }
  return probe;
}

// True when any lane of the probe is NaN.
template <class P>
bool probe_failed(const P& probe) {
  for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
    if (probe[lane] != probe[lane]) return true;
  return false;
}

template <class T, class P>
void scatter(const P* source, std::int64_t count, std::int64_t first_element, int valid, T* dest) {
  constexpr int width = LaneTraits<P>::width;
  T* lanes[width];
  for (int lane = 0; lane < width; ++lane) lanes[lane] = dest + (first_element + std::min(lane, valid - 1)) * count;
  if (valid == width) {
    std::int64_t i = 0;
    if constexpr (std::is_same_v<P, PackF64>) {
#if defined(MECH_NEURLP_STREAM_STORES)
      // Every lane's row starting on a pack boundary (mech's tensors are 64-byte aligned, so this
      // holds whenever count is a multiple of the width): whole packs are written with non-temporal
      // stores, which skip reading each destination line from memory first (outputs are written
      // once here).
      bool aligned = count % width == 0;
      for (int lane = 0; lane < width; ++lane)
        aligned = aligned && reinterpret_cast<std::uintptr_t>(lanes[lane]) % sizeof(PackF64) == 0;
      if (aligned) {
        for (; i + width <= count; i += width) {
          PackF64 block[width];
          for (int k = 0; k < width; ++k) block[k] = source[i + k];
          transpose_packs(block);
          for (int lane = 0; lane < width; ++lane) stream_store(lanes[lane] + i, block[lane]);
        }
        stream_fence();
        return;
      }
#endif
      for (; i + width <= count; i += width) {
        PackF64 block[width];
        for (int k = 0; k < width; ++k) block[k] = source[i + k];
        transpose_packs(block);
        for (int lane = 0; lane < width; ++lane) std::memcpy(lanes[lane] + i, &block[lane], sizeof(PackF64));
      }
    }
    for (; i < count; ++i) {
      const P value = source[i];
      for (int lane = 0; lane < width; ++lane) lanes[lane][i] = value[lane];
    }
    return;
  }
  for (int lane = 0; lane < valid; ++lane)
    for (std::int64_t i = 0; i < count; ++i) lanes[lane][i] = source[i][lane];
}


// u (T,D,K) of each lane from the solved unknowns (T,D,W): the plain scatter when W = K, else
// hermite4's latent column dropped on the way out.
template <class T, class P>
void scatter_solution(const Sizes& z, const P* y, std::int64_t b0, int valid, T* u) {
  if (z.width() == z.K) {
    scatter(y, z.unknowns(), b0, valid, u);
    return;
  }
  const int K = z.K, W = z.width();
  const std::int64_t rows = std::int64_t(z.T) * z.D, count = rows * K;
  for (int lane = 0; lane < valid; ++lane) {
    T* out = u + (b0 + lane) * count;
    for (std::int64_t r = 0; r < rows; ++r)
      for (int k = 0; k < K; ++k) out[r * K + k] = y[r * W + k][lane];
  }
}

// ubar (T,D,W) packed from grad_u (T,D,K), zero on a latent column; returns the NaN probe.
template <class T, class P>
P gather_upstream_u(const Sizes& z, const T* grad_u, std::int64_t b0, int valid, P* ubar) {
  if (z.width() == z.K) return gather(grad_u, z.unknowns(), b0, valid, ubar);
  constexpr int width = LaneTraits<P>::width;
  const int K = z.K, W = z.width();
  const std::int64_t rows = std::int64_t(z.T) * z.D, count = rows * K;
  const T* lanes[width];
  for (int lane = 0; lane < width; ++lane) lanes[lane] = grad_u + (b0 + std::min(lane, valid - 1)) * count;
  P probe{};
  for (std::int64_t r = 0; r < rows; ++r) {
    for (int k = 0; k < K; ++k) {
      P value{};
      for (int lane = 0; lane < width; ++lane) value[lane] = lanes[lane][r * K + k];
      ubar[r * W + k] = value;
      probe += value * T(0);
    }
    for (int k = K; k < W; ++k) ubar[r * W + k] = P{};
  }
  return probe;
}

struct Counts {
  std::int64_t coeffs, rhs, iv, steps, n, u;
  explicit Counts(const Sizes& z)
      : coeffs(static_cast<std::int64_t>(z.E) * z.T * z.D * z.K),
        rhs(static_cast<std::int64_t>(z.E) * z.T),
        iv(static_cast<std::int64_t>(z.S) * z.D * z.n_iv),
        steps(static_cast<std::int64_t>(z.T - 1) * z.D),
        n(z.unknowns()),
        u(z.solution_size()) {}
};

// ---- failures --------------------------------------------------------------------------------

constexpr const char* kOp = "neurlp";

// Per group: the first failure (lowest batch element), reported after the parallel loop.
struct GroupError {
  std::int64_t element = -1;
  std::string message;
};

inline void throw_first(const std::vector<GroupError>& errors) {
  for (const GroupError& error : errors)
    if (error.element >= 0) throw_system_error(kOp, error.element, error.message);
}

template <class T>
SystemInputs<T> system_of(const Counts& c, const BatchInputs<T>& in, std::int64_t b) {
  return {in.coeffs + b * c.coeffs, in.rhs + b * c.rhs, c.iv > 0 ? in.iv + b * c.iv : nullptr,
          in.steps + b * c.steps};
}

// Validates the valid lanes of a suspect group (solvers/neurlp_errors.h's validator); records the
// first failure.
template <class T>
bool validate_group(const Sizes& z, const Counts& counts, const BatchInputs<T>& in, std::int64_t b0, int valid,
                    GroupError& error) {
  for (int lane = 0; lane < valid; ++lane) {
    const InputStatus status = validate_system(z, system_of(counts, in, b0 + lane));
    if (status.fault != InputFault::None) {
      error = {b0 + lane, input_message(z, status)};
      return false;
    }
  }
  return true;
}

template <class T>
bool validate_upstream_group(const Sizes& z, const Counts& counts, const T* grad_u, const T* grad_eps,
                             std::int64_t b0, int valid, GroupError& error) {
  for (int lane = 0; lane < valid; ++lane) {
    const InputStatus status =
        validate_upstream(grad_u + (b0 + lane) * counts.u, counts.u, grad_eps ? grad_eps + b0 + lane : nullptr);
    if (status.fault != InputFault::None) {
      error = {b0 + lane, input_message(z, status)};
      return false;
    }
  }
  return true;
}

inline void check_inputs_present(const Sizes& z, const void* coeffs, const void* rhs, const void* iv, const void* steps) {
  MECH_CHECK(coeffs && rhs && steps, "{}: coeffs, rhs and steps must not be null", kOp);
  MECH_CHECK(iv || z.S * z.n_iv == 0, "{}: iv must not be null when S * n_iv > 0", kOp);
}

// A workspace array from the host block cache: not zero-filled (every user writes before it
// reads), and its pages are reused between calls instead of being faulted in afresh (for one
// system of T = 1000, D = 3 the envelope alone is about 11 MB).
template <class P>
class PooledArray {
 public:
  void resize(std::int64_t count) {
    block_.reset();
    block_ = take_block(static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(P));
  }
  P* data() const { return static_cast<P*>(block_.get()); }

 private:
  RawBlock block_;
};

// What one thread needs to run one group (lane pack) of systems.
template <class T>
struct GroupWork {
  using P = typename PackOf<T>::type;
  PooledArray<P> own_coeffs, own_rhs, own_iv, own_steps, own_u, v, ubar;
  PooledArray<P> env, inverse_diagonal, q;
  P schur{}, own_eps{}, ebar{};
  PooledArray<P> grad_coeffs, grad_rhs, grad_iv, grad_steps;
  std::unique_ptr<Row<P>> row = std::make_unique<Row<P>>();
  // Where the packed inputs and the solution live: the own_ arrays, or a kept factorisation's.
  SystemInputs<P> in{};
  P* u = nullptr;
  P* eps = nullptr;

  GroupWork(const Counts& counts, std::int64_t envelope_size, bool local_factors, bool local_inputs,
            bool backward) {
    if (local_inputs) {
      own_coeffs.resize(counts.coeffs);
      own_rhs.resize(counts.rhs);
      own_iv.resize(std::max<std::int64_t>(counts.iv, 1));
      own_steps.resize(counts.steps);
      own_u.resize(counts.n);
      in = {own_coeffs.data(), own_rhs.data(), own_iv.data(), own_steps.data()};
      u = own_u.data();
      eps = &own_eps;
    }
    if (local_factors) {
      env.resize(envelope_size);
      inverse_diagonal.resize(counts.n);
      q.resize(counts.n);
    }
    if (backward) {
      v.resize(counts.n);
      ubar.resize(counts.n);
      grad_coeffs.resize(counts.coeffs);
      grad_rhs.resize(counts.rhs);
      grad_iv.resize(std::max<std::int64_t>(counts.iv, 1));
      grad_steps.resize(counts.steps);
    }
  }
  // Use a kept factorisation's packed inputs and solution for this group.
  void bind(const typename Factorization<T>::Storage& storage, std::int64_t group) {
    bind_block(storage, storage.base(group));
  }
  // The same, in a block laid out as the factorisation's (the staging block of forward).
  void bind_block(const typename Factorization<T>::Storage& storage, P* base) {
    in = storage.inputs_at(base);
    u = storage.u_at(base);
    eps = storage.eps_at(base);
  }
  // Packs the upstream gradient; true when it may hold a non-finite value.
  bool gather_upstream(const Sizes& z, const T* grad_u, const T* grad_eps, std::int64_t b0, int valid) {
    P probe = gather_upstream_u(z, grad_u, b0, valid, ubar.data());
    for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
      ebar[lane] = grad_eps ? grad_eps[b0 + std::min(lane, valid - 1)] : T(0);
    probe += ebar * T(0);
    return probe_failed(probe);
  }
  Factors<P> local_factors() { return {env.data(), inverse_diagonal.data(), q.data(), &schur}; }
  SystemInputs<P> inputs() const { return in; }

  // Packs the inputs of elements b0 .. b0+valid-1 (rhs and iv only with `values_only`: a re-solve);
  // returns true when one of them may be invalid (a non-finite value or a step that is not
  // positive), to be checked in detail.
  bool gather_inputs(const Counts& c, const BatchInputs<T>& source, std::int64_t b0, int valid,
                     bool values_only = false) {
    P probe = gather(source.rhs, c.rhs, b0, valid, const_cast<P*>(in.rhs));
    if (c.iv > 0) probe += gather(source.iv, c.iv, b0, valid, const_cast<P*>(in.iv));
    if (values_only) return probe_failed(probe);
    P* steps = const_cast<P*>(in.steps);
    probe += gather(source.coeffs, c.coeffs, b0, valid, const_cast<P*>(in.coeffs));
    probe += gather(source.steps, c.steps, b0, valid, steps);
    P smallest = splat<P>(T(1));
    for (std::int64_t i = 0; i < c.steps; ++i) smallest = steps[i] < smallest ? steps[i] : smallest;
    for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
      if (!(smallest[lane] > 0)) return true;
    return probe_failed(probe);
  }
};

// D and K fixed at compile time for the common small systems, one table for every formulation: the
// row generator unrolls, and the factorisation and substitutions of interior blocks run the
// fixed-size code (solvers/neurlp_fixed_size.h). Other sizes run the runtime-bounded code.
template <class Body>
auto with_fixed_dims(const Sizes& z, Body&& body) {
  switch (z.D * 16 + z.K) {
    case 1 * 16 + 2: return body.template operator()<1, 2>();
    case 1 * 16 + 3: return body.template operator()<1, 3>();
    case 1 * 16 + 4: return body.template operator()<1, 4>();
    case 1 * 16 + 5: return body.template operator()<1, 5>();
    case 2 * 16 + 3: return body.template operator()<2, 3>();
    case 3 * 16 + 2: return body.template operator()<3, 2>();
    case 3 * 16 + 3: return body.template operator()<3, 3>();
    case 3 * 16 + 4: return body.template operator()<3, 4>();
    default: break;
  }
  return body.template operator()<0, 0>();
}

inline std::int64_t worker_count(std::int64_t groups) {
  return std::max<std::int64_t>(1, std::min<std::int64_t>(get_num_threads(), groups));
}

template <class T>
constexpr int lane_width() {
  return LaneTraits<typename PackOf<T>::type>::width;
}

template <class T, class P>
void scatter_eps(const P& eps, std::int64_t b0, int valid, T* out) {
  if (!out) return;
  for (int lane = 0; lane < valid; ++lane) out[b0 + lane] = eps[lane];
}

template <class T>
void scatter_gradients(GroupWork<T>& work, const Counts& c, const BatchGradients<T>& out,
                       std::int64_t b0, int valid) {
  if (out.coeffs) scatter(work.grad_coeffs.data(), c.coeffs, b0, valid, out.coeffs);
  if (out.rhs) scatter(work.grad_rhs.data(), c.rhs, b0, valid, out.rhs);
  if (out.iv && c.iv > 0) scatter(work.grad_iv.data(), c.iv, b0, valid, out.iv);
  if (out.steps) scatter(work.grad_steps.data(), c.steps, b0, valid, out.steps);
}

template <class T>
SystemGradients<typename PackOf<T>::type> pack_gradients(GroupWork<T>& work) {
  return {work.grad_coeffs.data(), work.grad_rhs.data(), work.grad_iv.data(), work.grad_steps.data()};
}

// Runs body(group, b0, valid) for every group of lanes, groups handed out one at a time from a
// shared counter (one workspace per thread, made by `make_work`): on a loaded machine a
// descheduled thread then delays only its current group, not a fixed share of the batch. Throws
// the first failure recorded in `errors` afterwards.
template <class T, class MakeWork, class Body>
void for_each_group(std::int64_t batch, MakeWork&& make_work, Body&& body) {
  constexpr int width = lane_width<T>();
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  std::atomic<std::int64_t> next_group{0};
  parallel_for(0, worker_count(groups), 1, [&](std::int64_t, std::int64_t) {
    auto work = make_work();
    for (std::int64_t group; (group = next_group.fetch_add(1)) < groups;) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      body(*work, group, b0, valid, errors[group]);
    }
  });
  throw_first(errors);
}

// ---- the entry points, for one row policy ---------------------------------------------------

template <class Rows, class T>
std::shared_ptr<Factorization<T>> forward_with(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u,
                                               T* eps, bool keep_factors) {
  using P = typename PackOf<T>::type;
  std::shared_ptr<Factorization<T>> kept;
  std::unique_ptr<EnvelopePlan> local_plan;
  if (keep_factors) kept = std::make_shared<Factorization<T>>(z, batch);
  else local_plan = std::make_unique<EnvelopePlan>(z);
  const EnvelopePlan& plan = kept ? kept->plan() : *local_plan;
  const Envelope envelope = plan.envelope();
  const Counts counts(z);
  // With kept factors and a policy that asks for it (Rows::kStageKeptFactors), each group is solved
  // in a staging block laid out as the factorisation's (reused by every group of this thread) and
  // then streamed to its block with non-temporal stores: writing the factors straight into cold
  // memory would first read every line of it from memory (measured for mnn: most of the
  // difference between the kept and fused paths). hermite4 measured faster solving in place in
  // its block (bench_solver --threads 1 --cpu-time, B = 256, T = 1000: forward 30 ms in place, 37
  // ms staged). The staging block comes from the host block cache too.
  // The streamed stores are fenced once, when the thread is done with its groups (a fence per
  // group would wait for each group's copy to drain instead of overlapping it with the next solve).
  struct Work {
    GroupWork<T> group;
    RawBlock staging;
    Work(const Counts& counts, std::int64_t envelope_size, bool local)
        : group(counts, envelope_size, local, local, false) {}
    ~Work() {
      if (staging.get()) stream_fence();
    }
  };
  for_each_group<T>(
      batch,
      [&] {
        auto work = std::make_unique<Work>(counts, plan.size(), !kept);
        if (kept && Rows::kStageKeptFactors) {
          work->staging = take_block(kept->storage().block * sizeof(P));
          work->group.bind_block(kept->storage(), static_cast<P*>(work->staging.get()));
        }
        return work;
      },
      [&](Work& work_and_staging, std::int64_t group, std::int64_t b0, int valid, GroupError& error) {
        GroupWork<T>& work = work_and_staging.group;
        P* staging = static_cast<P*>(work_and_staging.staging.get());
        if (kept && !staging) work.bind(kept->storage(), group);
        if (work.gather_inputs(counts, in, b0, valid) && !validate_group(z, counts, in, b0, valid, error)) return;
        const Factors<P> factors = kept ? kept->storage().factors_at(staging ? staging : kept->storage().base(group)) : work.local_factors();
        const FactorStatus status = with_fixed_dims(z, [&]<int FD, int FK>() {
          return Sweeps<Rows, FD, FK>::forward(z, envelope, work.inputs(), *work.row, factors, work.u, work.eps);
        });
        if (status.status != Status::Ok) {
          error = {b0 + std::min(status.lane, valid - 1), factor_message(z, status, sizeof(T) == 4)};
          return;
        }
        scatter_solution(z, work.u, b0, valid, u);
        scatter_eps(*work.eps, b0, valid, eps);
        if (kept && staging) {
          stream_copy(staging, kept->storage().block, kept->storage().base(group));
        }
      });
  return kept;
}

template <class Rows, class T>
void resolve_with(const Factorization<T>& kept, const BatchInputs<T>& in, T* u, T* eps) {
  using P = typename PackOf<T>::type;
  const Sizes& z = kept.sizes();
  const Envelope envelope = kept.plan().envelope();
  const Counts counts(z);
  for_each_group<T>(
      kept.batch(), [&] { return std::make_unique<GroupWork<T>>(counts, 0, false, true, false); },
      [&](GroupWork<T>& work, std::int64_t group, std::int64_t b0, int valid, GroupError& error) {
        // The forward's packed coefficients and steps, with this call's rhs and initial values.
        SystemInputs<P> inputs = kept.storage().inputs(group);
        inputs.rhs = work.in.rhs;
        inputs.iv = work.in.iv;
        if (work.gather_inputs(counts, in, b0, valid, true) && !validate_group(z, counts, in, b0, valid, error))
          return;
        Sweeps<Rows>::assemble_rhs(z, inputs, *work.row, work.u);
        Sweeps<Rows>::solve_with_factors(z, envelope, kept.storage().factors(group), work.u, work.eps);
        scatter_solution(z, work.u, b0, valid, u);
        scatter_eps(*work.eps, b0, valid, eps);
      });
}

template <class Rows, class T>
void backward_with(const Factorization<T>& kept, const T* grad_u, const T* grad_eps, const BatchGradients<T>& out) {
  using P = typename PackOf<T>::type;
  const Sizes& z = kept.sizes();
  const Envelope envelope = kept.plan().envelope();
  const Counts counts(z);
  for_each_group<T>(
      kept.batch(), [&] { return std::make_unique<GroupWork<T>>(counts, 0, false, false, true); },
      [&](GroupWork<T>& work, std::int64_t group, std::int64_t b0, int valid, GroupError& error) {
        if (work.gather_upstream(z, grad_u, grad_eps, b0, valid) &&
            !validate_upstream_group(z, counts, grad_u, grad_eps, b0, valid, error))
          return;
        // The packed inputs and solution kept by forward.
        work.bind(kept.storage(), group);
        const Factors<P> factors = kept.storage().factors(group);
        with_fixed_dims(z, [&]<int FD, int FK>() {
          Sweeps<Rows, FD, FK>::backward(z, envelope, work.inputs(), *work.row, factors, work.u, *work.eps,
                                         work.ubar.data(), work.ebar, work.v.data(), pack_gradients(work));
        });
        scatter_gradients(work, counts, out, b0, valid);
      });
}

template <class Rows, class T>
void forward_backward_with(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u, T* eps,
                           const T* grad_u, const T* grad_eps, const BatchGradients<T>& out) {
  const EnvelopePlan plan(z);
  const Envelope envelope = plan.envelope();
  const Counts counts(z);
  for_each_group<T>(
      batch, [&] { return std::make_unique<GroupWork<T>>(counts, plan.size(), true, true, true); },
      [&](GroupWork<T>& work, std::int64_t, std::int64_t b0, int valid, GroupError& error) {
        if (work.gather_inputs(counts, in, b0, valid) && !validate_group(z, counts, in, b0, valid, error)) return;
        if (work.gather_upstream(z, grad_u, grad_eps, b0, valid) &&
            !validate_upstream_group(z, counts, grad_u, grad_eps, b0, valid, error))
          return;
        const auto factors = work.local_factors();
        // ubar (gathered above) is overwritten with v.
        const FactorStatus status = with_fixed_dims(z, [&]<int FD, int FK>() {
          return Sweeps<Rows, FD, FK>::forward_backward(z, envelope, work.inputs(), *work.row, factors, work.u,
                                                        work.eps, work.ubar.data(), work.ebar, pack_gradients(work));
        });
        if (status.status != Status::Ok) {
          error = {b0 + std::min(status.lane, valid - 1), factor_message(z, status, sizeof(T) == 4)};
          return;
        }
        if (u) scatter_solution(z, work.u, b0, valid, u);
        scatter_eps(*work.eps, b0, valid, eps);
        scatter_gradients(work, counts, out, b0, valid);
      });
}

}  // namespace driver

// The entry points of one row policy, instantiated once per policy and dtype (the policies in
// separate translation units: see neurlp_batch_driver.h).
#define MECH_NEURLP_DRIVER_INSTANTIATE(PREFIX, Rows, T)                                                          \
  PREFIX template std::shared_ptr<Factorization<T>> driver::forward_with<Rows, T>(                              \
      const Sizes&, std::int64_t, const BatchInputs<T>&, T*, T*, bool);                                         \
  PREFIX template void driver::resolve_with<Rows, T>(const Factorization<T>&, const BatchInputs<T>&, T*, T*);    \
  PREFIX template void driver::backward_with<Rows, T>(const Factorization<T>&, const T*, const T*,              \
                                                      const BatchGradients<T>&);                                \
  PREFIX template void driver::forward_backward_with<Rows, T>(const Sizes&, std::int64_t, const BatchInputs<T>&, \
                                                              T*, T*, const T*, const T*, const BatchGradients<T>&);

}  // namespace mech::neurlp_core
