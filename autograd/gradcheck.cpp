// Central-difference gradient checking against the tape.
#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/generator.h"

namespace mech {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& function,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  bool any_marked = false;
  for (const auto& input : inputs) {
    check_defined("gradcheck", input, "input");
    MECH_CHECK(input.dtype() == DType::Float64, "gradcheck: inputs must be float64, got {} of shape {}",
               dtype_name(input.dtype()), shape_str(input.shape()));
    any_marked = any_marked || input.requires_grad();
  }
  // Fresh contiguous leaves, so perturbing them is safe and their .grad is ours alone.
  std::vector<Tensor> leaves;
  std::vector<bool> checked;
  for (const auto& input : inputs) {
    Tensor leaf = input.detach().clone();
    checked.push_back(!any_marked || input.requires_grad());
    if (checked.back()) leaf.requires_grad_(true);
    leaves.push_back(leaf);
  }
  Tensor probe = [&] {
    NoGradGuard no_grad;
    return function(leaves);
  }();
  Generator generator(1234);
  const Tensor weights = randn(probe.shape(), TensorOptions().dtype(DType::Float64).device(probe.device()), &generator);
  auto objective = [&](const std::vector<Tensor>& values) { return (function(values).to(DType::Float64) * weights).sum(); };

  objective(leaves).backward();

  GradcheckResult result;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (!checked[i]) continue;
    Tensor analytic_tensor = leaves[i].grad();
    std::vector<double> analytic = analytic_tensor.defined() ? analytic_tensor.to_vector<double>()
                                                             : std::vector<double>(leaves[i].numel(), 0.0);
    double* data = leaves[i].data_ptr<double>();
    NoGradGuard no_grad;
    for (std::int64_t j = 0; j < leaves[i].numel(); ++j) {
      const double saved = data[j];
      data[j] = saved + options.step;
      const double plus = objective(leaves).item();
      data[j] = saved - options.step;
      const double minus = objective(leaves).item();
      data[j] = saved;
      const double numerical = (plus - minus) / (2.0 * options.step);
      const double error = std::abs(numerical - analytic[j]);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (result.ok && !(error <= options.atol + options.rtol * std::abs(numerical))) {
        result.ok = false;
        result.message = fmt::format(
            "gradcheck: input {} (shape {}), element {}: analytic {:.10g} vs numerical {:.10g} (|diff| {:.3g})", i,
            shape_str(leaves[i].shape()), j, analytic[j], numerical, error);
      }
    }
  }
  return result;
}

}  // namespace mech
