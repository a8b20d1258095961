// Device dispatch of the kernel layer: CPU tensors go to mech::cpu, CUDA tensors to mech::cuda.
#include "core/kernels.h"

#include "core/cpu_kernels.h"
#include "cuda/backend.h"

namespace mech::kernels {

namespace {
bool on_cuda(const Tensor& t) { return t.device().is_cuda(); }
}  // namespace

#define MECH_DISPATCH_DEVICE(probe, name, ...) \
  (on_cuda(probe) ? ::mech::cuda::name(__VA_ARGS__) : ::mech::cpu::name(__VA_ARGS__))

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  MECH_DISPATCH_DEVICE(out, unary, op, x, out, p0, p1);
}
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  MECH_DISPATCH_DEVICE(out, binary, op, a, b, out);
}
void where(const Tensor& condition, const Tensor& a, const Tensor& b, const Tensor& out) {
  MECH_DISPATCH_DEVICE(out, where, condition, a, b, out);
}
void copy(const Tensor& src, const Tensor& dst) { MECH_DISPATCH_DEVICE(dst, copy, src, dst); }
void fill(const Tensor& out, double value) { MECH_DISPATCH_DEVICE(out, fill, out, value); }
void sum(const Tensor& x, const std::vector<bool>& reduce, const Tensor& out) {
  MECH_DISPATCH_DEVICE(out, sum, x, reduce, out);
}
void max(const Tensor& x, std::int64_t dim, const Tensor& values, const Tensor& indices) {
  MECH_DISPATCH_DEVICE(values, max, x, dim, values, indices);
}
void matmul(const Tensor& a, const Tensor& b, const Tensor& out) { MECH_DISPATCH_DEVICE(out, matmul, a, b, out); }
void conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
            std::int64_t stride, std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  MECH_DISPATCH_DEVICE(out, conv1d, input, weight, bias, out, stride, padding, dilation, mode);
}
void conv1d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                     const Tensor& grad_input, const Tensor& grad_weight, std::int64_t stride,
                     std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  MECH_DISPATCH_DEVICE(grad_out, conv1d_backward, grad_out, input, weight, grad_input, grad_weight, stride,
                       padding, dilation, mode);
}
void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out) {
  MECH_DISPATCH_DEVICE(out, index_select, x, dim, index, out);
}
void index_add(const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source) {
  MECH_DISPATCH_DEVICE(out, index_add, out, dim, index, source);
}
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov, bool first_step) {
  MECH_DISPATCH_DEVICE(param, sgd_step, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                       nesterov, first_step);
}
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               std::int64_t step) {
  MECH_DISPATCH_DEVICE(param, adam_step, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                       decoupled, step);
}

#undef MECH_DISPATCH_DEVICE

}  // namespace mech::kernels
