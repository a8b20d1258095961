// clip_grad_norm_: the joint gradient norm in float64 and the in-place rescale.
#include "nn/clip_grad.h"

#include <cmath>

#include "autograd/grad_mode.h"

namespace mech::nn {

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type) {
  MECH_CHECK(max_norm >= 0.0, "clip_grad_norm_: expected max_norm >= 0, got {}", max_norm);
  MECH_CHECK(norm_type > 0.0, "clip_grad_norm_: expected norm_type > 0, got {}", norm_type);
  NoGradGuard no_grad;
  const bool max_norm_type = std::isinf(norm_type);
  double accumulated = 0.0;
  std::vector<const Tensor*> with_grad;
  for (const auto& p : parameters) {
    check_defined("clip_grad_norm_", p, "parameter");
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    with_grad.push_back(&p);
    Tensor magnitude = abs(grad.detach().to(DType::Float64));
    if (grad.numel() == 0) continue;
    if (max_norm_type) accumulated = std::max(accumulated, magnitude.max().item());
    else if (norm_type == 2.0) accumulated += (magnitude * magnitude).sum().item();
    else accumulated += pow(magnitude, norm_type).sum().item();
  }
  const double total = max_norm_type ? accumulated : std::pow(accumulated, 1.0 / norm_type);
  if (!std::isfinite(total)) return total;
  const double coefficient = max_norm / (total + 1e-6);
  if (coefficient < 1.0) {
    // Fresh tensors rather than in-place scaling: the engine may hand one gradient tensor to two
    // parameters (or a view of another tensor), which an in-place update would scale twice.
    for (const Tensor* p : with_grad) p->set_grad(p->grad().detach() * coefficient);
  }
  return total;
}

}  // namespace mech::nn
