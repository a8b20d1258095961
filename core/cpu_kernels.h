// CPU implementations of core/kernels.h: the reference every CUDA kernel is checked against.
#pragma once

#include "core/kernels.h"

namespace mech::cpu {

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void where(const Tensor& condition, const Tensor& a, const Tensor& b, const Tensor& out);
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& out, double value);
void sum(const Tensor& x, const std::vector<bool>& reduce, const Tensor& out);
void max(const Tensor& x, std::int64_t dim, const Tensor& values, const Tensor& indices);
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
void conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
            std::int64_t stride, std::int64_t padding, std::int64_t dilation, PaddingMode mode);
void conv1d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                     const Tensor& grad_input, const Tensor& grad_weight, std::int64_t stride,
                     std::int64_t padding, std::int64_t dilation, PaddingMode mode);
void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out);
void index_add(const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source);
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov, bool first_step);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               std::int64_t step);

}  // namespace mech::cpu
