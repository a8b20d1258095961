// Activation modules (no parameters): Tanh, ReLU, ELU, GELU, Sigmoid, Softplus, and Identity, plus the
// Activation enum that the MLP builder and drivers use to name one ("tanh", "relu", ...).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "nn/module.h"

namespace mech::nn {

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& input) override { return tanh(input); }
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override { return relu(input); }
};

class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0) : Module("ELU"), alpha_(alpha) {}
  Tensor forward(const Tensor& input) override { return elu(input, alpha_); }
  double alpha() const { return alpha_; }

 protected:
  std::string extra_repr() const override { return fmt::format("alpha={}", alpha_); }

 private:
  double alpha_;
};

// x Phi(x) (GeluApproximation::None, the default, as torch.nn.GELU) or its tanh approximation.
class GELU : public Module {
 public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::None) : Module("GELU"), approximate_(approximate) {}
  Tensor forward(const Tensor& input) override { return gelu(input, approximate_); }
  GeluApproximation approximate() const { return approximate_; }

 protected:
  std::string extra_repr() const override {
    return fmt::format("approximate='{}'", approximate_ == GeluApproximation::Tanh ? "tanh" : "none");
  }

 private:
  GeluApproximation approximate_;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& input) override { return sigmoid(input); }
};

class Softplus : public Module {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0)
      : Module("Softplus"), beta_(beta), threshold_(threshold) {}
  Tensor forward(const Tensor& input) override { return softplus(input, beta_, threshold_); }

 protected:
  std::string extra_repr() const override { return fmt::format("beta={}, threshold={}", beta_, threshold_); }

 private:
  double beta_;
  double threshold_;
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& input) override { return input; }
};

enum class Activation { Tanh, ReLU, ELU, GELU, Sigmoid, Softplus, Identity };

// A fresh module for `kind` (ELU with alpha 1, GELU exact, Softplus with beta 1).
std::shared_ptr<Module> make_activation(Activation kind);
// "tanh", "relu", "elu", "gelu", "sigmoid", "softplus", "identity" (case-insensitive); throws
// mech::Error listing these otherwise.
Activation parse_activation(const std::string& name);
const char* activation_name(Activation kind);

}  // namespace mech::nn
