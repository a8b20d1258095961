// What the CUDA translation units share (not part of mech's public API): the per-device stream
// every kernel and copy runs on, the cuBLAS handle bound to it, a device guard, launch sizing and
// scratch buffers from the caching allocator. Included only by cuda/*.cu.
#pragma once

#include "cuda/nvcc_fmt.h"  // before fmt

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "core/tensor.h"
#include "cuda/check.h"

namespace mech::cuda {

// One non-blocking stream per device: all of mech's work on a device is ordered on it, which is
// what lets the allocator hand a released block to the next op without synchronising.
cudaStream_t stream(int device);
cublasHandle_t cublas_handle(int device);

// Makes `device` current for the scope, restoring the previous device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// Threads per block of the elementwise kernels, and a grid that covers `count` elements with a
// grid-stride loop (capped: more blocks than the GPU holds at once only add scheduling cost).
inline constexpr int kBlockSize = 256;
inline unsigned grid_for(std::int64_t count) {
  const std::int64_t blocks = (count + kBlockSize - 1) / kBlockSize;
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 132 * 16));
}

// A device buffer from the caching allocator, returned to it when the scope ends.
class ScratchBuffer {
 public:
  ScratchBuffer(std::size_t nbytes, int device);
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  void* data() const { return data_; }
  template <class T> T* as() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  int device_ = 0;
};

// Throws unless every defined tensor is a CUDA tensor on out's device.
void check_on_device(const char* op, const Tensor& out, std::initializer_list<const Tensor*> inputs);

}  // namespace mech::cuda
