// Parameter initialisation, as torch::nn::init: each function overwrites a tensor in place (without
// recording on the tape) from the given generator, or the default generator when it is null, and
// returns it. Fans follow PyTorch: for a weight of shape (out, in, k...) fan_in = in * k...,
// fan_out = out * k....
#pragma once

#include <string>
#include <utility>

#include "core/generator.h"
#include "core/tensor.h"

namespace mech::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Sigmoid, Tanh, Relu, LeakyRelu };

// (fan_in, fan_out) of a tensor with at least 2 dimensions; throws naming the shape otherwise.
std::pair<std::int64_t, std::int64_t> fan_in_and_fan_out(const Tensor& tensor);
// The recommended gain of a nonlinearity (leaky_relu uses negative_slope).
double calculate_gain(Nonlinearity nonlinearity, double negative_slope = 0.01);

Tensor uniform_(const Tensor& tensor, double low = 0.0, double high = 1.0, Generator* generator = nullptr);
Tensor normal_(const Tensor& tensor, double mean = 0.0, double std = 1.0, Generator* generator = nullptr);
Tensor constant_(const Tensor& tensor, double value);
Tensor zeros_(const Tensor& tensor);
Tensor ones_(const Tensor& tensor);

// He initialisation: std = gain / sqrt(fan); uniform bound = sqrt(3) * std. `a` is the negative
// slope of a leaky ReLU (PyTorch's Linear uses a = sqrt(5), giving bound 1/sqrt(fan_in)).
Tensor kaiming_uniform_(const Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                         Nonlinearity nonlinearity = Nonlinearity::LeakyRelu, Generator* generator = nullptr);
Tensor kaiming_normal_(const Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyRelu, Generator* generator = nullptr);
// Glorot initialisation: std = gain * sqrt(2 / (fan_in + fan_out)); uniform bound = sqrt(3) * std.
Tensor xavier_uniform_(const Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);
Tensor xavier_normal_(const Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);

}  // namespace mech::nn::init
