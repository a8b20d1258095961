// CPU implementations of the kernels of core/kernel_list.h: the reference every CUDA kernel is
// checked against. Declared from the list; defined in core/cpu_*.cpp.
#pragma once

#include "core/kernels.h"

namespace mech::cpu {

#define MECH_KERNEL MECH_DECLARE_KERNEL
#include "core/kernel_list.h"

}  // namespace mech::cpu
