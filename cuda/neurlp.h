// NeuRLP on the GPU: the raw-array batch API of solvers/neurlp_batch.h with device pointers,
// running the per-system code of solvers/neurlp_system.h (the same __host__ __device__ source the
// CPU tests cover) one GPU thread per system: assembly, envelope Cholesky, eps border elimination,
// substitutions and the backward, each one kernel launch for the whole batch (no host loop over
// time steps). A build without CUDA links throwing stubs (cuda/stubs.cpp).
//
// Layouts as on the CPU, all contiguous device arrays: coeffs (B,E,T,D,K), rhs (B,E,T),
// iv (B,S,D,n_iv), steps (B,T-1,D), u (B,T,D,K), eps (B).
//
//   auto factors = mech::cuda::neurlp::forward_batch<double>(sizes, B, inputs, u, eps, true, 0);
//   mech::cuda::neurlp::backward_batch<double>(*factors, inputs, u, eps, grad_u, grad_eps, grads);
//
// Failures (non-finite input, non-positive step, singular system) throw mech::SolverError naming
// the first failing batch element, after the kernel has run for all of them.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "cuda/backend.h"
#include "solvers/neurlp_batch.h"

namespace mech::cuda::neurlp {

using neurlp_core::BatchGradients;
using neurlp_core::BatchInputs;
using neurlp_core::Sizes;

// A device allocation from the caching allocator, released with its owner.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t nbytes, int device) : data_(allocate(nbytes, device)), nbytes_(nbytes), device_(device) {}
  ~DeviceBuffer() { release(data_, nbytes_, device_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer moved(std::move(other));
    swap(moved);
    return *this;
  }
  void swap(DeviceBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(nbytes_, other.nbytes_);
    std::swap(device_, other.device_);
  }
  template <class T> T* as() const { return static_cast<T*>(data_); }
  std::size_t bytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  int device_ = 0;
};

// The envelope structure of M_uu for one shape on one device (first column and start of each row
// of L), shared by every system and every call with that shape: built once and cached.
struct DeviceEnvelope {
  std::int64_t size = 0;   // stored entries of one system's L
  DeviceBuffer first;      // int, n
  DeviceBuffer offset;     // int64, n
};

// The factors of every system of a batch, on the device: the envelope structure (shared), and per
// system L (envelope), 1/diag(L), z2 = M_uu^{-1} w and the border Schur complement.
template <class T>
struct DeviceFactorization {
  Sizes sizes;
  std::int64_t batch = 0;
  int device = 0;
  std::shared_ptr<const DeviceEnvelope> structure;
  DeviceBuffer env;                 // T, batch * structure->size
  DeviceBuffer inverse_diagonal;    // T, batch * n
  DeviceBuffer z2;                  // T, batch * n (mnn only)
  DeviceBuffer schur;               // T, batch (mnn only)
  std::int64_t bytes() const {  // per-batch memory (the cached structure not counted)
    return static_cast<std::int64_t>(env.bytes() + inverse_diagonal.bytes() + z2.bytes() + schur.bytes());
  }
};

// Solves the batch (device pointers): writes u and eps; returns the factors when keep_factors.
template <class T>
std::shared_ptr<DeviceFactorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch,
                                                      const BatchInputs<T>& inputs, T* u, T* eps,
                                                      bool keep_factors, int device);

// Gradients (device pointers) given grad_u (B,T,D,K) and grad_eps (B, may be null: zero) at the
// solution the forward returned; any gradient pointer may be null (not computed).
template <class T>
void backward_batch(const DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, const T* u,
                    const T* eps, const T* grad_u, const T* grad_eps, const BatchGradients<T>& gradients);

}  // namespace mech::cuda::neurlp
