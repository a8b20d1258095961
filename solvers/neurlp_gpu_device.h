// What one GPU thread does for one NeuRLP system (solvers/neurlp_gpu.cu launches it once per system):
// find that system's slices of the batch-major arrays, validate its inputs, then run
// solvers/neurlp_system.h's forward or backward on them. Written __host__ __device__ so that
// tests/cuda/test_neurlp_emulation.cpp runs exactly this code on the CPU, system by system, and
// compares it with the CPU batch driver on machines without a GPU.
// Every formulation: the umbrella's entry points pick the rows (hermite4 solves into its latent
// array, with one more derivative than u returns). Inputs are checked with neurlp_errors.h's
// validator and failures worded by its messages, the CPU driver's.
// The parallel-in-time path has the same shape: one thread per (system, chunk) or per system for
// each phase of solvers/neurlp_chunked.h (the *_chunked_one functions below), with each chunk
// validating the inputs of the times it owns.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "solvers/lane_pack.h"  // MECH_HOST_DEVICE
#include "solvers/neurlp_batch.h"
#include "solvers/neurlp_chunked.h"
#include "solvers/neurlp_errors.h"
#include "solvers/neurlp_system.h"

namespace mech::neurlp_gpu {

using neurlp_core::BatchGradients;
using neurlp_core::BatchInputs;
using neurlp_core::Sizes;

// The op name every failure starts with: the CPU driver's, so a caller reads the same message
// whichever device solved the batch.
inline constexpr const char* kOp = "neurlp";

// Outcome of one system: kOk, a neurlp_core::Status of the factorisation, or a bad input
// (kBadInput + neurlp_core::InputFault, in the validator's order).
enum Outcome : int {
  kOk = 0,
  kPivotNotPositive = static_cast<int>(neurlp_core::Status::PivotNotPositive),
  kPivotTiny = static_cast<int>(neurlp_core::Status::PivotTiny),
  kBorderNotPositive = static_cast<int>(neurlp_core::Status::BorderNotPositive),
  kBadInput = 10,
  kBadCoefficient = kBadInput + static_cast<int>(neurlp_core::InputFault::Coefficient),
  kBadRhs = kBadInput + static_cast<int>(neurlp_core::InputFault::Rhs),
  kBadInitialValue = kBadInput + static_cast<int>(neurlp_core::InputFault::InitialValue),
  kBadStep = kBadInput + static_cast<int>(neurlp_core::InputFault::Step),
};

struct SystemStatus {
  int outcome;
  int index;      // the failing unknown, or the flat index of the bad input within the system
  double pivot;   // the failing pivot, or the bad input's value
  double diagonal;
};

MECH_HOST_DEVICE inline SystemStatus status_of(const neurlp_core::FactorStatus& factored) {
  return {static_cast<int>(factored.status), factored.index, factored.pivot, factored.diagonal};
}
MECH_HOST_DEVICE inline SystemStatus status_of(const neurlp_core::InputStatus& checked) {
  if (checked.fault == neurlp_core::InputFault::None) return {kOk, -1, 0.0, 0.0};
  return {kBadInput + static_cast<int>(checked.fault), static_cast<int>(checked.index), checked.value, 0.0};
}

// Per-system extents of the batch-major arrays (elements).
struct Strides {
  std::int64_t coeffs, rhs, iv, steps;
  std::int64_t solution;   // u and grad_u, (T,D,K)
  std::int64_t unknowns;   // the solve's unknowns n (hermite4: with its latent derivative)
  std::int64_t scratch;    // the backward's: v (n), and for hermite4 the padded upstream gradient (n)
};

inline Strides strides_of(const neurlp_core::Sizes& z) {
  const std::int64_t n = z.unknowns(), latent = z.formulation == neurlp_core::Formulation::Hermite4 ? n : 0;
  return {static_cast<std::int64_t>(z.E) * z.T * z.D * z.K,
          static_cast<std::int64_t>(z.E) * z.T,
          static_cast<std::int64_t>(z.S) * z.D * z.n_iv,
          static_cast<std::int64_t>(z.T - 1) * z.D,
          z.solution_size(),
          n,
          n + latent};
}

// The batch's device (or host) arrays, as the kernels receive them.
template <class T>
struct BatchArrays {
  BatchInputs<T> in;
  T* u;
  T* eps;
  T* env;               // batch * envelope.size
  T* inverse_diagonal;  // batch * n
  T* z2;                // batch * n, mnn only
  T* schur;             // batch, mnn only
  T* latent;            // batch * n, hermite4 only: the solution with its latent derivative (for the backward)
};

template <class T>
MECH_HOST_DEVICE inline neurlp_core::SystemInputs<T> system_inputs(const BatchInputs<T>& in, const Strides& s,
                                                                   std::int64_t b) {
  return {in.coeffs + b * s.coeffs, in.rhs + b * s.rhs, in.iv != nullptr ? in.iv + b * s.iv : nullptr,
          in.steps + b * s.steps};
}

template <class T>
MECH_HOST_DEVICE inline neurlp_core::Factors<T> system_factors(const neurlp_core::Sizes& z, const BatchArrays<T>& a,
                                                               const Strides& s, std::int64_t envelope_size,
                                                               std::int64_t b) {
  return {a.env + b * envelope_size, a.inverse_diagonal + b * s.unknowns, z.has_eps() ? a.z2 + b * s.unknowns : nullptr,
          z.has_eps() ? a.schur + b : nullptr};
}

template <class T>
MECH_HOST_DEVICE inline neurlp_core::SystemGradients<T> system_gradients(const BatchGradients<T>& out, const Strides& s,
                                                                         std::int64_t b) {
  return {out.coeffs != nullptr ? out.coeffs + b * s.coeffs : nullptr, out.rhs != nullptr ? out.rhs + b * s.rhs : nullptr,
          out.iv != nullptr ? out.iv + b * s.iv : nullptr, out.steps != nullptr ? out.steps + b * s.steps : nullptr};
}

// First non-finite entry of x (n), or -1.
template <class T>
MECH_HOST_DEVICE inline std::int64_t first_non_finite(const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (!neurlp_core::is_finite_value(x[i])) return i;
  return -1;
}

// u (T,D,K) from hermite4's solution x (T,D,K+1): the latent derivative dropped.
template <class T>
MECH_HOST_DEVICE inline void drop_latent(const neurlp_core::Sizes& z, const T* x, T* u) {
  const std::int64_t points = static_cast<std::int64_t>(z.T) * z.D;
  for (std::int64_t r = 0; r < points; ++r)
    for (int k = 0; k < z.K; ++k) u[r * z.K + k] = x[r * (z.K + 1) + k];
}

// hermite4's upstream gradient over its unknowns (T,D,K+1) from grad_u (T,D,K): zero on the latent
// derivative, which the op does not return.
template <class T>
MECH_HOST_DEVICE inline void pad_latent(const neurlp_core::Sizes& z, const T* grad_u, T* ubar) {
  const std::int64_t points = static_cast<std::int64_t>(z.T) * z.D;
  for (std::int64_t r = 0; r < points; ++r) {
    for (int k = 0; k < z.K; ++k) ubar[r * (z.K + 1) + k] = grad_u[r * z.K + k];
    ubar[r * (z.K + 1) + z.K] = T(0);
  }
}

// Forward of system b: validate (neurlp_errors.h's validator, the CPU driver's), assemble, factor,
// solve. `row` is the thread's scratch row. hermite4 solves into its latent array, then u.
template <class T>
MECH_HOST_DEVICE inline SystemStatus forward_one(const neurlp_core::Sizes& z, const neurlp_core::Envelope& envelope,
                                                 const BatchArrays<T>& a, const Strides& s, std::int64_t b,
                                                 neurlp_core::Row<T>& row) {
  const neurlp_core::SystemInputs<T> system = system_inputs(a.in, s, b);
  const SystemStatus checked = status_of(neurlp_core::validate_system(z, system));
  if (checked.outcome != kOk) return checked;
  const bool latent = z.formulation == neurlp_core::Formulation::Hermite4;
  T* x = latent ? a.latent + b * s.unknowns : a.u + b * s.unknowns;
  const neurlp_core::FactorStatus factored =
      neurlp_core::forward_system(z, envelope, system, row, system_factors(z, a, s, envelope.size, b), x, a.eps + b);
  if (latent && factored.status == neurlp_core::Status::Ok) drop_latent(z, x, a.u + b * s.solution);
  return status_of(factored);
}

// Backward of system b with its kept factors; `scratch` holds batch * s.scratch values.
template <class T>
MECH_HOST_DEVICE inline void backward_one(const neurlp_core::Sizes& z, const neurlp_core::Envelope& envelope,
                                          const BatchArrays<T>& a, const Strides& s, std::int64_t b,
                                          const T* grad_u, const T* grad_eps, T* scratch,
                                          const BatchGradients<T>& out, neurlp_core::Row<T>& row) {
  T* v = scratch + b * s.scratch;
  const T* ubar = grad_u + b * s.solution;
  const T* x = a.u + b * s.unknowns;
  if (z.formulation == neurlp_core::Formulation::Hermite4) {
    T* padded = v + s.unknowns;
    pad_latent(z, ubar, padded);
    ubar = padded;
    x = a.latent + b * s.unknowns;
  }
  neurlp_core::backward_system(z, envelope, system_inputs(a.in, s, b), row, system_factors(z, a, s, envelope.size, b),
                               x, a.eps[b], ubar, grad_eps != nullptr ? grad_eps[b] : T(0), v,
                               system_gradients(out, s, b));
}

// ---- the parallel-in-time (chunked) path ---------------------------------------------------

// The batch's arrays for the chunked kernels: per system, the slices of solvers/neurlp_chunked.h's
// SystemWork (sizes from neurlp_chunked::extents), a status per (system, chunk) from the first
// phase and one per system after the reduction.
template <class T>
struct ChunkedArrays {
  BatchInputs<T> in;
  T* u;
  T* eps;
  T* env;
  T* inverse_diagonal;
  T* q;                 // mnn only
  T* schur;             // mnn only
  T* spike_left;
  T* spike_right;
  T* reduced;
  T* reduced_inverse_diagonal;
  T* records;
  T* reduced_vectors;
  SystemStatus* chunk_status;    // batch * C
  SystemStatus* system_status;   // batch
};

template <class T>
MECH_HOST_DEVICE inline neurlp_chunked::SystemWork<T> chunked_work(const neurlp_core::Sizes& z,
                                                                   const ChunkedArrays<T>& a,
                                                                   const neurlp_chunked::Extents& x, std::int64_t b) {
  return {a.env + b * x.env,
          a.inverse_diagonal + b * x.unknowns,
          z.has_eps() ? a.q + b * x.unknowns : nullptr,
          z.has_eps() ? a.schur + b : nullptr,
          a.spike_left + b * x.spike_left,
          a.spike_right + b * x.spike_right,
          a.reduced + b * x.reduced,
          a.reduced_inverse_diagonal + b * x.reduced_unknowns,
          a.records + b * x.records,
          a.reduced_vectors + b * x.reduced_vectors};
}

// Input checks of the times chunk c owns (its coefficients and rhs, the steps that start there,
// chunk 0 also the initial values), with neurlp_core::validate_system's faults, flat indices and
// values; the reduction picks the failure the validator would have reported first.
template <class T>
MECH_HOST_DEVICE inline SystemStatus validate_chunk(const neurlp_core::Sizes& z, const neurlp_chunked::ChunkLayout& layout,
                                                    const neurlp_core::SystemInputs<T>& system, const Strides& s, int c) {
  const int t_begin = layout.interior_begin(c), t_end = layout.owned_end(c), m = z.D * z.K;
  for (int e = 0; e < z.E; ++e) {
    const std::int64_t base = (static_cast<std::int64_t>(e) * z.T + t_begin) * m;
    const std::int64_t bad = first_non_finite(system.coeffs + base, static_cast<std::int64_t>(t_end - t_begin) * m);
    if (bad >= 0)
      return {kBadCoefficient, static_cast<int>(base + bad), static_cast<double>(system.coeffs[base + bad]), 0.0};
  }
  for (int e = 0; e < z.E; ++e) {
    const std::int64_t base = static_cast<std::int64_t>(e) * z.T + t_begin;
    const std::int64_t bad = first_non_finite(system.rhs + base, t_end - t_begin);
    if (bad >= 0) return {kBadRhs, static_cast<int>(base + bad), static_cast<double>(system.rhs[base + bad]), 0.0};
  }
  if (c == 0 && system.iv != nullptr) {
    const std::int64_t bad = first_non_finite(system.iv, s.iv);
    if (bad >= 0) return {kBadInitialValue, static_cast<int>(bad), static_cast<double>(system.iv[bad]), 0.0};
  }
  const int step_end = t_end < z.T - 1 ? t_end : z.T - 1;
  for (std::int64_t i = static_cast<std::int64_t>(t_begin) * z.D; i < static_cast<std::int64_t>(step_end) * z.D; ++i) {
    const T h = system.steps[i];
    if (!(neurlp_core::is_finite_value(h) && h > T(0)))
      return {kBadStep, static_cast<int>(i), static_cast<double>(h), 0.0};
  }
  return {kOk, -1, 0.0, 0.0};
}

// Phase 1 (thread per system b and chunk c): validate the chunk's inputs, then factor it.
template <class T>
MECH_HOST_DEVICE inline void factor_chunked_one(const neurlp_core::Sizes& z, const neurlp_chunked::Structure& st,
                                                const ChunkedArrays<T>& a, const Strides& s,
                                                const neurlp_chunked::Extents& x, std::int64_t b, int c,
                                                neurlp_core::Row<T>& row) {
  const neurlp_core::SystemInputs<T> system = system_inputs(a.in, s, b);
  SystemStatus& status = a.chunk_status[b * st.layout.C + c];
  status = validate_chunk(z, st.layout, system, s, c);
  if (status.outcome != kOk) return;
  status = status_of(neurlp_chunked::factor_chunk(z, st, system, row, chunked_work(z, a, x, b), a.u + b * s.unknowns, c));
}

// Phase 2 (thread per system): the first failure of the chunks (an input check before any pivot,
// as validate_system orders them), else the reduced system, eps and the separators' u.
template <class T>
MECH_HOST_DEVICE inline void reduce_chunked_one(const neurlp_core::Sizes& z, const neurlp_chunked::Structure& st,
                                                const ChunkedArrays<T>& a, const Strides& s,
                                                const neurlp_chunked::Extents& x, std::int64_t b) {
  const SystemStatus* chunks = a.chunk_status + b * st.layout.C;
  int worst = -1;
  for (int c = 0; c < st.layout.C; ++c) {
    const SystemStatus& candidate = chunks[c];
    if (candidate.outcome == kOk) continue;
    if (worst < 0) {
      worst = c;
      continue;
    }
    const SystemStatus& current = chunks[worst];
    const bool input = candidate.outcome >= kBadCoefficient, current_input = current.outcome >= kBadCoefficient;
    // Input failures first, by kind then flat index (validate_system's order); pivots by chunk.
    if (input && (!current_input || candidate.outcome < current.outcome ||
                  (candidate.outcome == current.outcome && candidate.index < current.index)))
      worst = c;
  }
  if (worst >= 0) {
    a.system_status[b] = chunks[worst];
    return;
  }
  a.system_status[b] =
      status_of(neurlp_chunked::reduce_forward(z, st, chunked_work(z, a, x, b), a.u + b * s.unknowns, a.eps + b));
}

// Phase 3 (thread per system and chunk): the interior's u, for systems that did not fail.
template <class T>
MECH_HOST_DEVICE inline void finish_forward_chunked_one(const neurlp_core::Sizes& z, const neurlp_chunked::Structure& st,
                                                        const ChunkedArrays<T>& a, const Strides& s,
                                                        const neurlp_chunked::Extents& x, std::int64_t b, int c) {
  if (a.system_status[b].outcome != kOk) return;
  neurlp_chunked::finish_forward_chunk(z, st, chunked_work(z, a, x, b), a.u + b * s.unknowns, a.eps[b], c);
}

// Backward phase 1 (thread per system and chunk): L^{-1} ubar on the interior, reduced parts.
// `scratch` holds v, batch * n.
template <class T>
MECH_HOST_DEVICE inline void backward_chunked_one(const neurlp_core::Sizes& z, const neurlp_chunked::Structure& st,
                                                  const ChunkedArrays<T>& a, const Strides& s,
                                                  const neurlp_chunked::Extents& x, std::int64_t b, int c,
                                                  const T* grad_u, T* scratch) {
  neurlp_chunked::backward_chunk(z, st, chunked_work(z, a, x, b), grad_u + b * s.unknowns, scratch + b * s.unknowns, c);
}

// Backward phase 2 (thread per system): v_eps and the separators' v.
template <class T>
MECH_HOST_DEVICE inline void reduce_backward_chunked_one(const neurlp_core::Sizes& z, const neurlp_chunked::Structure& st,
                                                         const ChunkedArrays<T>& a, const Strides& s,
                                                         const neurlp_chunked::Extents& x, std::int64_t b,
                                                         const T* grad_eps, T* scratch) {
  neurlp_chunked::reduce_backward(z, st, chunked_work(z, a, x, b), grad_eps != nullptr ? grad_eps[b] : T(0),
                                  scratch + b * s.unknowns);
}

// Backward phase 3 (thread per system and chunk): the interior's v and the chunk's gradient rows.
template <class T>
MECH_HOST_DEVICE inline void finish_backward_chunked_one(const neurlp_core::Sizes& z, const neurlp_chunked::Structure& st,
                                                         const ChunkedArrays<T>& a, const Strides& s,
                                                         const neurlp_chunked::Extents& x, std::int64_t b, int c,
                                                         T* scratch, const BatchGradients<T>& out,
                                                         neurlp_core::Row<T>& row) {
  neurlp_chunked::finish_backward_chunk(z, st, system_inputs(a.in, s, b), row, chunked_work(z, a, x, b),
                                        a.u + b * s.unknowns, a.eps[b], scratch + b * s.unknowns,
                                        system_gradients(out, s, b), c);
}

// Backward phase 4 (thread per system): the gradient rows between chunks.
template <class T>
MECH_HOST_DEVICE inline void boundary_gradients_chunked_one(const neurlp_core::Sizes& z,
                                                            const neurlp_chunked::Structure& st,
                                                            const ChunkedArrays<T>& a, const Strides& s,
                                                            const neurlp_chunked::Extents& x, std::int64_t b,
                                                            T* scratch, const BatchGradients<T>& out,
                                                            neurlp_core::Row<T>& row) {
  neurlp_chunked::boundary_gradients(z, st, system_inputs(a.in, s, b), row, chunked_work(z, a, x, b),
                                     a.u + b * s.unknowns, a.eps[b], scratch + b * s.unknowns,
                                     system_gradients(out, s, b));
}

// The envelope structure of M_uu for these sizes (host; structural, so all-ones inputs give it).
struct EnvelopeStructure {
  std::vector<int> first;
  std::vector<std::int64_t> offset;
  std::int64_t size = 0;
  neurlp_core::Envelope envelope() const { return {first.data(), offset.data(), size}; }
};

inline EnvelopeStructure envelope_structure(const neurlp_core::Sizes& z) {
  EnvelopeStructure structure;
  const Strides s = strides_of(z);
  const std::vector<double> coeffs(static_cast<std::size_t>(s.coeffs), 1.0), rhs(static_cast<std::size_t>(s.rhs), 1.0);
  const std::vector<double> iv(static_cast<std::size_t>(s.iv) + 1, 1.0), steps(static_cast<std::size_t>(s.steps), 1.0);
  const neurlp_core::SystemInputs<double> ones{coeffs.data(), rhs.data(), iv.data(), steps.data()};
  std::vector<neurlp_core::Row<double>> row(1);  // large: keep it off the stack
  const int n = z.unknowns();
  structure.first.resize(static_cast<std::size_t>(n));
  structure.offset.resize(static_cast<std::size_t>(n));
  neurlp_core::envelope_first_columns(z, ones, row[0], structure.first.data());
  structure.size = neurlp_core::envelope_offsets(n, structure.first.data(), structure.offset.data());
  return structure;
}

// Throws mech::Error unless the sizes are in the solver's range (neurlp_errors.h's check, the CPU
// driver's), mech::SolverError for a hermite4 system with fewer rows than unknowns.
inline void check_sizes(const neurlp_core::Sizes& z, std::int64_t batch) {
  MECH_CHECK(batch >= 0, "{}: expected a batch of at least 0 systems, got {}", kOp, batch);
  neurlp_core::check_sizes(z, kOp);
}

// What went wrong with one system, in the CPU driver's words (neurlp_errors.h): the bad input, or
// the failed pivot and what to check (`single_precision`: the float32 hint as well).
inline std::string describe_failure(const neurlp_core::Sizes& z, const SystemStatus& status,
                                    bool single_precision = false) {
  if (status.outcome >= kBadInput) {
    return neurlp_core::input_message(
        z, {static_cast<neurlp_core::InputFault>(status.outcome - kBadInput), status.index, status.pivot});
  }
  neurlp_core::FactorStatus factored;
  factored.status = static_cast<neurlp_core::Status>(status.outcome);
  factored.index = status.index;
  factored.pivot = status.pivot;
  factored.diagonal = status.diagonal;
  return neurlp_core::factor_message(z, factored, single_precision);
}

// Throws mech::SolverError "neurlp: batch element b: ..." for the first failed system of
// `statuses` (one per batch element), as the CPU driver does.
inline void throw_first_failure(const neurlp_core::Sizes& z, const std::vector<SystemStatus>& statuses,
                                bool single_precision = false) {
  for (std::size_t b = 0; b < statuses.size(); ++b)
    if (statuses[b].outcome != kOk)
      neurlp_core::throw_system_error(kOp, static_cast<std::int64_t>(b),
                                      describe_failure(z, statuses[b], single_precision));
}

}  // namespace mech::neurlp_gpu
