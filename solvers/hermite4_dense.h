// Dense reference of the hermite4 formulation: forms M = A^T b and A^T b densely from the shared row
// generator (solvers/hermite4_rows.h) and solves by Gaussian elimination with partial pivoting,
// one system at a time; O((T D (P+2))^3), small T only. It shares the rows and the per-row chain
// rule with the banded solver but none of its algebra (envelope, Cholesky, substitution order,
// lane packs), which is what the tests compare. neurlp_core::dense_forward dispatches here for
// Formulation::Hermite4.
#pragma once

#include <vector>

#include "solvers/neurlp_dense.h"

namespace mech::neurlp_core::hermite4 {

// u (T, D, K) without the latent derivative; eps 0. Throws mech::SolverError (batch element 0)
// when M is singular.
DenseSolution dense_forward(const Sizes& sizes, const SystemInputs<double>& inputs);

// Gradients of sum(u * grad_u) (grad_u (T, D, K)); outputs shaped like the inputs (all non-null
// except iv when S * n_iv = 0).
void dense_backward(const Sizes& sizes, const SystemInputs<double>& inputs, const double* grad_u,
                    const SystemGradients<double>& gradients);

}  // namespace mech::neurlp_core::hermite4
