// Gradient clipping, as torch::nn::utils::clip_grad_norm_: rescales all gradients together so that
// their joint norm is at most max_norm.
#pragma once

#include <limits>
#include <vector>

#include "core/tensor.h"

namespace mech::nn {

// Returns the total norm of the gradients before clipping (parameters without a gradient are
// ignored), computed in float64. norm_type is p of the p-norm, infinity for the max norm. When the
// total exceeds max_norm every gradient is multiplied by max_norm / (total + 1e-6) in place.
// A non-finite total is returned as is and leaves the gradients untouched.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0);

}  // namespace mech::nn
