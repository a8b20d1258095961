// The NeuRLP batch's normal matrix as one block-diagonal CSR matrix, for the cuSPARSE comparison
// solver (solvers/neurlp_cusparse.h). Plain host C++ with no CUDA include, so that the CPU tests
// (tests/cuda/test_neurlp_csr.cpp) build and check it on machines without a GPU.
//
// Per system, eps is ordered LAST: M' = [[M_uu, w], [w^T, a]] (mnn) or M' = M_uu (scalable), and
// only its lower triangle is stored, row by row:
//   row i < n:  columns first[i] .. i (the envelope of solvers/neurlp_system.h, structural zeros
//               stored explicitly, diagonal last);
//   row n:      columns 0 .. n (mnn only: the eps row, full).
// Cholesky fill of M_uu stays inside its envelope and the last row is full, so this pattern holds
// every non-zero of the exact Cholesky factor: cuSPARSE's zero-fill incomplete Cholesky (csric02)
// on it IS the exact factorisation. The batch is one matrix of B diagonal blocks.
// The envelope store's row-major order is exactly this row layout, so one system's values are
// [env (envelope.size), w (n), a] and its right-hand side [g (n), gamma*alpha]: both come straight
// from the solver's own assembly (neurlp_core::assemble); the solution is [u (n), eps].
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.h"
#include "solvers/neurlp_batch.h"
#include "solvers/neurlp_errors.h"
#include "solvers/neurlp_gpu_device.h"
#include "solvers/neurlp_system.h"

