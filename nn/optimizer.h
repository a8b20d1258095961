// Optimizer: the base of SGD, Adam and AdamW, as torch::optim::Optimizer with one parameter group.
//
//   mech::nn::Adam optimizer(model->parameters(), mech::nn::AdamOptions(1e-3));
//   optimizer.zero_grad();
//   loss.backward();
//   optimizer.step();
//
// The whole state (learning rate, per-parameter moments and step counts) is exported as named
// tensors, keyed by the parameter's position in the list given at construction ("exp_avg.3"), so
// a checkpoint restores it into an optimizer built over the same parameters in the same order.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"

namespace mech::nn {

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> parameters, std::string type_name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Drops every parameter's gradient (set_to_none, as PyTorch's default).
  void zero_grad();
  // One update of every parameter that has a gradient; parameters without one are skipped.
  virtual void step() = 0;

  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;

  const std::vector<Tensor>& parameters() const { return parameters_; }
  const std::string& type_name() const { return type_name_; }

  // "lr" (float64 scalar) plus the subclass's per-parameter state.
  virtual NamedTensors state_dict() const = 0;
  // Replaces the state. Keys, shapes and dtypes are checked against the parameters before anything
  // changes; an unknown key or a parameter index out of range is an error.
  virtual void load_state_dict(const NamedTensors& state) = 0;

 protected:
  // The gradient of parameter `index`, contiguous, checked to match the parameter's dtype, device and
  // shape; undefined when the parameter has none.
  Tensor gradient_of(std::size_t index) const;
  // Splits "name.index" keys; checks the index against the parameter count and the tensor's shape
  // against that parameter. Returns the index, or -1 for a key without an index.
  long parse_state_key(const std::string& key, const Tensor& value, std::string& name) const;
  // Moves or converts a state tensor to its parameter's device and dtype when the module was moved
  // (Module::to) after the state was created; a no-op otherwise.
  static void follow_parameter(Tensor& state, const Tensor& parameter);
  static double scalar_of(const NamedTensors& state, const std::string& key, const std::string& owner);

 private:
  std::vector<Tensor> parameters_;
  std::string type_name_;
};

}  // namespace mech::nn
