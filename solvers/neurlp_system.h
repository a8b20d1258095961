// One NeuRLP system, any formulation: the umbrella over the per-system code, and its entry points
// that choose the row policy from z.formulation (the CPU batch driver picks the policy at compile
// time instead; a CUDA kernel, one thread per system, calls these). The pieces, by concept:
//   solvers/neurlp_rows.h        the shared vocabulary (sizes, inputs, a row) and the Taylor rows
//                                of mnn and scalable (TaylorRows)
//   solvers/hermite4_rows.h      the hermite4 rows (Hermite4Rows), with hermite4_stencil.h
//   solvers/neurlp_cholesky.h    the envelope Cholesky and its substitutions
//   solvers/neurlp_fixed_size.h  its fixed-size path for interior blocks (compile-time D, K)
//   solvers/neurlp_sweeps.h      assembly, factorisation, solve and backward sweeps (Sweeps<Rows>)
// The mathematics: solvers/README.md.
#pragma once

#include "solvers/hermite4_rows.h"
#include "solvers/neurlp_cholesky.h"
#include "solvers/neurlp_fixed_size.h"
#include "solvers/neurlp_rows.h"
#include "solvers/neurlp_sweeps.h"

namespace mech::neurlp_core {

// first[i] of the envelope of M_uu (any finite inputs: the structure does not depend on values).
template <class S>
MECH_HOST_DEVICE void envelope_first_columns(const Sizes& z, const SystemInputs<S>& in, Row<S>& row, int* first) {
  if (z.formulation == Formulation::Hermite4) Sweeps<Hermite4Rows>::envelope_first_columns(z, in, row, first);
  else Sweeps<TaylorRows>::envelope_first_columns(z, in, row, first);
}

template <int FD = 0, int FK = 0, class S, class Complete = NoCompletion>
MECH_HOST_DEVICE void assemble(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in, Row<S>& row,
                               S* env, S* g, S* w, S* a, Complete&& complete = Complete{}) {
  if (z.formulation == Formulation::Hermite4)
    Sweeps<Hermite4Rows, FD, FK>::assemble(z, envelope, in, row, env, g, w, a, complete);
  else Sweeps<TaylorRows, FD, FK>::assemble(z, envelope, in, row, env, g, w, a, complete);
}

template <class S>
MECH_HOST_DEVICE void assemble_rhs(const Sizes& z, const SystemInputs<S>& in, Row<S>& row, S* g) {
  if (z.formulation == Formulation::Hermite4) Sweeps<Hermite4Rows>::assemble_rhs(z, in, row, g);
  else Sweeps<TaylorRows>::assemble_rhs(z, in, row, g);
}

template <class S>
MECH_HOST_DEVICE void solve_with_factors(const Sizes& z, const Envelope& envelope, const Factors<S>& factors, S* u,
                                         S* eps) {
  // The substitutions do not depend on the rows.
  Sweeps<TaylorRows>::solve_with_factors(z, envelope, factors, u, eps);
}

template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE FactorStatus forward_system(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                             Row<S>& row, const Factors<S>& factors, S* u, S* eps) {
  if (z.formulation == Formulation::Hermite4)
    return Sweeps<Hermite4Rows, FD, FK>::forward(z, envelope, in, row, factors, u, eps);
  return Sweeps<TaylorRows, FD, FK>::forward(z, envelope, in, row, factors, u, eps);
}

template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void backward_system(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                      Row<S>& row, const Factors<S>& factors, const S* u, S eps, const S* ubar,
                                      S ebar, S* v, const SystemGradients<S>& out) {
  if (z.formulation == Formulation::Hermite4)
    Sweeps<Hermite4Rows, FD, FK>::backward(z, envelope, in, row, factors, u, eps, ubar, ebar, v, out);
  else Sweeps<TaylorRows, FD, FK>::backward(z, envelope, in, row, factors, u, eps, ubar, ebar, v, out);
}

template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE FactorStatus forward_backward_system(const Sizes& z, const Envelope& envelope,
                                                      const SystemInputs<S>& in, Row<S>& row,
                                                      const Factors<S>& factors, S* u, S* eps, S* v, S ebar,
                                                      const SystemGradients<S>& out) {
  if (z.formulation == Formulation::Hermite4)
    return Sweeps<Hermite4Rows, FD, FK>::forward_backward(z, envelope, in, row, factors, u, eps, v, ebar, out);
  return Sweeps<TaylorRows, FD, FK>::forward_backward(z, envelope, in, row, factors, u, eps, v, ebar, out);
}

// The gradient rows of the Taylor rows (mnn, scalable) owned by time t, for the chunked solve
// (solvers/neurlp_chunked.h), which calls them time by time.
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void gradient_rows_at(const Sizes& z, const SystemInputs<S>& in, int t, Row<S>& row, const S* u,
                                       S eps, const S* v, S v_eps, const SystemGradients<S>& out) {
  TaylorRows::State<S> none;
  Sweeps<TaylorRows, FD, FK>::gradient_rows(z, in, t, none, row, u, eps, v, v_eps, out);
}

}  // namespace mech::neurlp_core
