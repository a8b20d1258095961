// A cuSPARSE comparison solver for NeuRLP's forward (issue 5: "a cuSPARSE-based path is welcome as
// a comparison in the benchmark"): the batch's normal matrix M' (eps ordered last) as one
// block-diagonal CSR matrix (solvers/neurlp_csr.h), factored by cuSPARSE's zero-fill incomplete
// Cholesky (csric02), which on that pattern is the exact Cholesky, then solved by two sparse
// triangular solves (SpSV with L, then with L^T). Not a replacement for solvers/neurlp_gpu.h: it solves
// the forward only, from a batch assembled on the host (csr_batch_values), and exists to show
// what a general sparse library makes of this structure. The pattern, the descriptors and the
// csric02 and SpSV analyses are built once per shape (the constructor); solve() factors and
// substitutes. A build without CUDA links throwing stubs (solvers/neurlp_gpu_stubs.cpp).
//
//   CusparseSolver<double> solver(sizes, B);                       // analysis, once per shape
//   solver.solve(values, rhs, solution);                           // device arrays
//
// Failures: a zero pivot that csric02 reports throws mech::SolverError naming the batch element.
// csric02 reports exact (numerical or structural) zeros only: a negative pivot (a matrix that is
// not positive definite) gives NaN in that system's solution instead of an error.
#pragma once

#include <cstdint>
#include <memory>

#include "solvers/neurlp_csr.h"
#include "solvers/neurlp_system.h"

namespace mech::neurlp_gpu {

template <class T>
class CusparseSolver {
 public:
  // Builds and uploads the CSR pattern of `batch` systems of `sizes` and runs the analyses.
  // Throws mech::Error on sizes out of range (or beyond cuSPARSE's 32-bit indices) and when
  // mech was built without CUDA.
  CusparseSolver(const neurlp_core::Sizes& sizes, std::int64_t batch, int device = 0);
  ~CusparseSolver();
  CusparseSolver(const CusparseSolver&) = delete;
  CusparseSolver& operator=(const CusparseSolver&) = delete;

  const CsrLayout& layout() const;
  std::int64_t bytes() const;   // device memory held: pattern, factor, vectors, cuSPARSE buffers

  // values (layout().nonzeros()) and rhs (layout().rows()): device arrays as csr_batch_values
  // fills them on the host; solution (layout().rows()): per system u then eps. The inputs are not
  // modified (the factorisation runs on the solver's own copy of the values), so a benchmark can
  // call it repeatedly on one assembled batch. Ordered on mech's stream for `device`; returns
  // after the zero-pivot check (which waits for the factorisation), before the substitutions end.
  void solve(const T* values, const T* rhs, T* solution);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mech::neurlp_gpu
