// Anomaly mode: NaN/Inf detection that names the op.
#include "autograd/anomaly.h"

#include <atomic>
#include <cmath>

#include "core/kernels.h"

namespace mech {

namespace {
std::atomic<bool> anomaly_mode{false};
}

bool anomaly_mode_enabled() { return anomaly_mode.load(); }
void set_anomaly_mode(bool enabled) { anomaly_mode.store(enabled); }

namespace {
template <class T>
bool all_finite_values(const Tensor& host) {
  const T* data = host.data_ptr<T>();
  for (std::int64_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(data[i])) return false;
  return true;
}
}  // namespace

bool all_finite(const Tensor& x) {
  if (!is_floating(x.dtype())) return true;
  // A contiguous host copy in x's own dtype, made by the kernels directly: going through the to()
  // ops would run their own anomaly check, which would then name to_dtype or to_device instead of
  // the op being checked.
  Tensor host = empty(x.shape(), TensorOptions().dtype(x.dtype()));
  if (x.device().is_cuda()) {
    Tensor packed = empty(x.shape(), TensorOptions().dtype(x.dtype()).device(x.device()));
    kernels::copy(x, packed);
    kernels::copy_between_devices(packed, host);
  } else {
    kernels::copy(x, host);
  }
  return x.dtype() == DType::Float32 ? all_finite_values<float>(host) : all_finite_values<double>(host);
}

void check_anomaly(const char* op, const Tensor& x, const char* phase) {
  if (!anomaly_mode_enabled() || !x.defined()) return;
  MECH_CHECK(all_finite(x), "anomaly: op '{}' produced NaN or Inf in its {} output of shape {}", op, phase,
             shape_str(x.shape()));
}

}  // namespace mech
