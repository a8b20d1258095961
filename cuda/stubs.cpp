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
void unary(UnaryOp, const Tensor&, const Tensor&, double, double) { unavailable("cuda::unary"); }
void binary(BinaryOp, const Tensor&, const Tensor&, const Tensor&) { unavailable("cuda::binary"); }
void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { unavailable("cuda::where"); }
void copy(const Tensor&, const Tensor&) { unavailable("cuda::copy"); }
void fill(const Tensor&, double) { unavailable("cuda::fill"); }
void sum(const Tensor&, const std::vector<bool>&, const Tensor&) { unavailable("cuda::sum"); }
void max(const Tensor&, std::int64_t, const Tensor&, const Tensor&) { unavailable("cuda::max"); }
void matmul(const Tensor&, const Tensor&, const Tensor&) { unavailable("cuda::matmul"); }
void conv1d(const Tensor&, const Tensor&, const Tensor&, const Tensor&, std::int64_t, std::int64_t,
            std::int64_t, PaddingMode) {
  unavailable("cuda::conv1d");
}
void conv1d_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     std::int64_t, std::int64_t, std::int64_t, PaddingMode) {
  unavailable("cuda::conv1d_backward");
}
void index_select(const Tensor&, std::int64_t, const Tensor&, const Tensor&) {
  unavailable("cuda::index_select");
}
void index_add(const Tensor&, std::int64_t, const Tensor&, const Tensor&) { unavailable("cuda::index_add"); }
void sgd_step(const Tensor&, const Tensor&, const Tensor&, double, double, double, double, bool, bool) {
  unavailable("cuda::sgd_step");
}
void adam_step(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double, double, double,
               double, bool, std::int64_t) {
  unavailable("cuda::adam_step");
}

}  // namespace mech::cuda
