// The CUDA backend's face to the rest of mech: device queries, the caching allocator, copies
// between host and device, and kernels with the same signatures as core/kernels.h. A build
// without CUDA links cuda/stubs.cpp, whose functions throw "built without CUDA".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/kernels.h"

namespace mech::cuda {

bool is_available();          // false without a device or without CUDA support in the build
// One line saying why is_available() is what it is, e.g. "1 CUDA device (cuda:0 NVIDIA H100 ...)"
// or "cudaGetDeviceCount failed: cudaErrorInsufficientDriver (...)"; never throws.
std::string availability();
int device_count();
std::string device_name(int device);

// Caching allocator: device blocks are reused by size class, never returned to the driver until
// empty_cache(); no cudaMalloc per op.
void* allocate(std::size_t nbytes, int device);
void release(void* pointer, std::size_t nbytes, int device) noexcept;  // never throws (destructors call it)
void empty_cache();
std::size_t cached_bytes();            // held in the free lists, ready for reuse
std::size_t allocated_bytes();         // handed out and not yet released (rounded to size classes)
std::size_t peak_allocated_bytes();    // the most allocated_bytes() has been since the last reset
void reset_peak_allocated_bytes();

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void synchronize();

// Kernels, as in core/kernels.h.
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

}  // namespace mech::cuda
