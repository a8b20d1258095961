// The CUDA backend of a build without CUDA: queries say "no device", everything else throws.
#include <string>

#include "cuda/backend.h"
#include "cuda/neurlp.h"
#include "cuda/neurlp_cusparse.h"

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

namespace neurlp {

template <class T>
std::shared_ptr<DeviceFactorization<T>> forward_batch(const Sizes&, std::int64_t, const BatchInputs<T>&, T*, T*, bool,
                                                      int) {
  unavailable("cuda::neurlp::forward_batch");
}
template <class T>
void backward_batch(const DeviceFactorization<T>&, const BatchInputs<T>&, const T*, const T*, const T*, const T*,
                    const BatchGradients<T>&) {
  unavailable("cuda::neurlp::backward_batch");
}
template std::shared_ptr<DeviceFactorization<float>> forward_batch<float>(const Sizes&, std::int64_t,
                                                                          const BatchInputs<float>&, float*, float*,
                                                                          bool, int);
template std::shared_ptr<DeviceFactorization<double>> forward_batch<double>(const Sizes&, std::int64_t,
                                                                            const BatchInputs<double>&, double*,
                                                                            double*, bool, int);
template void backward_batch<float>(const DeviceFactorization<float>&, const BatchInputs<float>&, const float*,
                                    const float*, const float*, const float*, const BatchGradients<float>&);
template void backward_batch<double>(const DeviceFactorization<double>&, const BatchInputs<double>&, const double*,
                                     const double*, const double*, const double*, const BatchGradients<double>&);

// The cuSPARSE comparison solver: the constructor throws, so no other member is ever reached.
template <class T>
struct CusparseSolver<T>::State {
  CsrLayout layout;
};
template <class T>
CusparseSolver<T>::CusparseSolver(const neurlp_core::Sizes&, std::int64_t, int) {
  unavailable("cuda::neurlp::CusparseSolver");
}
template <class T>
CusparseSolver<T>::~CusparseSolver() = default;
template <class T>
const CsrLayout& CusparseSolver<T>::layout() const {
  unavailable("cuda::neurlp::CusparseSolver::layout");
}
template <class T>
std::int64_t CusparseSolver<T>::bytes() const {
  return 0;
}
template <class T>
void CusparseSolver<T>::solve(const T*, const T*, T*) {
  unavailable("cuda::neurlp::CusparseSolver::solve");
}
template class CusparseSolver<float>;
template class CusparseSolver<double>;

}  // namespace neurlp
}  // namespace mech::cuda
