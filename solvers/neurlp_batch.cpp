// The CPU batch driver of NeuRLP (see neurlp_batch.h): validation, lane-pack gather/scatter,
// batch-parallel loops and error messages around the per-system code of neurlp_system.h.
#include "solvers/neurlp_batch.h"

#include <algorithm>
#include <atomic>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <cmath>
#include <cstring>
#include <type_traits>
#include <new>
#include <string>

#include "core/error.h"
#include "core/host_cache.h"
#include "core/parallel.h"

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

// ---- sizes and structure ---------------------------------------------------------------------

void check_sizes(const Sizes& z, const char* op) {
  MECH_CHECK(z.T >= 2, "{}: expected at least 2 grid points, got T = {}", op, z.T);
  MECH_CHECK(z.D >= 1 && z.E >= 1, "{}: expected D >= 1 and E >= 1, got D = {}, E = {}", op, z.D, z.E);
  MECH_CHECK(z.K >= 2 && z.K - 1 <= kMaxOrder, "{}: expected an order P = K-1 in 1..{}, got K = {}",
             op, kMaxOrder, z.K);
  MECH_CHECK(z.D * z.K <= kMaxRowEntries,
             "{}: expected D*K <= {} (one time block per equation row), got D = {}, K = {}", op,
             kMaxRowEntries, z.D, z.K);
  MECH_CHECK(z.S >= 0 && z.S <= z.T, "{}: expected 0 <= S <= T initial grid points, got S = {}, T = {}",
             op, z.S, z.T);
  MECH_CHECK(z.n_iv >= 0 && z.n_iv < z.K,
             "{}: expected 0 <= n_iv < K = {} initial derivatives, got n_iv = {}", op, z.K, z.n_iv);
  MECH_CHECK(z.formulation == Formulation::Mnn || z.formulation == Formulation::Scalable,
             "{}: hermite4 is solved by solvers/hermite4_batch.h, not by this driver", op);
  MECH_CHECK(std::isfinite(z.gamma_alpha), "{}: gamma*alpha must be finite, got {}", op, z.gamma_alpha);
  MECH_CHECK(std::isfinite(z.equation_weight) && std::isfinite(z.initial_weight) &&
                 std::isfinite(z.smooth_weight) && z.equation_weight > 0 && z.initial_weight > 0 &&
                 z.smooth_weight > 0,
             "{}: row weights must be positive and finite, got equation {}, initial {}, smooth {}",
             op, z.equation_weight, z.initial_weight, z.smooth_weight);
  MECH_CHECK(static_cast<std::int64_t>(z.T) * z.D * z.K < (std::int64_t(1) << 30),
             "{}: T*D*K = {} unknowns per system is too large", op,
             static_cast<std::int64_t>(z.T) * z.D * z.K);
}

EnvelopePlan::EnvelopePlan(const Sizes& z) {
  // The structure does not depend on values: run the row generator on ones.
  const int n = z.unknowns();
  const std::int64_t m = z.block();
  std::vector<double> coeffs(static_cast<std::size_t>(z.E) * z.T * m, 1.0);
  std::vector<double> rhs(static_cast<std::size_t>(z.E) * z.T, 1.0);
  std::vector<double> iv(static_cast<std::size_t>(std::max(1, z.S * z.D * z.n_iv)), 1.0);
  std::vector<double> steps(static_cast<std::size_t>(z.T - 1) * z.D, 1.0);
  SystemInputs<double> in{coeffs.data(), rhs.data(), iv.data(), steps.data()};
  auto row = std::make_unique<Row<double>>();
  first_.resize(n);
  offset_.resize(n);
  envelope_first_columns(z, in, *row, first_.data());
  size_ = envelope_offsets(n, first_.data(), offset_.data());
}

// ---- storage ---------------------------------------------------------------------------------

// Factor storage and workspaces are large (tens of MB for B = 256, T = 1000) and a training loop
// frees and reallocates them every step: they come from the host block cache (core/host_cache.h),
// which hands freed blocks of the same size back instead of fresh pages from the kernel.
namespace {

using RawBlock = host_cache::Block;
using host_cache::take_block;

}  // namespace

