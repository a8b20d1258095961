// SGD: option checks, the per-parameter fused update, and its state.
#include "nn/sgd.h"

#include "autograd/grad_mode.h"
#include "core/kernels.h"
#include "core/shape.h"

namespace mech::nn {

namespace {
void check_options(const SGDOptions& options) {
  MECH_CHECK(options.lr() >= 0.0, "SGD: expected lr >= 0, got {}", options.lr());
  MECH_CHECK(options.momentum() >= 0.0, "SGD: expected momentum >= 0, got {}", options.momentum());
  MECH_CHECK(options.weight_decay() >= 0.0, "SGD: expected weight_decay >= 0, got {}", options.weight_decay());
  MECH_CHECK(!options.nesterov() || (options.momentum() > 0.0 && options.dampening() == 0.0),
             "SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum {} dampening {}",
             options.momentum(), options.dampening());
}
}  // namespace

SGD::SGD(std::vector<Tensor> parameters, const SGDOptions& options)
    : Optimizer(std::move(parameters), "SGD"), options_(options) {
  check_options(options_);
  momentum_buffers_.resize(this->parameters().size());
}

void SGD::set_lr(double lr) {
  MECH_CHECK(lr >= 0.0, "SGD::set_lr: expected lr >= 0, got {}", lr);
  options_.lr(lr);
}

void SGD::step() {
  NoGradGuard no_grad;
  const auto& params = parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor grad = gradient_of(i);
    if (!grad.defined()) continue;
    bool first = false;
    follow_parameter(momentum_buffers_[i], params[i]);
    if (options_.momentum() != 0.0 && !momentum_buffers_[i].defined()) {
      momentum_buffers_[i] = zeros_like(params[i]);
      first = true;
    }
    kernels::sgd_step(params[i], grad, momentum_buffers_[i], options_.lr(), options_.momentum(),
                      options_.dampening(), options_.weight_decay(), options_.nesterov(), first);
  }
}

NamedTensors SGD::state_dict() const {
  NamedTensors state;
  state.emplace_back("lr", scalar_tensor(options_.lr(), TensorOptions().dtype(DType::Float64)));
  for (std::size_t i = 0; i < momentum_buffers_.size(); ++i)
    if (momentum_buffers_[i].defined()) state.emplace_back(fmt::format("momentum_buffer.{}", i), momentum_buffers_[i]);
  return state;
}

void SGD::load_state_dict(const NamedTensors& state) {
  const double lr = scalar_of(state, "lr", "SGD");
  std::vector<Tensor> buffers(parameters().size());
  for (const auto& [key, value] : state) {
    std::string name;
    const long index = parse_state_key(key, value, name);
    if (index < 0 && name == "lr") continue;
    MECH_CHECK(index >= 0 && name == "momentum_buffer", "SGD::load_state_dict: unexpected key '{}'", key);
    const Tensor& param = parameters()[static_cast<std::size_t>(index)];
    MECH_CHECK(value.shape() == param.shape(), "SGD::load_state_dict: '{}' has shape {}, parameter {} has {}", key,
               shape_str(value.shape()), index, shape_str(param.shape()));
    NoGradGuard no_grad;
    // A private copy in the parameter's dtype and device: the loaded state must not alias the source.
    buffers[static_cast<std::size_t>(index)] = empty_like(param).copy_(value);
  }
  set_lr(lr);
  momentum_buffers_ = std::move(buffers);
}

}  // namespace mech::nn
