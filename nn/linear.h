// Linear: y = x W^T + b over the last dimension, as torch::nn::Linear. x (..., in) -> y (..., out).
// Weight (out, in) and bias (out) start uniform in +-1/sqrt(in), PyTorch's default.
#pragma once

#include <cstdint>

#include "core/generator.h"
#include "nn/module.h"

namespace mech::nn {

struct LinearOptions {
  LinearOptions(std::int64_t in_features, std::int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& bias(bool value) { bias_ = value; return *this; }
  LinearOptions& dtype(DType value) { dtype_ = value; return *this; }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }
  DType dtype() const { return dtype_; }

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
  bool bias_ = true;
  DType dtype_ = DType::Float32;
};

class Linear : public Module {
 public:
  // generator: where the initial weights come from (the default generator when null).
  explicit Linear(const LinearOptions& options, Generator* generator = nullptr);
  Linear(std::int64_t in_features, std::int64_t out_features, Generator* generator = nullptr)
      : Linear(LinearOptions(in_features, out_features), generator) {}

  Tensor forward(const Tensor& input) override;
  // Redraws the weights (and bias) as the constructor did.
  void reset_parameters(Generator* generator = nullptr);

  const LinearOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }  // undefined without bias

 protected:
  std::string extra_repr() const override;

 private:
  LinearOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace mech::nn