// One block per group of lanes, not zero-filled (forward writes every entry before it is read).
// Besides the factors it keeps the packed inputs and solution of the forward, so that backward
// does not transpose them into lane packs again.
template <class T>
struct Factorization<T>::Storage {
  using P = typename PackOf<T>::type;
  std::int64_t groups = 0, n = 0, envelope_size = 0, block = 0;
  std::int64_t coeffs = 0, rhs = 0, iv = 0, steps = 0;   // per-system input sizes
  bool border = false;
  std::vector<RawBlock> blocks;

  P* base(std::int64_t group) const { return static_cast<P*>(blocks[group].get()); }
  // The layout of one block, from its first pack.
  Factors<P> factors_at(P* b) const {
    return {b, b + envelope_size, border ? b + envelope_size + n : nullptr,
            border ? b + envelope_size + 2 * n : nullptr};
  }
  // Packed inputs, then u (n), then eps (1).
  SystemInputs<P> inputs_at(P* b) const {
    P* p = b + envelope_size + 2 * n + 1;
    return {p, p + coeffs, p + coeffs + rhs, p + coeffs + rhs + iv};
  }
  P* u_at(P* b) const { return b + envelope_size + 2 * n + 1 + coeffs + rhs + iv + steps; }
  P* eps_at(P* b) const { return u_at(b) + n; }
  Factors<P> factors(std::int64_t group) const { return factors_at(base(group)); }
  SystemInputs<P> inputs(std::int64_t group) const { return inputs_at(base(group)); }
  P* u(std::int64_t group) const { return u_at(base(group)); }
  P* eps(std::int64_t group) const { return eps_at(base(group)); }
};

template <class T>
Factorization<T>::Factorization(const Sizes& sizes, std::int64_t batch)
    : sizes_(sizes), batch_(batch), plan_(sizes), storage_(std::make_unique<Storage>()) {
  using P = typename Storage::P;
  constexpr int width = LaneTraits<P>::width;
  Storage& s = *storage_;
  s.groups = (batch + width - 1) / width;
  s.n = sizes.unknowns();
  s.envelope_size = plan_.size();
  s.border = sizes.has_eps();
  s.coeffs = static_cast<std::int64_t>(sizes.E) * sizes.T * sizes.D * sizes.K;
  s.rhs = static_cast<std::int64_t>(sizes.E) * sizes.T;
  s.iv = std::max<std::int64_t>(1, static_cast<std::int64_t>(sizes.S) * sizes.D * sizes.n_iv);
  s.steps = static_cast<std::int64_t>(sizes.T - 1) * sizes.D;
  s.block = s.envelope_size + 2 * s.n + 1 + s.coeffs + s.rhs + s.iv + s.steps + s.n + 1;
  s.blocks.resize(s.groups);
  for (auto& raw : s.blocks) raw = take_block(s.block * sizeof(P));
}

template <class T>
Factorization<T>::~Factorization() = default;

template <class T>
std::int64_t Factorization<T>::bytes() const {
  using P = typename Storage::P;
  return storage_->groups * storage_->block * static_cast<std::int64_t>(sizeof(P));
}

