// The CUDA backend of a build without CUDA: queries say "no device", everything else throws.
#include <string>

#include "cuda/backend.h"

namespace mech::cuda {
namespace {
[[noreturn]] void unavailable(const char* what) {
  throw Error(fmt::format("{}: mech was built without CUDA (configure with -DMECH_CUDA=ON on a "
                          "machine with the CUDA Toolkit)", what));
}
}  // namespace

bool is_available() { return false; }
std::string availability() { return "mech was built without CUDA"; }
int device_count() { return 0; }
std::string device_name(int) { unavailable("cuda::device_name"); }
void* allocate(std::size_t, int) { unavailable("cuda::allocate"); }
void release(void*, std::size_t, int) noexcept {}  // nothing was ever allocated
void empty_cache() {}
std::size_t cached_bytes() { return 0; }
std::size_t allocated_bytes() { return 0; }
std::size_t peak_allocated_bytes() { return 0; }
void reset_peak_allocated_bytes() {}
void copy_host_to_device(void*, const void*, std::size_t, int) { unavailable("to(cuda)"); }
void copy_device_to_host(void*, const void*, std::size_t, int) { unavailable("to(cpu)"); }
void copy_device_to_device(void*, const void*, std::size_t, int) { unavailable("cuda copy"); }
void synchronize() {}

// Every kernel of the list: uses its parameters (so no unused-parameter warning) and throws.
template <class... Parameters>
void discard(const Parameters&...) {}
#define MECH_KERNEL(name, probe, parameters, arguments) \
  void name parameters {                                \
    discard arguments;                                  \
    unavailable("cuda::" #name);                        \
  }
#include "core/kernel_list.h"

}  // namespace mech::cuda
