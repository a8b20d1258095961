// The CUDA backend's face to the rest of mech: device queries, the caching allocator, copies
// between host and device, and the kernels of core/kernel_list.h. A build without CUDA links
// cuda/stubs.cpp, whose functions throw "built without CUDA".
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

// The kernels of core/kernel_list.h, declared from the list; written in cuda/*.cu.
#define MECH_KERNEL MECH_DECLARE_KERNEL
#include "core/kernel_list.h"

}  // namespace mech::cuda
