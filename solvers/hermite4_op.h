// The hermite4 formulation as a differentiable op on tensors: what mech::neurlp() runs for
// options.formulation == Formulation::Hermite4 (callers use neurlp(); this is its implementation).
// Same contract as neurlp(): coeffs (B,E,T,D,K), rhs (B,E,T), iv (B,S,D,n_iv), steps (B,T-1,D) in,
// u (B,T,D,K) out (the latent derivative P+1 stays inside), eps (B) zeros (hermite4 has no eps; it
// carries no gradient). One tape node; gradients reach coeffs, rhs, iv and steps, through the
// stencil too.
//
// Solves by compute dtype:
//   float64:  the normal equations, banded (hermite4_batch.h); any row counts.
//   float32:  square systems (E = D, P initial values at the first point) by the direct float32
//             block elimination of A (hermite4_direct.h; ~1e-5 at h = 0.01); other systems by the
//             float32 normal equations, which fail for steps below about 0.05.
#pragma once

#include "solvers/neurlp.h"

namespace mech {

NeurlpResult neurlp_hermite4(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                             const NeurlpOptions& options);

}  // namespace mech
