// The CPU lane-batch driver's entry points for hermite4's rows (neurlp_batch_driver.h), in a
// translation unit of their own: neurlp_batch.cpp holds the Taylor rows' and chooses between them.
#include "solvers/neurlp_batch_driver.h"

namespace mech::neurlp_core {

MECH_NEURLP_DRIVER_INSTANTIATE(, Hermite4Rows, double)
MECH_NEURLP_DRIVER_INSTANTIATE(, Hermite4Rows, float)

}  // namespace mech::neurlp_core
