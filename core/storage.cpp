// Storage allocation: a 64-byte aligned host block (large ones cached for reuse, core/host_cache.h),
// or a block from the CUDA caching allocator.
#include "core/storage.h"

#include <new>

#include "core/host_cache.h"
#include "cuda/backend.h"

namespace mech {

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cuda()) {
    data_ = nbytes == 0 ? nullptr : cuda::allocate(nbytes, device.index);
    return;
  }
  try {
    data_ = host_cache::take(nbytes);
  } catch (const std::bad_alloc&) {
    throw Error(fmt::format("Storage: could not allocate {} bytes of host memory", nbytes));
  }
}

Storage::~Storage() {
  if (device_.is_cuda()) {
    if (data_ != nullptr) cuda::release(data_, nbytes_, device_.index);
  } else {
    host_cache::give(data_, nbytes_);
  }
}

}  // namespace mech
