// Device dispatch of the kernel layer, generated from core/kernel_list.h: CPU tensors go to
// mech::cpu, CUDA tensors to mech::cuda (or its throwing stubs in a build without CUDA); and the
// copies between host and device that Tensor::to(Device) makes.
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

bool device_available(Device device) {
  if (device.is_cpu()) return true;
  return device.index >= 0 && device.index < cuda::device_count();
}

void copy_between_devices(const Tensor& src, const Tensor& dst) {
  MECH_CHECK(src.device() != dst.device() && (src.device().is_cpu() || dst.device().is_cpu()),
             "copy_between_devices: expected one tensor on the host and one on a CUDA device, got {} and {}",
             src.device().str(), dst.device().str());
  MECH_CHECK(src.is_contiguous() && dst.is_contiguous() && src.dtype() == dst.dtype() && src.shape() == dst.shape(),
             "copy_between_devices: expected contiguous tensors of one dtype and shape, got {} {} (strides {}) and "
             "{} {} (strides {})",
             dtype_name(src.dtype()), shape_str(src.shape()), shape_str(src.strides()), dtype_name(dst.dtype()),
             shape_str(dst.shape()), shape_str(dst.strides()));
  const std::size_t bytes = static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype());
  if (bytes == 0) return;
  if (dst.device().is_cuda()) cuda::copy_host_to_device(dst.raw_data(), src.raw_data(), bytes, dst.device().index);
  else cuda::copy_device_to_host(dst.raw_data(), src.raw_data(), bytes, src.device().index);
}

}  // namespace mech::kernels
