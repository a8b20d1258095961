// Internal helpers shared by the differentiable ops: raw (unrecorded) kernels that allocate
// their output, and the option/shape plumbing every op repeats.
#pragma once

#include "core/kernels.h"
#include "core/tensor.h"

namespace mech::detail {

inline TensorOptions options_of(const Tensor& t) { return TensorOptions().dtype(t.dtype()).device(t.device()); }

// A view of t broadcast to shape, with no autograd history (stride 0 in broadcast dims).
Tensor expand_view(const Tensor& t, const Shape& shape);

// out = op(x) / op(a, b) without recording; binary broadcasts a and b.
Tensor unary_raw(UnaryOp op, const Tensor& x, double p0 = 0.0, double p1 = 0.0);
Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, const char* name);

// Checks shared by binary ops: both defined, one device, one dtype.
void check_binary(const char* op, const Tensor& a, const Tensor& b);
void check_float(const char* op, const Tensor& x);

}  // namespace mech::detail
