// Anomaly mode: NaN/Inf detection that names the op.
#include "autograd/anomaly.h"

#include <atomic>
#include <cmath>

#include "autograd/grad_mode.h"

namespace mech {

namespace {
std::atomic<bool> anomaly_mode{false};
}

bool anomaly_mode_enabled() { return anomaly_mode.load(); }
void set_anomaly_mode(bool enabled) { anomaly_mode.store(enabled); }

bool all_finite(const Tensor& x) {
  if (!is_floating(x.dtype())) return true;
  NoGradGuard no_grad;
  for (double value : x.to_vector<double>()) {
    if (!std::isfinite(value)) return false;
  }
  return true;
}

void check_anomaly(const char* op, const Tensor& x, const char* phase) {
  if (!anomaly_mode_enabled() || !x.defined()) return;
  MECH_CHECK(all_finite(x), "anomaly: op '{}' produced NaN or Inf in its {} output of shape {}", op, phase,
             shape_str(x.shape()));
}

}  // namespace mech
