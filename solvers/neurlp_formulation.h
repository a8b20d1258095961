// Which rows a NeuRLP system is built from (solvers/README.md, "Formulations"). A header of its
// own so that the public op (solvers/neurlp.h) names the formulations without pulling in the
// per-system solver code.
#pragma once

namespace mech::neurlp_core {

enum class Formulation : int {
  Mnn = 0,        // the paper's rows: Taylor and central smoothness rows, the eps relaxation
  Scalable = 1,   // Taylor rows only, weighted row groups, no eps
  Hermite4 = 2,   // Hermite-Obreshkov step rows and derived equation rows, one latent derivative
};

}  // namespace mech::neurlp_core
