// Internal helpers shared by the differentiable ops: raw (unrecorded) kernels that allocate
// their output, the option/shape plumbing every op repeats, and the test for whether an op records.
#pragma once

#include <vector>

#include "autograd/anomaly.h"
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/tensor.h"

namespace mech::detail {

inline TensorOptions options_of(const Tensor& t) { return TensorOptions().dtype(t.dtype()).device(t.device()); }

// A view of t broadcast to shape, with no autograd history (stride 0 in broadcast dims).
Tensor expand_view(const Tensor& t, const Shape& shape);

// out = op(x) / op(a, b) without recording; binary broadcasts a and b.
Tensor unary_raw(UnaryOp op, const Tensor& x, double p0 = 0.0, double p1 = 0.0);
Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
// grad * f'(saved) for an activation's backward, one kernel (core/kernel_list.h activation_backward).
Tensor activation_backward_raw(ActivationGrad op, const Tensor& grad, const Tensor& saved, double p0 = 0.0,
                               double p1 = 0.0);

// For ops that save tensors for backward only when they record:
//   if (detail::will_record("exp", {x}, out)) record("exp", {x}, {out}, [y = out.detach()](...) {...});
// True when the op records (grad mode on, an input requiring grad); then record() makes anomaly
// mode's forward check of `output`. When it does not, the check is made here, so that every op is
// checked, recorded or not; with anomaly mode off that costs one atomic load.
inline bool will_record(const char* op, const std::vector<Tensor>& inputs, const Tensor& output) {
  if (needs_grad(inputs)) return true;
  check_anomaly(op, output, "forward");
  return false;
}

// Checks shared by binary ops: both defined, one device, one dtype.
void check_binary(const char* op, const Tensor& a, const Tensor& b);
void check_float(const char* op, const Tensor& x);

}  // namespace mech::detail