namespace {

// ---- gather / scatter between (B, ...) arrays and lane packs ---------------------------------

// Copies packs with non-temporal stores where the target has them (no read of the destination's
// cache lines first); the destination is 64-byte aligned (pool blocks are).
template <class P>
void stream_copy(const P* source, std::int64_t count, P* dest) {
#if defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64
  static_assert(sizeof(P) == 64);
  for (std::int64_t i = 0; i < count; ++i) {
    __m512d value;
    std::memcpy(&value, source + i, 64);
    _mm512_stream_pd(reinterpret_cast<double*>(dest + i), value);
  }
#else
  std::memcpy(static_cast<void*>(dest), static_cast<const void*>(source), count * sizeof(P));
#endif
}

inline void stream_fence() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

// In-register 8x8 transpose of float64 packs (three shuffle stages): row r of the input becomes
// lane r of every output. Turns the batch-major <-> lane-interleaved copies into full-width loads,
// shuffles and stores instead of one scalar access per element.
inline void transpose8(PackF64 (&r)[8]) {
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
#else
  PackF64 copy[8];
  for (int i = 0; i < 8; ++i) copy[i] = r[i];
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) r[i][j] = copy[j][i];
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
  if constexpr (std::is_same_v<P, PackF64> && width == 8) {
    for (; i + 8 <= count; i += 8) {
      PackF64 block[8];
      for (int lane = 0; lane < 8; ++lane) std::memcpy(&block[lane], lanes[lane] + i, sizeof(PackF64));
      transpose8(block);
      for (int k = 0; k < 8; ++k) {
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
    if constexpr (std::is_same_v<P, PackF64> && width == 8) {
#if defined(__AVX512F__) && MECH_NEURLP_PACK_BYTES == 64
      // Every lane's row starting on a cache line (mech's tensors are 64-byte aligned, so this holds
      // whenever count is a multiple of 8): whole lines are written with non-temporal stores, which
      // skip reading each destination line from memory first (outputs are written once here).
      bool lines = count % 8 == 0;
      for (int lane = 0; lane < 8; ++lane) lines = lines && reinterpret_cast<std::uintptr_t>(lanes[lane]) % 64 == 0;
      if (lines) {
        for (; i + 8 <= count; i += 8) {
          PackF64 block[8];
          for (int k = 0; k < 8; ++k) block[k] = source[i + k];
          transpose8(block);
          for (int lane = 0; lane < 8; ++lane) {
            __m512d value;
            std::memcpy(&value, &block[lane], 64);
            _mm512_stream_pd(lanes[lane] + i, value);
          }
        }
        stream_fence();
        return;
      }
#endif
      for (; i + 8 <= count; i += 8) {
        PackF64 block[8];
        for (int k = 0; k < 8; ++k) block[k] = source[i + k];
        transpose8(block);
        for (int lane = 0; lane < 8; ++lane) std::memcpy(lanes[lane] + i, &block[lane], sizeof(PackF64));
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

struct Counts {
  std::int64_t coeffs, rhs, iv, steps, n;
  explicit Counts(const Sizes& z)
      : coeffs(static_cast<std::int64_t>(z.E) * z.T * z.D * z.K),
        rhs(static_cast<std::int64_t>(z.E) * z.T),
        iv(static_cast<std::int64_t>(z.S) * z.D * z.n_iv),
        steps(static_cast<std::int64_t>(z.T - 1) * z.D),
        n(z.unknowns()) {}
};

// ---- validation ------------------------------------------------------------------------------

std::string index_text(std::int64_t flat, std::initializer_list<std::pair<const char*, std::int64_t>> dims) {
  // Unravels a flat index over the named dimensions (innermost last).
  std::vector<std::pair<const char*, std::int64_t>> list(dims);
  std::vector<std::int64_t> values(list.size());
  for (std::size_t i = list.size(); i-- > 0;) {
    values[i] = flat % list[i].second;
    flat /= list[i].second;
  }
  std::string text = "[";
  for (std::size_t i = 0; i < list.size(); ++i)
    text += fmt::format("{}{}={}", i ? ", " : "", list[i].first, values[i]);
  return text + "]";
}

template <class T>
std::string first_non_finite(const T* data, std::int64_t count, std::int64_t& where) {
  for (std::int64_t i = 0; i < count; ++i)
    if (!std::isfinite(data[i])) {
      where = i;
      return fmt::format("{}", data[i]);
    }
  return {};
}

// Empty when system b of the batch is valid, else the reason.
template <class T>
std::string validate_system(const Sizes& z, const Counts& counts, const BatchInputs<T>& in,
                            std::int64_t b) {
  std::int64_t where = 0;
  std::string bad;
  if (!(bad = first_non_finite(in.coeffs + b * counts.coeffs, counts.coeffs, where)).empty())
    return fmt::format("coeffs holds a non-finite value ({}) at {}", bad,
                       index_text(where, {{"e", z.E}, {"t", z.T}, {"d", z.D}, {"k", z.K}}));
  if (!(bad = first_non_finite(in.rhs + b * counts.rhs, counts.rhs, where)).empty())
    return fmt::format("rhs holds a non-finite value ({}) at {}", bad,
                       index_text(where, {{"e", z.E}, {"t", z.T}}));
  if (counts.iv > 0 && !(bad = first_non_finite(in.iv + b * counts.iv, counts.iv, where)).empty())
    return fmt::format("iv holds a non-finite value ({}) at {}", bad,
                       index_text(where, {{"s", z.S}, {"d", z.D}, {"i", z.n_iv}}));
  const T* steps = in.steps + b * counts.steps;
  for (std::int64_t i = 0; i < counts.steps; ++i)
    if (!(std::isfinite(steps[i]) && steps[i] > 0))
      return fmt::format("step size at {} is {}; expected a positive finite value",
                         index_text(i, {{"t", z.T - 1}, {"d", z.D}}), steps[i]);
  return {};
}

std::string factor_message(const Sizes& z, const FactorStatus& status, bool single_precision) {
  const double tolerance = single_precision ? pivot_tolerance<float>() : pivot_tolerance<double>();
  const std::string hint = fmt::format(
      "; check that the equations and initial values determine the solution (e.g. a non-zero "
      "coefficient of the highest derivative, enough initial values){}",
      single_precision ? ", and that the steps are not too small for float32 (use float64)" : "");
  if (status.status == Status::BorderNotPositive)
    return fmt::format("the eps border pivot a - w^T M_uu^{{-1}} w is {:.6g}, expected above {:.3g} x a = {:.6g} "
                       "(the eps column is numerically dependent on u){}",
                       status.pivot, tolerance, status.diagonal, hint);
  const int m = z.block();
  const int t = status.index / m, d = (status.index % m) / z.K, k = status.index % z.K;
  return fmt::format("the normal matrix is {} (the Cholesky pivot of u[t={}][d={}][k={}] is {:.6g}, "
                     "expected above {:.3g} x its diagonal {:.6g}){}",
                     status.status == Status::PivotTiny ? "numerically singular" : "singular or not positive definite",
                     t, d, k, status.pivot, tolerance, status.diagonal, hint);
}

// Per group: the first failure (lowest batch element), reported after the parallel loop.
struct GroupError {
  std::int64_t element = -1;
  std::string message;
};

[[noreturn]] void throw_first(const std::vector<GroupError>& errors) {
  for (const GroupError& error : errors)
    if (error.element >= 0) throw SolverError("neurlp: batch element " + std::to_string(error.element) + ": " + error.message, error.element);
  throw Error("neurlp: internal error: failure without a message");
}

bool any_error(const std::vector<GroupError>& errors) {
  for (const GroupError& error : errors)
    if (error.element >= 0) return true;
  return false;
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
  bool gather_upstream(const Counts& c, const T* grad_u, const T* grad_eps, std::int64_t b0, int valid) {
    P probe = gather(grad_u, c.n, b0, valid, ubar.data());
    for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
      ebar[lane] = grad_eps ? grad_eps[b0 + std::min(lane, valid - 1)] : T(0);
    probe += ebar * T(0);
    return probe_failed(probe);
  }
  Factors<P> local_factors() { return {env.data(), inverse_diagonal.data(), q.data(), &schur}; }
  SystemInputs<P> inputs() const { return in; }

  // Packs the inputs of elements b0 .. b0+valid-1; returns true when one of them may be invalid
  // (a non-finite value or a step that is not positive), to be checked in detail.
  bool gather_inputs(const Counts& c, const BatchInputs<T>& source, std::int64_t b0, int valid) {
    P* steps = const_cast<P*>(in.steps);
    P probe = gather(source.coeffs, c.coeffs, b0, valid, const_cast<P*>(in.coeffs));
    probe += gather(source.rhs, c.rhs, b0, valid, const_cast<P*>(in.rhs));
    if (c.iv > 0) probe += gather(source.iv, c.iv, b0, valid, const_cast<P*>(in.iv));
    probe += gather(source.steps, c.steps, b0, valid, steps);
    P smallest = splat<P>(T(1));
    for (std::int64_t i = 0; i < c.steps; ++i) smallest = steps[i] < smallest ? steps[i] : smallest;
    for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
      if (!(smallest[lane] > 0)) return true;
    return probe_failed(probe);
  }
};

// D and K fixed at compile time for the common small systems: the row generator unrolls, and the
// factorisation and substitutions of interior blocks run the fixed-size code of neurlp_system.h
// (InteriorProfile). Other sizes run the runtime-bounded code.
template <class T, class Body>
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

template <class T, class P>
FactorStatus forward_dispatch(const Sizes& z, const Envelope& envelope, const SystemInputs<P>& in, Row<P>& row,
                              const Factors<P>& factors, P* u, P* eps) {
  return with_fixed_dims<T>(z, [&]<int FD, int FK>() {
    return forward_system<FD, FK>(z, envelope, in, row, factors, u, eps);
  });
}

template <class T, class P>
void backward_dispatch(const Sizes& z, const Envelope& envelope, const SystemInputs<P>& in, Row<P>& row,
                       const Factors<P>& factors, const P* u, P eps, const P* ubar, P ebar, P* v,
                       const SystemGradients<P>& out) {
  with_fixed_dims<T>(z, [&]<int FD, int FK>() {
    backward_system<FD, FK>(z, envelope, in, row, factors, u, eps, ubar, ebar, v, out);
  });
}

// Groups are handed out one at a time from a shared counter (one workspace per thread): on a
// loaded machine a descheduled thread then delays only its current group, not a fixed half of
// the batch.
inline std::int64_t worker_count(std::int64_t groups) {
  return std::max<std::int64_t>(1, std::min<std::int64_t>(get_num_threads(), groups));
}

template <class T>
constexpr int lane_width() {
  return LaneTraits<typename PackOf<T>::type>::width;
}

// Validates the valid lanes of a group; records the first failure.
template <class T>
bool validate_group(const Sizes& z, const Counts& counts, const BatchInputs<T>& in, std::int64_t b0,
                    int valid, GroupError& error) {
  for (int lane = 0; lane < valid; ++lane) {
    std::string reason = validate_system(z, counts, in, b0 + lane);
    if (!reason.empty()) {
      error = {b0 + lane, reason};
      return false;
    }
  }
  return true;
}

template <class T>
bool validate_upstream(const Counts& counts, const T* grad_u, const T* grad_eps, std::int64_t b0,
                       int valid, GroupError& error) {
  for (int lane = 0; lane < valid; ++lane) {
    std::int64_t where = 0;
    std::string bad = first_non_finite(grad_u + (b0 + lane) * counts.n, counts.n, where);
    if (bad.empty() && grad_eps && !std::isfinite(grad_eps[b0 + lane])) bad = fmt::format("{}", grad_eps[b0 + lane]);
    if (!bad.empty()) {
      error = {b0 + lane, "the upstream gradient holds a non-finite value (" + bad + ")"};
      return false;
    }
  }
  return true;
}

template <class T, class P>
void scatter_eps(const P& eps, std::int64_t b0, int valid, T* out) {
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

void check_inputs_present(const Sizes& z, const void* coeffs, const void* rhs, const void* iv,
                          const void* steps) {
  MECH_CHECK(coeffs && rhs && steps, "neurlp: coeffs, rhs and steps must not be null");
  MECH_CHECK(iv || z.S * z.n_iv == 0, "neurlp: iv must not be null when S * n_iv > 0");
}

}  // namespace

// ---- the batch entry points ------------------------------------------------------------------

template <class T>
std::shared_ptr<Factorization<T>> forward_batch(const Sizes& z, std::int64_t batch,
                                                const BatchInputs<T>& in, T* u, T* eps,
                                                bool keep_factors) {
  using P = typename PackOf<T>::type;
  constexpr int width = lane_width<T>();
  check_sizes(z, "neurlp");
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(batch >= 1, "neurlp: expected a batch of at least 1 system, got {}", batch);
  std::shared_ptr<Factorization<T>> kept;
  std::unique_ptr<EnvelopePlan> local_plan;
  if (keep_factors) kept = std::make_shared<Factorization<T>>(z, batch);
  else local_plan = std::make_unique<EnvelopePlan>(z);
  const EnvelopePlan& plan = kept ? kept->plan() : *local_plan;
  const Envelope envelope = plan.envelope();
  const Counts counts(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  std::atomic<std::int64_t> next_group{0};
  parallel_for(0, worker_count(groups), 1, [&](std::int64_t, std::int64_t) {
    GroupWork<T> work(counts, plan.size(), !kept, !kept, false);
    // With kept factors, each group is solved in a staging block laid out as the factorisation's
    // (cache-resident, reused by every group of this thread) and then streamed to its block with
    // non-temporal stores: writing the factors straight into cold memory would first read every
    // line of it from memory (measured: most of the difference between the kept and fused paths).
    // The staging block comes from the host block cache too (same size as the factorisation's blocks).
    RawBlock staging_block = kept ? take_block(kept->storage().block * sizeof(P)) : RawBlock();
    P* staging = static_cast<P*>(staging_block.get());
    if (kept) work.bind_block(kept->storage(), staging);
    for (std::int64_t group; (group = next_group.fetch_add(1)) < groups;) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      if (work.gather_inputs(counts, in, b0, valid) && !validate_group(z, counts, in, b0, valid, errors[group]))
        continue;
      const Factors<P> factors = kept ? kept->storage().factors_at(staging) : work.local_factors();
      const FactorStatus status =
          forward_dispatch<T>(z, envelope, work.inputs(), *work.row, factors, work.u, work.eps);
      if (status.status != Status::Ok) {
        errors[group] = {b0 + std::min(status.lane, valid - 1), factor_message(z, status, sizeof(T) == 4)};
        continue;
      }
      scatter(work.u, counts.n, b0, valid, u);
      scatter_eps(*work.eps, b0, valid, eps);
      if (kept) stream_copy(staging, kept->storage().block, kept->storage().base(group));
    }
    stream_fence();
  });
  if (any_error(errors)) throw_first(errors);
  return kept;
}

template <class T>
void resolve_batch(const Factorization<T>& kept, const BatchInputs<T>& in, T* u, T* eps) {
  using P = typename PackOf<T>::type;
  constexpr int width = lane_width<T>();
  const Sizes& z = kept.sizes();
  const std::int64_t batch = kept.batch();
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  const Envelope envelope = kept.plan().envelope();
  const Counts counts(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  std::atomic<std::int64_t> next_group{0};
  parallel_for(0, worker_count(groups), 1, [&](std::int64_t, std::int64_t) {
    GroupWork<T> work(counts, 0, false, true, false);
    for (std::int64_t group; (group = next_group.fetch_add(1)) < groups;) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      if (work.gather_inputs(counts, in, b0, valid) && !validate_group(z, counts, in, b0, valid, errors[group]))
        continue;
      const Factors<P> factors = kept.storage().factors(group);
      assemble_rhs(z, work.inputs(), *work.row, work.u);
      solve_with_factors(z, envelope, factors, work.u, work.eps);
      scatter(work.u, counts.n, b0, valid, u);
      scatter_eps(*work.eps, b0, valid, eps);
    }
  });
  if (any_error(errors)) throw_first(errors);
}

template <class T>
void backward_batch(const Factorization<T>& kept, const BatchInputs<T>& in, const T* u,
                    const T* eps, const T* grad_u, const T* grad_eps,
                    const BatchGradients<T>& out) {
  using P = typename PackOf<T>::type;
  constexpr int width = lane_width<T>();
  const Sizes& z = kept.sizes();
  const std::int64_t batch = kept.batch();
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(u && eps && grad_u, "neurlp backward: u, eps and grad_u must not be null");
  const Envelope envelope = kept.plan().envelope();
  const Counts counts(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  std::atomic<std::int64_t> next_group{0};
  parallel_for(0, worker_count(groups), 1, [&](std::int64_t, std::int64_t) {
    // The packed inputs and solution kept by forward are used; `in`, `u` and `eps` must be the
    // ones forward saw (they are not read again).
    GroupWork<T> work(counts, 0, false, false, true);
    for (std::int64_t group; (group = next_group.fetch_add(1)) < groups;) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      if (work.gather_upstream(counts, grad_u, grad_eps, b0, valid) &&
          !validate_upstream(counts, grad_u, grad_eps, b0, valid, errors[group]))
        continue;
      work.bind(kept.storage(), group);
      const Factors<P> factors = kept.storage().factors(group);
      backward_dispatch<T>(z, envelope, work.inputs(), *work.row, factors, work.u, *work.eps,
                      work.ubar.data(), work.ebar, work.v.data(), pack_gradients(work));
      scatter_gradients(work, counts, out, b0, valid);
    }
  });
  if (any_error(errors)) throw_first(errors);
}

template <class T>
void forward_backward_batch(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u,
                            T* eps, const T* grad_u, const T* grad_eps,
                            const BatchGradients<T>& out) {
  constexpr int width = lane_width<T>();
  check_sizes(z, "neurlp");
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(batch >= 1, "neurlp: expected a batch of at least 1 system, got {}", batch);
  MECH_CHECK(grad_u, "neurlp backward: grad_u must not be null");
  const EnvelopePlan plan(z);
  const Envelope envelope = plan.envelope();
  const Counts counts(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  std::atomic<std::int64_t> next_group{0};
  parallel_for(0, worker_count(groups), 1, [&](std::int64_t, std::int64_t) {
    GroupWork<T> work(counts, plan.size(), true, true, true);
    for (std::int64_t group; (group = next_group.fetch_add(1)) < groups;) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      if (work.gather_inputs(counts, in, b0, valid) && !validate_group(z, counts, in, b0, valid, errors[group]))
        continue;
      if (work.gather_upstream(counts, grad_u, grad_eps, b0, valid) &&
          !validate_upstream(counts, grad_u, grad_eps, b0, valid, errors[group]))
        continue;
      const auto factors = work.local_factors();
      // ubar (gathered above) is overwritten with v.
      const FactorStatus status = with_fixed_dims<T>(z, [&]<int FD, int FK>() {
        return forward_backward_system<FD, FK>(z, envelope, work.inputs(), *work.row, factors, work.u, work.eps,
                                               work.ubar.data(), work.ebar, pack_gradients(work));
      });
      if (status.status != Status::Ok) {
        errors[group] = {b0 + std::min(status.lane, valid - 1), factor_message(z, status, sizeof(T) == 4)};
        continue;
      }
      if (u) scatter(work.u, counts.n, b0, valid, u);
      if (eps) scatter_eps(*work.eps, b0, valid, eps);
      scatter_gradients(work, counts, out, b0, valid);
    }
  });
  if (any_error(errors)) throw_first(errors);
}

#define MECH_NEURLP_INSTANTIATE(T)                                                              \
  template class Factorization<T>;                                                              \
  template std::shared_ptr<Factorization<T>> forward_batch<T>(const Sizes&, std::int64_t,       \
                                                              const BatchInputs<T>&, T*, T*, bool); \
  template void resolve_batch<T>(const Factorization<T>&, const BatchInputs<T>&, T*, T*);       \
  template void backward_batch<T>(const Factorization<T>&, const BatchInputs<T>&, const T*,     \
                                  const T*, const T*, const T*, const BatchGradients<T>&);      \
  template void forward_backward_batch<T>(const Sizes&, std::int64_t, const BatchInputs<T>&, T*, \
                                          T*, const T*, const T*, const BatchGradients<T>&);
MECH_NEURLP_INSTANTIATE(double)
MECH_NEURLP_INSTANTIATE(float)

}  // namespace mech::neurlp_core
