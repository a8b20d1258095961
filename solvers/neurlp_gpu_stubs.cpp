// The GPU solver's entry points in a build without CUDA (CMake links this file instead of
// neurlp_gpu.cu and neurlp_cusparse.cu): every one throws "built without CUDA", so a CUDA tensor or
// a --device cuda request fails with one clear message instead of at link time.
#include <string>

#include "core/error.h"
#include "solvers/neurlp_cusparse.h"
#include "solvers/neurlp_gpu.h"

namespace mech::neurlp_gpu {
namespace {
[[noreturn]] void built_without_cuda(const char* what) {
  throw Error(fmt::format("{}: mech was built without CUDA (configure with -DMECH_CUDA=ON on a machine with the "
                          "CUDA Toolkit)",
                          what));
}
}  // namespace

template <class T>
std::shared_ptr<DeviceFactorization<T>> forward_batch(const Sizes&, std::int64_t, const BatchInputs<T>&, T*, T*, bool,
                                                      int) {
  built_without_cuda("neurlp_gpu::forward_batch");
}
template <class T>
void backward_batch(const DeviceFactorization<T>&, const BatchInputs<T>&, const T*, const T*, const T*, const T*,
                    const BatchGradients<T>&) {
  built_without_cuda("neurlp_gpu::backward_batch");
}
MECH_NEURLP_GPU_INSTANTIATE(float)
MECH_NEURLP_GPU_INSTANTIATE(double)

// The cuSPARSE comparison solver: the constructor throws, so no other member is ever reached.
template <class T>
struct CusparseSolver<T>::State {
  CsrLayout layout;
};
template <class T>
CusparseSolver<T>::CusparseSolver(const neurlp_core::Sizes&, std::int64_t, int) {
  built_without_cuda("neurlp_gpu::CusparseSolver");
}
template <class T>
CusparseSolver<T>::~CusparseSolver() = default;
template <class T>
const CsrLayout& CusparseSolver<T>::layout() const {
  built_without_cuda("neurlp_gpu::CusparseSolver::layout");
}
template <class T>
std::int64_t CusparseSolver<T>::bytes() const {
  return 0;
}
template <class T>
void CusparseSolver<T>::solve(const T*, const T*, T*) {
  built_without_cuda("neurlp_gpu::CusparseSolver::solve");
}
template class CusparseSolver<float>;
template class CusparseSolver<double>;

}  // namespace mech::neurlp_gpu
