// Direct solves of SQUARE hermite4 systems (E = D equations, P initial values at the first point),
// without the normal equations: block elimination of A itself, in float32 or float64, and a
// mixed-precision solve (factor in float32, refine with float64 residuals).
//
// Why: M = A^T A squares cond(A), which grows like T^2 / h^2, so any formulation solved through the
// normal equations in float32 fails for steps below about 0.05. A square A needs no normal
// equations: ordered by time, its rows form a block lower-bidiagonal matrix
//     block row 0:    equation, derived and initial rows of t = 0        -> [A_0]
//     block row t:    step rows t-1 -> t, equation and derived rows of t -> [B_t A_t]
// (blocks m x m, m = D*(P+2)), solved by marching: y_0 = A_0^{-1} b_0, y_t = A_t^{-1}(b_t - B_t y_{t-1}),
// each A_t by LU with partial pivoting. This is a one-step implicit integrator in disguise (the
// Hermite-Obreshkov rows are A-stable), so the marching is stable for stable ODEs.
// Backward: y = A^{-1} b gives dL/db = lambda = A^{-T} ubar (a reverse march with the transposed
// blocks) and dL/dA = -lambda y^T; the chain rule of hermite4_rows.h (row_gradient) takes lambda
// row by row, with a zero residual.
//
// Which to use (measured on the damped oscillator of tests/solvers/test_hermite4.cpp, h = 0.01, T = 1001):
//   float64 normal equations (the batch driver, neurlp_batch.h): any row counts; ~5e-9, the reference.
//   float32 direct (this file, T = float):     square systems; ~1e-5 (rounding of the float32 march).
//   float32 normal equations:                   fails (singular pivots) below h of about 0.05; avoid.
//   mixed (this file):                          square systems, float64 accuracy from a float32
//                                               factorisation (forward only; for gradients use float64).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "solvers/neurlp_batch.h"

namespace mech::neurlp_core::hermite4 {

// Per system: LU of the diagonal blocks, pivots, the sub-diagonal blocks, the solution (latent
// derivative included).
template <class T>
class DirectFactorization {
 public:
  DirectFactorization(const Sizes& sizes, std::int64_t batch);
  const Sizes& sizes() const { return sizes_; }
  std::int64_t batch() const { return batch_; }
  std::int64_t block() const { return block_; }
  T* lu(std::int64_t b) { return lu_.data() + b * per_blocks_; }
  T* lower(std::int64_t b) { return lower_.data() + b * per_blocks_; }
  int* pivots(std::int64_t b) { return pivots_.data() + b * per_vector_; }
  T* y(std::int64_t b) { return y_.data() + b * per_vector_; }
  const T* lu(std::int64_t b) const { return lu_.data() + b * per_blocks_; }
  const T* lower(std::int64_t b) const { return lower_.data() + b * per_blocks_; }
  const int* pivots(std::int64_t b) const { return pivots_.data() + b * per_vector_; }
  const T* y(std::int64_t b) const { return y_.data() + b * per_vector_; }

 private:
  Sizes sizes_;
  std::int64_t batch_, block_, per_blocks_, per_vector_;
  std::vector<T> lu_, lower_, y_;
  std::vector<int> pivots_;
};

// Throws mech::Error when the system is not square, mech::SolverError naming the batch element on
// invalid input or a singular block (c_P(t) = 0).
template <class T>
std::shared_ptr<DirectFactorization<T>> direct_forward_batch(const Sizes& sizes, std::int64_t batch,
                                                             const BatchInputs<T>& inputs, T* u);

// Gradients given grad_u (B,T,D,K); `inputs` must be the forward's.
template <class T>
void direct_backward_batch(const DirectFactorization<T>& factors, const BatchInputs<T>& inputs, const T* grad_u,
                           const BatchGradients<T>& gradients);

// Float32 factorisation, float64 residuals: `refinements` correction solves after the first.
void mixed_forward_batch(const Sizes& sizes, std::int64_t batch, const BatchInputs<double>& inputs, double* u,
                         int refinements = 3);

}  // namespace mech::neurlp_core::hermite4
