// The CPU batch driver of hermite4 (see hermite4_batch.h): validation, lane-pack gather/scatter
// (the latent derivative dropped on the way out, a zero upstream gradient put in its place on the
// way in), batch-parallel loops and error messages around hermite4_system.h.
#include "solvers/hermite4_batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/host_cache.h"
#include "core/parallel.h"

namespace mech::neurlp_core::hermite4 {

namespace {

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

struct Counts {
  std::int64_t coeffs, rhs, iv, steps, u, n;
  explicit Counts(const Sizes& z)
      : coeffs(std::int64_t(z.E) * z.T * z.D * z.K),
        rhs(std::int64_t(z.E) * z.T),
        iv(std::int64_t(z.S) * z.D * z.n_iv),
        steps(std::int64_t(z.T - 1) * z.D),
        u(std::int64_t(z.T) * z.D * z.K),
        n(latent_unknowns(z)) {}
};

// Transposes an 8 x 8 block of float64 in registers: in[r][c] -> out[c][r], by three rounds of
// pairwise interleaving (elements, pairs, quads). Lets the batch-major <-> lane-pack copies use
// full-width loads and stores instead of one scalar access per element.
#if MECH_NEURLP_PACK_BYTES == 64
inline void transpose_block(PackF64 (&r)[8]) {
  PackF64 a[8], b[8];
  for (int k = 0; k < 8; k += 2) {
    a[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    a[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int k = 0; k < 8; k += 4) {
    b[k] = __builtin_shufflevector(a[k], a[k + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    b[k + 1] = __builtin_shufflevector(a[k + 1], a[k + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    b[k + 2] = __builtin_shufflevector(a[k], a[k + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    b[k + 3] = __builtin_shufflevector(a[k + 1], a[k + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = __builtin_shufflevector(b[k], b[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[k + 4] = __builtin_shufflevector(b[k], b[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}
constexpr bool kBlockTranspose = true;
#else
inline void transpose_block(PackF64 (&)[8]) {}
constexpr bool kBlockTranspose = false;
#endif

// dest[i][lane] = source[element(lane) * count + i]; padding lanes repeat the last valid element.
// Returns the sum of value * 0: NaN in a lane iff that lane saw a non-finite value, so the
// message-building validation only runs for a group that holds one.
template <class T, class P>
P gather(const T* source, std::int64_t count, std::int64_t b0, int valid, P* dest) {
  constexpr int width = LaneTraits<P>::width;
  const T* lanes[width];
  for (int lane = 0; lane < width; ++lane) lanes[lane] = source + (b0 + std::min(lane, valid - 1)) * count;
  P probe{};
  std::int64_t i = 0;
  if constexpr (std::is_same_v<P, PackF64> && kBlockTranspose) {
    for (; i + 8 <= count; i += 8) {
      PackF64 block[8];
      for (int lane = 0; lane < 8; ++lane) std::memcpy(&block[lane], lanes[lane] + i, sizeof(PackF64));
      transpose_block(block);
      for (int k = 0; k < 8; ++k) {
        dest[i + k] = block[k];
        probe += block[k] * T(0);
      }
    }
  }
  for (; i < count; ++i) {
    P value{};
    for (int lane = 0; lane < width; ++lane) value[lane] = lanes[lane][i];
    dest[i] = value;
    probe += value * T(0);
  }
  return probe;
}

template <class P>
bool probe_failed(const P& probe) {
  for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
    if (probe[lane] != probe[lane]) return true;
  return false;
}

template <class T, class P>
void scatter(const P* source, std::int64_t count, std::int64_t b0, int valid, T* dest) {
  std::int64_t i = 0;
  if constexpr (std::is_same_v<P, PackF64> && kBlockTranspose) {
    if (valid == 8) {
      T* lanes[8];
      for (int lane = 0; lane < 8; ++lane) lanes[lane] = dest + (b0 + lane) * count;
      for (; i + 8 <= count; i += 8) {
        PackF64 block[8];
        for (int k = 0; k < 8; ++k) block[k] = source[i + k];
        transpose_block(block);
        for (int lane = 0; lane < 8; ++lane) std::memcpy(lanes[lane] + i, &block[lane], sizeof(PackF64));
      }
    }
  }
  for (int lane = 0; lane < valid; ++lane) {
    T* out = dest + (b0 + lane) * count;
    for (std::int64_t j = i; j < count; ++j) out[j] = source[j][lane];
  }
}

// u (T,D,K) of each lane from the latent solution (T,D,K+1).
template <class T, class P>
void scatter_solution(const Sizes& z, const P* y, std::int64_t b0, int valid, T* u) {
  const int K = z.K, L = K + 1;
  const std::int64_t rows = std::int64_t(z.T) * z.D, count = rows * K;
  for (int lane = 0; lane < valid; ++lane) {
    T* out = u + (b0 + lane) * count;
    for (std::int64_t r = 0; r < rows; ++r)
      for (int k = 0; k < K; ++k) out[r * K + k] = y[r * L + k][lane];
  }
}

// ubar (T,D,K+1) packed from grad_u (T,D,K), zero on the latent column; returns the NaN probe.
template <class T, class P>
P gather_upstream(const Sizes& z, const T* grad_u, std::int64_t b0, int valid, P* ubar) {
  constexpr int width = LaneTraits<P>::width;
  const int K = z.K, L = K + 1;
  const std::int64_t rows = std::int64_t(z.T) * z.D, count = rows * K;
  const T* lanes[width];
  for (int lane = 0; lane < width; ++lane) lanes[lane] = grad_u + (b0 + std::min(lane, valid - 1)) * count;
  P probe{};
  for (std::int64_t r = 0; r < rows; ++r) {
    for (int k = 0; k < K; ++k) {
      P value{};
      for (int lane = 0; lane < width; ++lane) value[lane] = lanes[lane][r * K + k];
      ubar[r * L + k] = value;
      probe += value * T(0);
    }
    ubar[r * L + K] = P{};
  }
  return probe;
}

template <class T>
std::string first_bad(const Sizes& z, const Counts& c, const BatchInputs<T>& in, std::int64_t b) {
  auto finite = [](const T* data, std::int64_t count, const char* name) -> std::string {
    for (std::int64_t i = 0; i < count; ++i)
      if (!std::isfinite(data[i])) return fmt::format("{} holds a non-finite value ({}) at flat index {}", name, data[i], i);
    return {};
  };
  std::string bad = finite(in.coeffs + b * c.coeffs, c.coeffs, "coeffs");
  if (bad.empty()) bad = finite(in.rhs + b * c.rhs, c.rhs, "rhs");
  if (bad.empty() && c.iv > 0) bad = finite(in.iv + b * c.iv, c.iv, "iv");
  if (!bad.empty()) return bad;
  const T* steps = in.steps + b * c.steps;
  for (std::int64_t i = 0; i < c.steps; ++i)
    if (!(std::isfinite(steps[i]) && steps[i] > 0))
      return fmt::format("step size at [t={}, d={}] is {}; expected a positive finite value", i / z.D, i % z.D,
                         steps[i]);
  return {};
}

std::string factor_message(const Sizes& z, const FactorStatus& status, bool single) {
  const int L = latent_width(z), m = latent_block(z);
  const int t = status.index / m, d = (status.index % m) / L, j = status.index % L;
  return fmt::format(
      "the hermite4 system is {} at t={} (Cholesky pivot of u[t={}][d={}][j={}] is {:.6g}, expected above "
      "{:.3g} x its diagonal {:.6g}); the equations must fix the highest derivative (c_P(t) != 0 at every t) "
      "and P initial values per dimension must be given{}",
      status.status == Status::PivotTiny ? "numerically singular" : "singular", t, t, d, j, status.pivot,
      single ? pivot_tolerance<float>() : pivot_tolerance<double>(), status.diagonal,
      single ? "; in float32 the normal equations also fail for small steps (use float64 or the direct solve)" : "");
}

struct GroupError {
  std::int64_t element = -1;
  std::string message;
};

void throw_first(const std::vector<GroupError>& errors) {
  for (const GroupError& error : errors)
    if (error.element >= 0)
      throw SolverError("neurlp hermite4: batch element " + std::to_string(error.element) + ": " + error.message,
                        error.element);
}

template <class T, class P>
bool gather_inputs(const Sizes& z, const Counts& c, const BatchInputs<T>& in, std::int64_t b0, int valid,
                   const SystemInputs<P>& dest, GroupError& error) {
  P probe = gather(in.coeffs, c.coeffs, b0, valid, const_cast<P*>(dest.coeffs));
  probe += gather(in.rhs, c.rhs, b0, valid, const_cast<P*>(dest.rhs));
  if (c.iv > 0) probe += gather(in.iv, c.iv, b0, valid, const_cast<P*>(dest.iv));
  P* steps = const_cast<P*>(dest.steps);
  probe += gather(in.steps, c.steps, b0, valid, steps);
  P smallest = splat<P>(T(1));
  for (std::int64_t i = 0; i < c.steps; ++i) smallest = steps[i] < smallest ? steps[i] : smallest;
  bool suspect = probe_failed(probe);
  for (int lane = 0; lane < LaneTraits<P>::width; ++lane)
    if (!(smallest[lane] > 0)) suspect = true;
  if (!suspect) return true;
  for (int lane = 0; lane < valid; ++lane) {
    std::string bad = first_bad(z, c, in, b0 + lane);
    if (!bad.empty()) {
      error = {b0 + lane, bad};
      return false;
    }
  }
  return true;
}

template <class T, class Body>
auto with_fixed_dims(const Sizes& z, Body&& body) {
  switch (z.D * 16 + z.K) {
    case 1 * 16 + 2: return body.template operator()<1, 2>();
    case 1 * 16 + 3: return body.template operator()<1, 3>();
    case 1 * 16 + 4: return body.template operator()<1, 4>();
    case 3 * 16 + 2: return body.template operator()<3, 2>();
    case 3 * 16 + 3: return body.template operator()<3, 3>();
    default: break;
  }
  return body.template operator()<0, 0>();
}

void check_inputs_present(const Sizes& z, const void* coeffs, const void* rhs, const void* iv, const void* steps) {
  MECH_CHECK(coeffs && rhs && steps, "neurlp hermite4: coeffs, rhs and steps must not be null");
  MECH_CHECK(iv || z.S * z.n_iv == 0, "neurlp hermite4: iv must not be null when S * n_iv > 0");
}

}  // namespace

template <class T>
std::string invalid_input(const Sizes& z, const BatchInputs<T>& in, std::int64_t b) {
  return first_bad(z, Counts(z), in, b);
}

void check_sizes(const Sizes& z, const char* op) {
  MECH_CHECK(z.formulation == Formulation::Hermite4, "{}: hermite4 driver called with another formulation", op);
  MECH_CHECK(z.T >= 2, "{}: expected at least 2 grid points, got T = {}", op, z.T);
  MECH_CHECK(z.D >= 1 && z.E >= 1, "{}: expected D >= 1 and E >= 1, got D = {}, E = {}", op, z.D, z.E);
  MECH_CHECK(z.K >= 2 && z.K - 1 <= kMaxOrder, "{}: expected an order P = K-1 in 1..{}, got K = {}", op,
             kMaxOrder, z.K);
  MECH_CHECK(z.D * (z.K + 1) <= kMaxRowEntries,
             "{}: hermite4 keeps D*(K+1) unknowns per time block; expected at most {}, got D = {}, K = {}", op,
             kMaxRowEntries, z.D, z.K);
  MECH_CHECK(z.S >= 0 && z.S <= z.T && z.n_iv >= 0 && z.n_iv < z.K,
             "{}: expected 0 <= S <= T and 0 <= n_iv < K = {}, got S = {}, n_iv = {}", op, z.K, z.S, z.n_iv);
  MECH_CHECK(std::isfinite(z.equation_weight) && std::isfinite(z.initial_weight) && std::isfinite(z.smooth_weight) &&
                 z.equation_weight > 0 && z.initial_weight > 0 && z.smooth_weight > 0,
             "{}: row weights must be positive and finite, got equation {}, initial {}, step {}", op,
             z.equation_weight, z.initial_weight, z.smooth_weight);
  MECH_CHECK(latent_unknowns(z) < (std::int64_t(1) << 30), "{}: T*D*(K+1) = {} unknowns per system is too large",
             op, latent_unknowns(z));
  if (row_count(z) < latent_unknowns(z))
    throw SolverError(fmt::format("{}: batch element 0: the hermite4 system has {} rows for {} unknowns and is "
                                  "singular (E = {} equations, S*n_iv = {} initial values per dimension; it needs "
                                  "E >= D and P = {} initial values)",
                                  op, row_count(z), latent_unknowns(z), z.E, z.S * z.n_iv, z.K - 1),
                      0);
}

Plan::Plan(const Sizes& z) {
  const int n = static_cast<int>(latent_unknowns(z));
  first_.resize(n);
  offset_.resize(n);
  envelope_first_columns(z, first_.data());
  size_ = envelope_offsets(n, first_.data(), offset_.data());
}

// Storage blocks come from the host block cache (core/host_cache.h): a training loop frees and
// re-creates the factorisation every step, and fresh memory costs a page fault per 4 KiB
// (measured: 57 ms of allocation against a 26 ms solve at B = 256, T = 1000). Blocks are not
// zero-filled: forward writes every entry before reading it.
namespace {

using host_cache::Block;
using host_cache::take_block;

// Per-thread arrays for one group of lanes, carved from one pooled block (no zero-fill and no
// fresh page faults per call; every array is written before it is read). Sizes of 0 leave an
// array unused; inputs and solution may instead live in a kept Factorization.
template <class P>
struct Work {
  P *coeffs = nullptr, *rhs = nullptr, *iv = nullptr, *steps = nullptr, *y = nullptr, *env = nullptr,
    *inverse_diagonal = nullptr, *v = nullptr, *ubar = nullptr, *g_coeffs = nullptr, *g_rhs = nullptr,
    *g_iv = nullptr, *g_steps = nullptr;
  std::unique_ptr<Row<P>> row = std::make_unique<Row<P>>();

  // inputs: coeffs, rhs, iv, steps; solve: y, env, 1/diag; backward: v, ubar and the gradients.
  Work(const Counts& c, bool inputs, std::int64_t env_size, bool solution, bool backward) {
    const std::int64_t iv_count = std::max<std::int64_t>(c.iv, 1);
    P** targets[] = {&coeffs, &rhs, &iv, &steps, &y, &env, &inverse_diagonal, &v, &ubar,
                     &g_coeffs, &g_rhs, &g_iv, &g_steps};
    const std::int64_t sizes[] = {inputs ? c.coeffs : 0, inputs ? c.rhs : 0, inputs ? iv_count : 0,
                                  inputs ? c.steps : 0, solution ? c.n : 0, env_size, env_size > 0 ? c.n : 0,
                                  backward ? c.n : 0, backward ? c.n : 0, backward ? c.coeffs : 0,
                                  backward ? c.rhs : 0, backward ? iv_count : 0, backward ? c.steps : 0};
    std::int64_t total = 0;
    for (std::int64_t size : sizes) total += size;
    block_ = take_block(static_cast<std::size_t>(std::max<std::int64_t>(total, 1)) * sizeof(P));
    P* cursor = static_cast<P*>(block_.get());
    for (int a = 0; a < 13; ++a) {
      if (sizes[a] > 0) *targets[a] = cursor;
      cursor += sizes[a];
    }
  }
  ~Work() = default;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

 private:
  Block block_;
};

}  // namespace

// Per group one block: env (plan size), 1/diag (n), y (n), then the packed inputs.
template <class T>
struct Factorization<T>::Storage {
  using P = typename PackOf<T>::type;
  std::int64_t groups = 0, env_size = 0, n = 0, coeffs = 0, rhs = 0, iv = 0, steps = 0, block = 0;
  std::vector<Block> blocks;
  P* base(std::int64_t g) const { return static_cast<P*>(blocks[g].get()); }
  P* env(std::int64_t g) const { return base(g); }
  P* inverse_diagonal(std::int64_t g) const { return base(g) + env_size; }
  P* y(std::int64_t g) const { return base(g) + env_size + n; }
  SystemInputs<P> inputs(std::int64_t g) const {
    P* p = base(g) + env_size + 2 * n;
    return {p, p + coeffs, p + coeffs + rhs, p + coeffs + rhs + iv};
  }
};

template <class T>
Factorization<T>::Factorization(const Sizes& sizes, std::int64_t batch)
    : sizes_(sizes), batch_(batch), plan_(sizes), storage_(std::make_unique<Storage>()) {
  using P = typename Storage::P;
  constexpr int width = LaneTraits<P>::width;
  const Counts c(sizes);
  Storage& s = *storage_;
  s.groups = (batch + width - 1) / width;
  s.env_size = plan_.size();
  s.n = c.n;
  s.coeffs = c.coeffs;
  s.rhs = c.rhs;
  s.iv = std::max<std::int64_t>(c.iv, 1);
  s.steps = c.steps;
  s.block = s.env_size + 2 * s.n + s.coeffs + s.rhs + s.iv + s.steps;
  s.blocks.resize(s.groups);
  for (auto& raw : s.blocks) raw = take_block(s.block * sizeof(P));
}

template <class T>
Factorization<T>::~Factorization() = default;

template <class T>
std::shared_ptr<Factorization<T>> forward_batch(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u,
                                                bool keep_factors) {
  using P = typename PackOf<T>::type;
  constexpr int width = LaneTraits<P>::width;
  hermite4::check_sizes(z, "neurlp");
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(batch >= 1, "neurlp: expected a batch of at least 1 system, got {}", batch);
  std::shared_ptr<Factorization<T>> kept;
  std::unique_ptr<Plan> local_plan;
  if (keep_factors) kept = std::make_shared<Factorization<T>>(z, batch);
  else local_plan = std::make_unique<Plan>(z);
  const Plan& plan = kept ? kept->plan() : *local_plan;
  const Envelope envelope = plan.envelope();
  const Counts c(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  parallel_for(0, groups, 1, [&](std::int64_t begin, std::int64_t end) {
    Work<P> work(c, !kept, kept ? 0 : plan.size(), !kept, false);
    for (std::int64_t group = begin; group < end; ++group) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      SystemInputs<P> inputs = kept ? kept->storage().inputs(group)
                                    : SystemInputs<P>{work.coeffs, work.rhs, work.iv, work.steps};
      P* env = kept ? kept->storage().env(group) : work.env;
      P* inverse_diagonal = kept ? kept->storage().inverse_diagonal(group) : work.inverse_diagonal;
      P* y = kept ? kept->storage().y(group) : work.y;
      if (!gather_inputs(z, c, in, b0, valid, inputs, errors[group])) continue;
      const FactorStatus status = with_fixed_dims<T>(z, [&]<int FD, int FK>() {
        return forward_system<FD, FK>(z, envelope, inputs, *work.row, env, inverse_diagonal, y);
      });
      if (status.status != Status::Ok) {
        errors[group] = {b0 + std::min(status.lane, valid - 1), factor_message(z, status, sizeof(T) == 4)};
        continue;
      }
      scatter_solution(z, y, b0, valid, u);
    }
  });
  throw_first(errors);
  return kept;
}

template <class T>
void resolve_batch(const Factorization<T>& kept, const BatchInputs<T>& in, T* u) {
  using P = typename PackOf<T>::type;
  constexpr int width = LaneTraits<P>::width;
  const Sizes& z = kept.sizes();
  const std::int64_t batch = kept.batch();
  MECH_CHECK(in.rhs && (in.iv || z.S * z.n_iv == 0) && u, "neurlp hermite4 resolve: null rhs, iv or u");
  const Envelope envelope = kept.plan().envelope();
  const Counts c(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  parallel_for(0, groups, 1, [&](std::int64_t begin, std::int64_t end) {
    Work<P> work(c, true, 0, true, false);
    for (std::int64_t group = begin; group < end; ++group) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      P probe = gather(in.rhs, c.rhs, b0, valid, work.rhs);
      if (c.iv > 0) probe += gather(in.iv, c.iv, b0, valid, work.iv);
      if (probe_failed(probe)) {
        for (int lane = 0; lane < valid && errors[group].element < 0; ++lane) {
          for (std::int64_t i = 0; i < c.rhs; ++i)
            if (!std::isfinite(in.rhs[(b0 + lane) * c.rhs + i])) errors[group] = {b0 + lane, "rhs holds a non-finite value"};
          for (std::int64_t i = 0; i < c.iv; ++i)
            if (!std::isfinite(in.iv[(b0 + lane) * c.iv + i])) errors[group] = {b0 + lane, "iv holds a non-finite value"};
        }
        if (errors[group].element >= 0) continue;
      }
      const auto& s = kept.storage();
      SystemInputs<P> inputs = s.inputs(group);   // the forward's coefficients and steps
      inputs.rhs = work.rhs;
      inputs.iv = work.iv;
      hermite4::assemble_rhs(z, inputs, *work.row, work.y);
      forward_substitute(static_cast<int>(c.n), envelope, s.env(group), s.inverse_diagonal(group), work.y);
      back_substitute(static_cast<int>(c.n), envelope, s.env(group), s.inverse_diagonal(group), work.y);
      scatter_solution(z, work.y, b0, valid, u);
    }
  });
  throw_first(errors);
}

template <class T>
void backward_batch(const Factorization<T>& kept, const T* grad_u, const BatchGradients<T>& out) {
  using P = typename PackOf<T>::type;
  constexpr int width = LaneTraits<P>::width;
  const Sizes& z = kept.sizes();
  const std::int64_t batch = kept.batch();
  MECH_CHECK(grad_u, "neurlp hermite4 backward: grad_u must not be null");
  const Envelope envelope = kept.plan().envelope();
  const Counts c(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  parallel_for(0, groups, 1, [&](std::int64_t begin, std::int64_t end) {
    Work<P> work(c, false, 0, false, true);
    for (std::int64_t group = begin; group < end; ++group) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      if (probe_failed(gather_upstream(z, grad_u, b0, valid, work.ubar))) {
        for (int lane = 0; lane < valid && errors[group].element < 0; ++lane)
          for (std::int64_t i = 0; i < c.u; ++i)
            if (!std::isfinite(grad_u[(b0 + lane) * c.u + i])) {
              errors[group] = {b0 + lane, fmt::format("the upstream gradient holds a non-finite value ({})",
                                                      grad_u[(b0 + lane) * c.u + i])};
              break;
            }
        if (errors[group].element >= 0) continue;
      }
      const auto& s = kept.storage();
      const SystemGradients<P> grads{work.g_coeffs, work.g_rhs, work.g_iv,
                                     work.g_steps};
      with_fixed_dims<T>(z, [&]<int FD, int FK>() {
        backward_system<FD, FK>(z, envelope, s.inputs(group), *work.row, s.env(group),
                                s.inverse_diagonal(group), s.y(group), work.ubar,
                                work.v, grads);
        return 0;
      });
      if (out.coeffs) scatter(work.g_coeffs, c.coeffs, b0, valid, out.coeffs);
      if (out.rhs) scatter(work.g_rhs, c.rhs, b0, valid, out.rhs);
      if (out.iv && c.iv > 0) scatter(work.g_iv, c.iv, b0, valid, out.iv);
      if (out.steps) scatter(work.g_steps, c.steps, b0, valid, out.steps);
    }
  });
  throw_first(errors);
}

template <class T>
void forward_backward_batch(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u, const T* grad_u,
                            const BatchGradients<T>& out) {
  // One pass per group: the factors stay in this thread's workspace (and in cache) between the
  // forward and the backward instead of going through a Factorization.
  using P = typename PackOf<T>::type;
  constexpr int width = LaneTraits<P>::width;
  hermite4::check_sizes(z, "neurlp");
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(batch >= 1, "neurlp: expected a batch of at least 1 system, got {}", batch);
  MECH_CHECK(grad_u, "neurlp hermite4 backward: grad_u must not be null");
  const Plan plan(z);
  const Envelope envelope = plan.envelope();
  const Counts c(z);
  const std::int64_t groups = (batch + width - 1) / width;
  std::vector<GroupError> errors(groups);
  parallel_for(0, groups, 1, [&](std::int64_t begin, std::int64_t end) {
    Work<P> work(c, true, plan.size(), true, true);
    const SystemInputs<P> inputs{work.coeffs, work.rhs, work.iv, work.steps};
    for (std::int64_t group = begin; group < end; ++group) {
      const std::int64_t b0 = group * width;
      const int valid = static_cast<int>(std::min<std::int64_t>(width, batch - b0));
      if (!gather_inputs(z, c, in, b0, valid, inputs, errors[group])) continue;
      if (probe_failed(gather_upstream(z, grad_u, b0, valid, work.ubar))) {
        for (int lane = 0; lane < valid && errors[group].element < 0; ++lane)
          for (std::int64_t i = 0; i < c.u; ++i)
            if (!std::isfinite(grad_u[(b0 + lane) * c.u + i])) {
              errors[group] = {b0 + lane, fmt::format("the upstream gradient holds a non-finite value ({})",
                                                      grad_u[(b0 + lane) * c.u + i])};
              break;
            }
        if (errors[group].element >= 0) continue;
      }
      const SystemGradients<P> grads{work.g_coeffs, work.g_rhs, work.g_iv,
                                     work.g_steps};
      const FactorStatus status = with_fixed_dims<T>(z, [&]<int FD, int FK>() {
        const FactorStatus result = forward_system<FD, FK>(z, envelope, inputs, *work.row, work.env,
                                                           work.inverse_diagonal, work.y);
        if (result.status == Status::Ok)
          backward_system<FD, FK>(z, envelope, inputs, *work.row, work.env, work.inverse_diagonal,
                                  work.y, work.ubar, work.v, grads);
        return result;
      });
      if (status.status != Status::Ok) {
        errors[group] = {b0 + std::min(status.lane, valid - 1), factor_message(z, status, sizeof(T) == 4)};
        continue;
      }
      scatter_solution(z, work.y, b0, valid, u);
      if (out.coeffs) scatter(work.g_coeffs, c.coeffs, b0, valid, out.coeffs);
      if (out.rhs) scatter(work.g_rhs, c.rhs, b0, valid, out.rhs);
      if (out.iv && c.iv > 0) scatter(work.g_iv, c.iv, b0, valid, out.iv);
      if (out.steps) scatter(work.g_steps, c.steps, b0, valid, out.steps);
    }
  });
  throw_first(errors);
}

#define MECH_HERMITE4_INSTANTIATE(T)                                                                         \
  template class Factorization<T>;                                                                           \
  template std::shared_ptr<Factorization<T>> forward_batch<T>(const Sizes&, std::int64_t, const BatchInputs<T>&, \
                                                              T*, bool);                                     \
  template void backward_batch<T>(const Factorization<T>&, const T*, const BatchGradients<T>&);              \
  template void resolve_batch<T>(const Factorization<T>&, const BatchInputs<T>&, T*);                        \
  template void forward_backward_batch<T>(const Sizes&, std::int64_t, const BatchInputs<T>&, T*, const T*,    \
                                          const BatchGradients<T>&);                                         \
  template std::string invalid_input<T>(const Sizes&, const BatchInputs<T>&, std::int64_t);
MECH_HERMITE4_INSTANTIATE(double)
MECH_HERMITE4_INSTANTIATE(float)

}  // namespace mech::neurlp_core::hermite4
