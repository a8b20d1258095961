// Storage: one owned allocation on the CPU (64-byte aligned) or a CUDA device (from the caching
// allocator in cuda/). Tensors share it through std::shared_ptr; views differ only in offset,
// shape and strides.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace mech {

class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

}  // namespace mech
