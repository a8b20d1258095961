// Adam/AdamW: option checks, lazily created moments, the fused update and the state.
#include "nn/adam.h"

#include "autograd/grad_mode.h"
#include "core/kernels.h"
#include "core/shape.h"

namespace mech::nn {

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options) : Adam(std::move(parameters), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options, bool decoupled, const char* type_name)
    : Optimizer(std::move(parameters), type_name), options_(options), decoupled_(decoupled) {
  const auto [beta1, beta2] = options.betas();
  MECH_CHECK(options.lr() >= 0.0, "{}: expected lr >= 0, got {}", type_name, options.lr());
  MECH_CHECK(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0,
             "{}: expected betas in [0, 1), got ({}, {})", type_name, beta1, beta2);
  MECH_CHECK(options.eps() >= 0.0, "{}: expected eps >= 0, got {}", type_name, options.eps());
  MECH_CHECK(options.weight_decay() >= 0.0, "{}: expected weight_decay >= 0, got {}", type_name,
             options.weight_decay());
  const std::size_t count = this->parameters().size();
  steps_.assign(count, 0);
  exp_avg_.resize(count);
  exp_avg_sq_.resize(count);
}

AdamW::AdamW(std::vector<Tensor> parameters, const AdamOptions& options)
    : Adam(std::move(parameters), options, true, "AdamW") {}

void Adam::set_lr(double lr) {
  MECH_CHECK(lr >= 0.0, "{}::set_lr: expected lr >= 0, got {}", type_name(), lr);
  options_.lr(lr);
}

void Adam::step() {
  NoGradGuard no_grad;
  const auto& params = parameters();
  const auto [beta1, beta2] = options_.betas();
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor grad = gradient_of(i);
    if (!grad.defined()) continue;
    follow_parameter(exp_avg_[i], params[i]);
    follow_parameter(exp_avg_sq_[i], params[i]);
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = zeros_like(params[i]);
      exp_avg_sq_[i] = zeros_like(params[i]);
    }
    ++steps_[i];
    kernels::adam_step(params[i], grad, exp_avg_[i], exp_avg_sq_[i], options_.lr(), beta1, beta2, options_.eps(),
                       options_.weight_decay(), decoupled_, steps_[i]);
  }
}

NamedTensors Adam::state_dict() const {
  NamedTensors state;
  state.emplace_back("lr", scalar_tensor(options_.lr(), TensorOptions().dtype(DType::Float64)));
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    state.emplace_back(fmt::format("step.{}", i), scalar_tensor(static_cast<double>(steps_[i]),
                                                                TensorOptions().dtype(DType::Int64)));
    state.emplace_back(fmt::format("exp_avg.{}", i), exp_avg_[i]);
    state.emplace_back(fmt::format("exp_avg_sq.{}", i), exp_avg_sq_[i]);
  }
  return state;
}

void Adam::load_state_dict(const NamedTensors& state) {
  const double lr = scalar_of(state, "lr", type_name());
  const std::size_t count = parameters().size();
  std::vector<std::int64_t> steps(count, 0);
  std::vector<Tensor> exp_avg(count);
  std::vector<Tensor> exp_avg_sq(count);
  NoGradGuard no_grad;
  for (const auto& [key, value] : state) {
    std::string name;
    const long index = parse_state_key(key, value, name);
    if (index < 0 && name == "lr") continue;
    MECH_CHECK(index >= 0 && (name == "step" || name == "exp_avg" || name == "exp_avg_sq"),
               "{}::load_state_dict: unexpected key '{}'", type_name(), key);
    const auto i = static_cast<std::size_t>(index);
    const Tensor& param = parameters()[i];
    if (name == "step") {
      MECH_CHECK(value.numel() == 1 && value.dtype() == DType::Int64,
                 "{}::load_state_dict: '{}' must be a one-element int64 tensor, got {} {}", type_name(), key,
                 dtype_name(value.dtype()), shape_str(value.shape()));
      steps[i] = value.to_vector<std::int64_t>()[0];
      MECH_CHECK(steps[i] >= 1, "{}::load_state_dict: '{}' is {}, expected >= 1", type_name(), key, steps[i]);
      continue;
    }
    MECH_CHECK(value.shape() == param.shape(), "{}::load_state_dict: '{}' has shape {}, parameter {} has {}",
               type_name(), key, shape_str(value.shape()), index, shape_str(param.shape()));
    (name == "exp_avg" ? exp_avg : exp_avg_sq)[i] = empty_like(param).copy_(value);
  }
  for (std::size_t i = 0; i < count; ++i) {
    const bool any = steps[i] > 0 || exp_avg[i].defined() || exp_avg_sq[i].defined();
    const bool all = steps[i] > 0 && exp_avg[i].defined() && exp_avg_sq[i].defined();
    MECH_CHECK(!any || all, "{}::load_state_dict: parameter {} needs all of step.{}, exp_avg.{} and exp_avg_sq.{}",
               type_name(), i, i, i, i);
  }
  set_lr(lr);
  steps_ = std::move(steps);
  exp_avg_ = std::move(exp_avg);
  exp_avg_sq_ = std::move(exp_avg_sq);
}

}  // namespace mech::nn
