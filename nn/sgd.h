// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch::optim::SGD:
//   d = g + weight_decay p;  b = momentum b + (1 - dampening) d  (b = d on the first step);
//   d = nesterov ? d + momentum b : b;  p -= lr d.
//
//   mech::nn::SGD optimizer(params, mech::nn::SGDOptions(0.1).momentum(0.9).nesterov(true));
#pragma once

#include <vector>

#include "nn/optimizer.h"

namespace mech::nn {

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  SGDOptions& lr(double value) { lr_ = value; return *this; }
  SGDOptions& momentum(double value) { momentum_ = value; return *this; }
  SGDOptions& dampening(double value) { dampening_ = value; return *this; }
  SGDOptions& weight_decay(double value) { weight_decay_ = value; return *this; }
  SGDOptions& nesterov(bool value) { nesterov_ = value; return *this; }
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }

 private:
  double lr_;
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  double weight_decay_ = 0.0;
  bool nesterov_ = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> parameters, const SGDOptions& options);

  void step() override;
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override;
  const SGDOptions& options() const { return options_; }

  // "lr", and "momentum_buffer.<i>" for every parameter whose buffer exists.
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffers_;  // undefined until the parameter's first step
};

}  // namespace mech::nn
