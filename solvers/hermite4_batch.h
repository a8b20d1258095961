// The hermite4 names of the one CPU batch driver (solvers/neurlp_batch.h), for the callers written
// against them (mech-solve, mech-convergence, the hermite4 tests): the same entry points with the
// sizes' formulation Formulation::Hermite4 and no eps. New code calls neurlp_batch.h directly.
//
// Precision: these solve the normal equations (any row counts). In float32 that squares
// cond(A) ~ T^2/h^2 and loses most digits for h below about 0.05; for square systems use the direct
// float32 solve or the mixed-precision solve of solvers/hermite4_direct.h instead.
#pragma once

#include <cstdint>
#include <memory>

#include "core/error.h"
#include "solvers/neurlp_batch.h"

namespace mech::neurlp_core::hermite4 {

template <class T>
using Factorization = neurlp_core::Factorization<T>;
using Plan = EnvelopePlan;

// neurlp_core::check_sizes, requiring the hermite4 formulation.
inline void check_sizes(const Sizes& sizes, const char* op) {
  MECH_CHECK(sizes.formulation == Formulation::Hermite4, "{}: expected the hermite4 formulation", op);
  neurlp_core::check_sizes(sizes, op);
}

template <class T>
std::shared_ptr<Factorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch, const BatchInputs<T>& inputs,
                                                T* u, bool keep_factors) {
  hermite4::check_sizes(sizes, "neurlp");
  return neurlp_core::forward_batch<T>(sizes, batch, inputs, u, nullptr, keep_factors);
}

template <class T>
void resolve_batch(const Factorization<T>& factors, const BatchInputs<T>& inputs, T* u) {
  neurlp_core::resolve_batch<T>(factors, inputs, u, nullptr);
}

template <class T>
void backward_batch(const Factorization<T>& factors, const T* grad_u, const BatchGradients<T>& gradients) {
  neurlp_core::backward_batch<T>(factors, grad_u, nullptr, gradients);
}

template <class T>
void forward_backward_batch(const Sizes& sizes, std::int64_t batch, const BatchInputs<T>& inputs, T* u,
                            const T* grad_u, const BatchGradients<T>& gradients) {
  hermite4::check_sizes(sizes, "neurlp");
  neurlp_core::forward_backward_batch<T>(sizes, batch, inputs, u, nullptr, grad_u, nullptr, gradients);
}

}  // namespace mech::neurlp_core::hermite4
