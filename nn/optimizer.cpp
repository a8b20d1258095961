// Optimizer base: gradient access and the checks shared by the optimizers' state loading.
#include "nn/optimizer.h"

#include <charconv>

#include "autograd/grad_mode.h"
#include "core/shape.h"

namespace mech::nn {

Optimizer::Optimizer(std::vector<Tensor> parameters, std::string type_name)
    : parameters_(std::move(parameters)), type_name_(std::move(type_name)) {
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    check_defined(type_name_.c_str(), parameters_[i], "parameter");
    MECH_CHECK(is_floating(parameters_[i].dtype()), "{}: parameter {} has dtype {}, expected float32 or float64",
               type_name_, i, dtype_name(parameters_[i].dtype()));
    MECH_CHECK(parameters_[i].is_leaf(), "{}: parameter {} (shape {}) is not a leaf tensor", type_name_, i,
               shape_str(parameters_[i].shape()));
    MECH_CHECK(parameters_[i].is_contiguous(), "{}: parameter {} (shape {}) must be contiguous", type_name_, i,
               shape_str(parameters_[i].shape()));
    for (std::size_t j = 0; j < i; ++j)
      MECH_CHECK(!parameters_[i].is_same(parameters_[j]), "{}: parameter {} is the same tensor as parameter {}",
                 type_name_, i, j);
  }
}

void Optimizer::zero_grad() {
  for (const auto& p : parameters_) p.zero_grad();
}

Tensor Optimizer::gradient_of(std::size_t index) const {
  const Tensor& p = parameters_[index];
  Tensor grad = p.grad();
  if (!grad.defined()) return grad;
  MECH_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype() && grad.device() == p.device(),
             "{}::step: gradient of parameter {} is {} {} on {}, expected the parameter's {} {} on {}", type_name_,
             index, dtype_name(grad.dtype()), shape_str(grad.shape()), grad.device().str(), dtype_name(p.dtype()),
             shape_str(p.shape()), p.device().str());
  NoGradGuard no_grad;
  return grad.detach().contiguous();
}

long Optimizer::parse_state_key(const std::string& key, const Tensor& value, std::string& name) const {
  check_defined("Optimizer::load_state_dict", value, key.c_str());
  const auto dot = key.rfind('.');
  if (dot == std::string::npos) {
    name = key;
    return -1;
  }
  name = key.substr(0, dot);
  long index = -1;
  const char* begin = key.data() + dot + 1;
  const char* end = key.data() + key.size();
  auto [last, error] = std::from_chars(begin, end, index);
  MECH_CHECK(error == std::errc() && last == end && index >= 0,
             "{}::load_state_dict: key '{}' does not end in a parameter index", type_name_, key);
  MECH_CHECK(static_cast<std::size_t>(index) < parameters_.size(),
             "{}::load_state_dict: key '{}' refers to parameter {}, but the optimizer has {} parameters", type_name_,
             key, index, parameters_.size());
  return index;
}

void Optimizer::follow_parameter(Tensor& state, const Tensor& parameter) {
  if (!state.defined() || (state.device() == parameter.device() && state.dtype() == parameter.dtype())) return;
  NoGradGuard no_grad;
  state = state.to(parameter.device()).to(parameter.dtype()).contiguous();
}

double Optimizer::scalar_of(const NamedTensors& state, const std::string& key, const std::string& owner) {
  for (const auto& [name, value] : state) {
    if (name != key) continue;
    MECH_CHECK(value.defined() && value.numel() == 1, "{}::load_state_dict: '{}' must be a one-element tensor",
               owner, key);
    return value.item();
  }
  throw Error(fmt::format("{}::load_state_dict: the state has no '{}'", owner, key));
}

}  // namespace mech::nn
