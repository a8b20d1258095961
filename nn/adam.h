// Adam and AdamW, as torch::optim::Adam / AdamW:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),
// with weight decay added to the gradient (Adam, g += wd p) or applied to the weight (AdamW,
// p *= 1 - lr wd, before the moment update).
//
//   mech::nn::AdamW optimizer(params, mech::nn::AdamOptions(1e-3).betas({0.9, 0.999}).weight_decay(1e-2));
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "nn/optimizer.h"

namespace mech::nn {

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  AdamOptions& lr(double value) { lr_ = value; return *this; }
  AdamOptions& betas(std::pair<double, double> value) { betas_ = value; return *this; }
  AdamOptions& eps(double value) { eps_ = value; return *this; }
  AdamOptions& weight_decay(double value) { weight_decay_ = value; return *this; }
  double lr() const { return lr_; }
  std::pair<double, double> betas() const { return betas_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }

 private:
  double lr_;
  std::pair<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_ = 0.0;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> parameters, const AdamOptions& options);

  void step() override;
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override;
  const AdamOptions& options() const { return options_; }

  // "lr", and per parameter that has stepped: "step.<i>" (int64), "exp_avg.<i>", "exp_avg_sq.<i>".
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;

  // Updates applied to parameter `index` so far.
  std::int64_t step_count(std::size_t index) const { return steps_.at(index); }

 protected:
  Adam(std::vector<Tensor> parameters, const AdamOptions& options, bool decoupled, const char* type_name);

 private:
  AdamOptions options_;
  bool decoupled_;
  std::vector<std::int64_t> steps_;
  std::vector<Tensor> exp_avg_;
  std::vector<Tensor> exp_avg_sq_;
};

// Adam with decoupled weight decay. PyTorch's AdamW defaults weight_decay to 1e-2; here the options
// say what they say (0 unless set), so the same AdamOptions mean the same thing to both classes.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> parameters, const AdamOptions& options);
};

}  // namespace mech::nn