namespace mech::neurlp_gpu {

// The sizes of the CSR matrix. cuSPARSE's csric02 takes int indices: rows() and nonzeros() must
// fit in int32 (csr_layout checks).
struct CsrLayout {
  std::int64_t batch = 0;
  int unknowns = 0;                    // n = T*D*K
  bool has_eps = false;                // mnn: the eps row is each block's last
  int system_rows = 0;                 // n (+1 with eps)
  std::int64_t envelope_size = 0;      // stored entries of M_uu's lower envelope
  std::int64_t system_nonzeros = 0;    // envelope_size (+ n + 1 with eps)
  std::int64_t rows() const { return batch * system_rows; }
  std::int64_t nonzeros() const { return batch * system_nonzeros; }
};

inline CsrLayout csr_layout(const neurlp_core::Sizes& z, std::int64_t envelope_size, std::int64_t batch) {
  MECH_CHECK(batch >= 1, "neurlp csr: expected a batch of at least one system, got {}", batch);
  MECH_CHECK(z.formulation != neurlp_core::Formulation::Hermite4,
             "neurlp csr: the cuSPARSE comparison solves mnn and scalable systems, got hermite4");
  CsrLayout layout;
  layout.batch = batch;
  layout.unknowns = z.unknowns();
  layout.has_eps = z.has_eps();
  layout.system_rows = layout.unknowns + (layout.has_eps ? 1 : 0);
  layout.envelope_size = envelope_size;
  layout.system_nonzeros = envelope_size + (layout.has_eps ? layout.unknowns + 1 : 0);
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  MECH_CHECK(layout.rows() <= kIntMax && layout.nonzeros() <= kIntMax,
             "neurlp csr: B={} systems of T={} D={} K={} give {} rows and {} stored entries; cuSPARSE's csric02 "
             "takes 32-bit indices (at most {}): use a smaller batch",
             batch, z.T, z.D, z.K, layout.rows(), layout.nonzeros(), kIntMax);
  return layout;
}

// Row offsets (rows + 1) and columns (nonzeros) of the batch's lower-triangular M'.
struct CsrPattern {
  CsrLayout layout;
  std::vector<int> row_offsets;
  std::vector<int> columns;
};

inline CsrPattern csr_pattern(const neurlp_core::Sizes& z, const neurlp_core::Envelope& envelope,
                              std::int64_t batch) {
  CsrPattern pattern;
  pattern.layout = csr_layout(z, envelope.size, batch);
  const CsrLayout& l = pattern.layout;
  pattern.row_offsets.resize(static_cast<std::size_t>(l.rows() + 1));
  pattern.columns.resize(static_cast<std::size_t>(l.nonzeros()));
  std::int64_t next = 0;
  for (std::int64_t b = 0; b < l.batch; ++b) {
    const auto base = static_cast<int>(b * l.system_rows);
    for (int i = 0; i < l.unknowns; ++i) {
      pattern.row_offsets[static_cast<std::size_t>(base + i)] = static_cast<int>(next);
      for (int j = envelope.first[i]; j <= i; ++j) pattern.columns[static_cast<std::size_t>(next++)] = base + j;
    }
    if (l.has_eps) {
      pattern.row_offsets[static_cast<std::size_t>(base + l.unknowns)] = static_cast<int>(next);
      for (int j = 0; j <= l.unknowns; ++j) pattern.columns[static_cast<std::size_t>(next++)] = base + j;
    }
  }
  pattern.row_offsets[static_cast<std::size_t>(l.rows())] = static_cast<int>(next);
  return pattern;
}

// One system's values (system_nonzeros) and right-hand side (system_rows), from the solver's
// assembly: env is M_uu's envelope in exactly the CSR rows' order, w (the eps column) and a
// close the eps row, and the eps equation's right-hand side is gamma*alpha ((A^T b)_eps = 0:
// the rows with an eps entry have zero right-hand side).
template <class T>
void csr_system_values(const neurlp_core::Sizes& z, const neurlp_core::Envelope& envelope,
                       const neurlp_core::SystemInputs<T>& in, neurlp_core::Row<T>& row, T* values, T* rhs) {
  const int n = z.unknowns();
  T* w = z.has_eps() ? values + envelope.size : nullptr;
  T a{};
  neurlp_core::assemble(z, envelope, in, row, values, rhs, w, &a);
  if (z.has_eps()) {
    values[envelope.size + n] = a;
    rhs[n] = static_cast<T>(z.gamma_alpha);
  }
}

// Every system's values and right-hand side (layout.nonzeros(), layout.rows()), host arrays in the
// raw batch layout of solvers/neurlp_batch.h. Checks the sizes and the inputs as the solvers do
// (finite values, steps > 0) and throws mech::SolverError naming the first bad batch element.
template <class T>
void csr_batch_values(const neurlp_core::Sizes& z, const neurlp_core::Envelope& envelope, std::int64_t batch,
                      const BatchInputs<T>& in, T* values, T* rhs) {
  check_sizes(z, batch);
  const CsrLayout l = csr_layout(z, envelope.size, batch);
  const Strides s = strides_of(z);
  auto row = std::make_unique<neurlp_core::Row<T>>();  // large: off the stack
  for (std::int64_t b = 0; b < batch; ++b) {
    const neurlp_core::SystemInputs<T> system = system_inputs(in, s, b);
    const neurlp_core::InputStatus checked = neurlp_core::validate_system(z, system);
    if (checked.fault != neurlp_core::InputFault::None)
      neurlp_core::throw_system_error("neurlp csr", b, neurlp_core::input_message(z, checked));
    csr_system_values(z, envelope, system, *row, values + b * l.system_nonzeros, rhs + b * l.system_rows);
  }
}

// Splits a solution (layout.rows(): per system u then eps) into u (batch * n) and eps (batch; zero
// without the eps row). eps may be null.
template <class T>
void csr_split_solution(const CsrLayout& l, const T* solution, T* u, T* eps) {
  for (std::int64_t b = 0; b < l.batch; ++b) {
    const T* y = solution + b * l.system_rows;
    for (int i = 0; i < l.unknowns; ++i) u[b * l.unknowns + i] = y[i];
    if (eps != nullptr) eps[b] = l.has_eps ? y[l.unknowns] : T(0);
  }
}

}  // namespace mech::neurlp_gpu
