// Device dispatch of the kernel layer, generated from core/kernel_list.h: CPU tensors go to
// mech::cpu, CUDA tensors to mech::cuda (or its throwing stubs in a build without CUDA).
#include "core/kernels.h"

#include "core/cpu_kernels.h"
#include "cuda/backend.h"

namespace mech::kernels {

#define MECH_KERNEL(name, probe, parameters, arguments)                                   \
  void name parameters {                                                                  \
    if (probe.device().is_cuda()) ::mech::cuda::name arguments;                           \
    else ::mech::cpu::name arguments;                                                     \
  }
#include "core/kernel_list.h"

}  // namespace mech::kernels
