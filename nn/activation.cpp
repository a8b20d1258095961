// Activation factory and name parsing (the modules themselves are header-only).
#include "nn/activation.h"

#include <algorithm>
#include <cctype>

namespace mech::nn {

std::shared_ptr<Module> make_activation(Activation kind) {
  switch (kind) {
    case Activation::Tanh: return std::make_shared<Tanh>();
    case Activation::ReLU: return std::make_shared<ReLU>();
    case Activation::ELU: return std::make_shared<ELU>();
    case Activation::GELU: return std::make_shared<GELU>();
    case Activation::Sigmoid: return std::make_shared<Sigmoid>();
    case Activation::Softplus: return std::make_shared<Softplus>();
    case Activation::Identity: return std::make_shared<Identity>();
  }
  throw Error("make_activation: unknown activation");
}

Activation parse_activation(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (Activation kind : {Activation::Tanh, Activation::ReLU, Activation::ELU, Activation::GELU, Activation::Sigmoid,
                          Activation::Softplus, Activation::Identity}) {
    if (lower == activation_name(kind)) return kind;
  }
  throw Error(fmt::format("parse_activation: unknown activation '{}', expected one of tanh, relu, elu, gelu, "
                          "sigmoid, softplus, identity",
                          name));
}

const char* activation_name(Activation kind) {
  switch (kind) {
    case Activation::Tanh: return "tanh";
    case Activation::ReLU: return "relu";
    case Activation::ELU: return "elu";
    case Activation::GELU: return "gelu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Softplus: return "softplus";
    case Activation::Identity: return "identity";
  }
  return "unknown";
}

}  // namespace mech::nn
