// Storage allocation: aligned host memory, or a block from the CUDA caching allocator.
#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "cuda/backend.h"

namespace mech {

namespace {
constexpr std::size_t kHostAlignment = 64;  // a cache line, and AVX-512 friendly
}

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cuda()) {
    data_ = nbytes == 0 ? nullptr : cuda::allocate(nbytes, device.index);
    return;
  }
  const std::size_t rounded = (nbytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  data_ = std::aligned_alloc(kHostAlignment, rounded == 0 ? kHostAlignment : rounded);
  if (data_ == nullptr) {
    throw Error(fmt::format("Storage: could not allocate {} bytes of host memory", nbytes));
  }
}

Storage::~Storage() {
  if (device_.is_cuda()) {
    if (data_ != nullptr) cuda::release(data_, nbytes_, device_.index);
  } else {
    std::free(data_);
  }
}

}  // namespace mech
