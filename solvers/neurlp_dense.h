// Dense reference backend of NeuRLP: forms A, b and M = A^T A as dense float64 matrices and solves
// with a dense Cholesky, one system at a time. O((T D K)^3): small T only. It shares the row
// generator with the banded solver (solvers/neurlp_rows.h) but none of its algebra (envelope,
// border elimination, substitution order), which is what the tests compare. Formulation::Hermite4
// goes to solvers/hermite4_dense.h (its own rows; u without the latent derivative, eps 0).
#pragma once

#include <vector>

#include "solvers/neurlp_system.h"

namespace mech::neurlp_core {

struct DenseSolution {
  std::vector<double> u;   // (T, D, K)
  double eps = 0.0;
};

// Throws mech::SolverError (batch element 0) when M is not positive definite.
DenseSolution dense_forward(const Sizes& sizes, const SystemInputs<double>& inputs);

// Gradients of sum(u * grad_u) + eps * grad_eps; outputs shaped like the inputs (all non-null).
void dense_backward(const Sizes& sizes, const SystemInputs<double>& inputs, const double* grad_u,
                    double grad_eps, const SystemGradients<double>& gradients);

}  // namespace mech::neurlp_core
