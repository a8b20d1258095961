// Helpers shared by the GPU solver's tests (test_neurlp_emulation, test_neurlp_cuda,
// test_neurlp_csr, test_neurlp_cusparse): the loop over formulations, orders and dimensions their
// comparisons run, and hermite4's test problems (the counterpart of neurlp_test_util.h's
// random_gradient_case).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_core::testing {

// Calls body(sizes, what) for mnn then scalable, orders 1..max_order, D = 1 then 2 (callers draw
// their random problems inside, so this order fixes the seeds): sizes_of_order's square systems of
// T points; `what` names the case for failure messages.
template <class Body>
void for_each_formulation_order_and_dimension(int max_order, int T, Body&& body) {
  for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable}) {
    for (int order = 1; order <= max_order; ++order) {
      for (int D = 1; D <= 2; ++D) {
        const std::string what = std::string(formulation == Formulation::Mnn ? "mnn" : "scalable") + " order " +
                                 std::to_string(order) + " D " + std::to_string(D);
        body(sizes_of_order(order, D, formulation, T), what);
      }
    }
  }
}

// A hermite4 system of order `order` in D dims, square (E = D, every derivative below the top given
// at the first point), with the test row weights (none 1, all different) of scalable.
inline Sizes hermite4_sizes(int T, int D, int order) {
  Sizes z = sizes_of_order(order, D, Formulation::Hermite4, T);
  z.equation_weight = kTestEquationWeight;
  z.initial_weight = kTestInitialWeight;
  z.smooth_weight = kTestSmoothWeight;
  return z;
}

// A random hermite4 problem that is well conditioned (steps in [0.3, 0.7]): random_problem's values
// with the coefficients of a dimension in its own equation made positive and those coupling other
// dimensions scaled by 0.2. hermite4 solves the ODE itself (no smoothing rows), so random signs
// make u grow like exp(T h) and the normal matrix follows (measured: 1e-2 disagreement between the
// CPU driver and a dense solve at order 2, D = 2); damped equations whose top-derivative
// coefficients are diagonally dominant (D <= 3) keep it to rounding.
inline GradientCase hermite4_gradient_case(const Sizes& z, std::int64_t batch, unsigned& seed) {
  GradientCase out = random_gradient_case(z, batch, seed, 0.3, 0.7);
  const std::size_t K = static_cast<std::size_t>(z.K), D = static_cast<std::size_t>(z.D),
                    T = static_cast<std::size_t>(z.T), E = static_cast<std::size_t>(z.E);
  std::vector<double>& coeffs = out.problem.coeffs;
  for (std::size_t i = 0; i < coeffs.size(); ++i) {
    const std::size_t d = (i / K) % D, e = (i / (K * D * T)) % E;
    coeffs[i] = d == e ? std::abs(coeffs[i]) : 0.2 * coeffs[i];
  }
  return out;
}

}  // namespace mech::neurlp_core::testing
