// The kernel layer: device-agnostic entry points that differentiable ops call. Each checks
// nothing about autograd, writes into an output the caller allocated, and dispatches on the
// device to mech::cpu (core/cpu_*.cpp) or mech::cuda (cuda/*.cu) functions of the same name.
//
// Conventions: `out` is contiguous and already has its final shape and dtype; inputs may be
// strided views (an expanded input has stride 0 in broadcast dims) and share out's dtype unless
// stated; all tensors are on one device.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mech {

enum class UnaryOp : std::uint8_t {
  Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, Elu, Softplus, Clamp, Pow, Sign,
  // Backward helpers: out = derivative factor evaluated at x (see cpu_elementwise.cpp).
  ReluMask, EluGrad, SoftplusGrad, ClampMask,
};
enum class BinaryOp : std::uint8_t { Add, Sub, Mul, Div, Gt, Lt, Ge, Le, Eq, Max, Min };

namespace kernels {

// out = op(x; p0, p1). Parameters: Elu(alpha), Softplus(beta, threshold), Clamp(min, max),
// Pow(exponent), EluGrad(alpha), SoftplusGrad(beta, threshold), ClampMask(min, max).
void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0 = 0.0, double p1 = 0.0);
// out = op(a, b) with a and b already broadcast to out's shape (stride 0 where expanded).
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// out = condition != 0 ? a : b, all three broadcast to out's shape; condition of any dtype.
void where(const Tensor& condition, const Tensor& a, const Tensor& b, const Tensor& out);
// dst (any strides, same shape) = src converted to dst's dtype; both on dst's device.
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& out, double value);  // out may be strided
// out = sum of x over the dims where reduce[d] is true; out has x's rank with those sizes 1.
void sum(const Tensor& x, const std::vector<bool>& reduce, const Tensor& out);
// Max along one dim: values and int64 indices with x's rank and size 1 at dim.
void max(const Tensor& x, std::int64_t dim, const Tensor& values, const Tensor& indices);
// out[b] = a[b] @ b[b]: a (batch, m, k), b (batch, k, n), out (batch, m, n), any strides in a, b.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
// out (N, C_out, L_out) from input (N, C_in, L) and weight (C_out, C_in, K); bias may be undefined.
void conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
            std::int64_t stride, std::int64_t padding, std::int64_t dilation, PaddingMode mode);
// Gradients of conv1d: grad_input (like input) and grad_weight (like weight), either undefined to skip.
void conv1d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                     const Tensor& grad_input, const Tensor& grad_weight, std::int64_t stride,
                     std::int64_t padding, std::int64_t dilation, PaddingMode mode);
// out = x gathered along dim at index (int64, 1-D); index_add: out[.., index[i], ..] += src[.., i, ..].
void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out);
void index_add(const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source);

// Fused optimizer updates on contiguous same-dtype parameter/state tensors (see nn/optim.h).
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov, bool first_step);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               std::int64_t step);

}  // namespace kernels
}  // namespace mech
