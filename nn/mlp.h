// The MLP builder: Linear layers of the given sizes with an activation between them and an
// optional one after the last, returned as a Sequential.
//
//   auto net = mech::nn::make_mlp(mech::nn::MLPOptions({1, 64, 64, 1}).activation(mech::nn::Activation::Tanh));
//   // Sequential: Linear(1, 64), Tanh, Linear(64, 64), Tanh, Linear(64, 1)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/generator.h"
#include "nn/activation.h"
#include "nn/sequential.h"

namespace mech::nn {

struct MLPOptions {
  // sizes: input width, hidden widths..., output width (at least two entries).
  explicit MLPOptions(std::vector<std::int64_t> sizes) : sizes_(std::move(sizes)) {}
  MLPOptions& activation(Activation value) { activation_ = value; return *this; }
  // The activation after the last layer; std::nullopt (the default) for none.
  MLPOptions& final_activation(std::optional<Activation> value) { final_activation_ = value; return *this; }
  MLPOptions& bias(bool value) { bias_ = value; return *this; }
  MLPOptions& dtype(DType value) { dtype_ = value; return *this; }
  const std::vector<std::int64_t>& sizes() const { return sizes_; }
  Activation activation() const { return activation_; }
  std::optional<Activation> final_activation() const { return final_activation_; }
  bool bias() const { return bias_; }
  DType dtype() const { return dtype_; }

 private:
  std::vector<std::int64_t> sizes_;
  Activation activation_ = Activation::Tanh;
  std::optional<Activation> final_activation_;
  bool bias_ = true;
  DType dtype_ = DType::Float32;
};

// Layers are initialised in order from `generator` (the default generator when null).
std::shared_ptr<Sequential> make_mlp(const MLPOptions& options, Generator* generator = nullptr);

}  // namespace mech::nn
