// The kernel list: every kernel of the kernel layer, written once. This is the one place to add
// a kernel. Each line expands, through a macro its includer defines, into
//   - the dispatcher mech::kernels::NAME (declared in core/kernels.h, defined in core/kernels.cpp:
//     it sends the call to mech::cpu or mech::cuda by the device of the PROBE tensor),
//   - the CPU table mech::cpu::NAME (declared in core/cpu_kernels.h, written in core/cpu_*.cpp),
//   - the CUDA table mech::cuda::NAME (declared in cuda/backend.h, written in cuda/*.cu),
//   - the stub of a build without CUDA (cuda/stubs.cpp), which throws "built without CUDA".
// So a new line here is declared and dispatched everywhere; what remains is to write the CPU
// function and the CUDA function (the link fails until both exist). cuda/README.md has the steps.
//
//   MECH_KERNEL(NAME, PROBE, (PARAMETERS), (ARGUMENTS))
//
// No include guard on purpose: an includer defines MECH_KERNEL, includes this file, and gets one
// expansion; the file undefines MECH_KERNEL at its end. Users include core/kernels.h, not this.
//
// Conventions of every kernel: `out` is contiguous and already has its final shape and dtype;
// inputs may be strided views (an expanded input has stride 0 in broadcast dims) and share out's
// dtype unless stated; all tensors are on one device; nothing here knows about autograd.

#ifndef MECH_KERNEL
#error "define MECH_KERNEL(name, probe, parameters, arguments) before including core/kernel_list.h"
#endif

// out = op(x; p0, p1). Parameters: Elu(alpha), Softplus(beta, threshold), Clamp(min, max),
// Pow(exponent), ClampMask(min, max). Gelu is x Phi(x) (Phi the standard normal CDF, through
// erf), GeluTanh its tanh approximation.
MECH_KERNEL(unary, out, (UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1),
            (op, x, out, p0, p1))
// The backward of an activation in one pass: out = grad * f'(.), from `saved`, which is the
// forward's output y for Tanh (f' = 1 - y^2) and Sigmoid (y (1 - y)) and its input x for Relu,
// Elu, Softplus, Gelu and GeluTanh. Parameters: Elu(alpha), Softplus(beta, threshold), as the
// forward's. grad and saved have out's shape (either may be strided). Floating dtypes only.
MECH_KERNEL(activation_backward, out,
            (ActivationGrad op, const Tensor& grad, const Tensor& saved, const Tensor& out, double p0, double p1),
            (op, grad, saved, out, p0, p1))
// out = op(a, b) with a and b already broadcast to out's shape (stride 0 where expanded).
MECH_KERNEL(binary, out, (BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out), (op, a, b, out))
// out = condition != 0 ? a : b, all three broadcast to out's shape; condition of any dtype.
MECH_KERNEL(where, out, (const Tensor& condition, const Tensor& a, const Tensor& b, const Tensor& out),
            (condition, a, b, out))
// dst (any strides, same shape) = src converted to dst's dtype; both on dst's device.
MECH_KERNEL(copy, dst, (const Tensor& src, const Tensor& dst), (src, dst))
// Every element of out (which may be strided) = value.
MECH_KERNEL(fill, out, (const Tensor& out, double value), (out, value))
// out = sum of x over the dims where reduce[d] is true; out has x's rank with those sizes 1.
MECH_KERNEL(sum, out, (const Tensor& x, const std::vector<bool>& reduce, const Tensor& out), (x, reduce, out))
// Max along one dim: values and int64 indices with x's rank and size 1 at dim.
MECH_KERNEL(max, values, (const Tensor& x, std::int64_t dim, const Tensor& values, const Tensor& indices),
            (x, dim, values, indices))
// out[b] = a[b] @ b[b]: a (batch, m, k), b (batch, k, n), out (batch, m, n), any strides in a, b.
MECH_KERNEL(matmul, out, (const Tensor& a, const Tensor& b, const Tensor& out), (a, b, out))
// out (N, C_out, L_out) from input (N, C_in, L) and weight (C_out, C_in, K); bias (C_out) may be
// undefined.
MECH_KERNEL(conv1d, out,
            (const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out, std::int64_t stride,
             std::int64_t padding, std::int64_t dilation, PaddingMode mode),
            (input, weight, bias, out, stride, padding, dilation, mode))
// Gradients of conv1d: grad_input (like input) and grad_weight (like weight), either undefined to
// skip it.
MECH_KERNEL(conv1d_backward, grad_out,
            (const Tensor& grad_out, const Tensor& input, const Tensor& weight, const Tensor& grad_input,
             const Tensor& grad_weight, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
             PaddingMode mode),
            (grad_out, input, weight, grad_input, grad_weight, stride, padding, dilation, mode))
// out = x gathered along dim at index (int64, 1-D).
MECH_KERNEL(index_select, out, (const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out),
            (x, dim, index, out))
// out[.., index[i], ..] += source[.., i, ..] along dim (index int64, 1-D; repeats accumulate).
MECH_KERNEL(index_add, out, (const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source),
            (out, dim, index, source))
// Fused optimizer updates on contiguous same-dtype parameter/state tensors (see nn/optim.h).
MECH_KERNEL(sgd_step, param,
            (const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr, double momentum,
             double dampening, double weight_decay, bool nesterov, bool first_step),
            (param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first_step))
MECH_KERNEL(adam_step, param,
            (const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq, double lr,
             double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t step),
            (param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, decoupled, step))

// Real FFT over the last dim, numpy/torch conventions (norm "backward"), float32 or float64 (the
// CPU computes in double). forward: input (R..., n) contiguous -> out (R..., n/2+1, 2), the real
// and imaginary parts of sum_j x_j exp(-2 pi i j k / n). inverse: input (R..., n/2+1, 2)
// contiguous -> out (R..., n), the inverse of forward (divided by n); the imaginary parts of bin
// 0 and, for even n, bin n/2 are ignored. R... any batch dims, possibly none.
MECH_KERNEL(fft_real_forward, out, (const Tensor& input, const Tensor& out), (input, out))
MECH_KERNEL(fft_real_inverse, out, (const Tensor& input, const Tensor& out), (input, out))

#undef MECH_KERNEL
