// One hermite4 system: its rows (solvers/hermite4_rows.h) on the shared sweeps. The entry points of
// solvers/neurlp_system.h choose the hermite4 rows when z.formulation is Formulation::Hermite4;
// Sweeps<Hermite4Rows, FD, FK> (solvers/neurlp_sweeps.h) is the same code by name. The two below
// keep the hermite4 form of those calls for callers written against it (the GPU thread code): no
// eps and no border, the factors as env and 1/diag L, y the solution with its latent column.
#pragma once

#include "solvers/hermite4_rows.h"
#include "solvers/neurlp_system.h"

namespace mech::neurlp_core::hermite4 {

template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE FactorStatus forward_system(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                             Row<S>& row, S* env, S* inverse_diagonal, S* y) {
  S eps{};
  return Sweeps<Hermite4Rows, FD, FK>::forward(z, envelope, in, row, Factors<S>{env, inverse_diagonal, nullptr, nullptr},
                                               y, &eps);
}

template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void backward_system(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in, Row<S>& row,
                                      const S* env, const S* inverse_diagonal, const S* y, const S* ubar, S* v,
                                      const SystemGradients<S>& out) {
  const Factors<S> factors{const_cast<S*>(env), const_cast<S*>(inverse_diagonal), nullptr, nullptr};
  Sweeps<Hermite4Rows, FD, FK>::backward(z, envelope, in, row, factors, y, S{}, ubar, S{}, v, out);
}

}  // namespace mech::neurlp_core::hermite4
