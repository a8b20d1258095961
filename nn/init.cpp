// Parameter initialisation: random values drawn on the host from a Generator, copied in place.
#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/shape.h"

namespace mech::nn::init {

namespace {

Generator& pick(Generator* generator) { return generator ? *generator : default_generator(); }

void check_float(const Tensor& tensor, const char* op) {
  check_defined(op, tensor, "tensor");
  MECH_CHECK(is_floating(tensor.dtype()), "init::{}: expected a float32 or float64 tensor, got {} of shape {}", op,
             dtype_name(tensor.dtype()), shape_str(tensor.shape()));
}

// Values are drawn in float64 on the CPU whatever the tensor's dtype and device, so one seed gives
// the same initial model in float32 and float64, on CPU and CUDA.
Tensor overwrite(const Tensor& tensor, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor target = tensor;
  target.copy_(values);
  return target;
}

std::int64_t fan(const Tensor& tensor, FanMode mode) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(tensor);
  return mode == FanMode::FanIn ? fan_in : fan_out;
}

}  // namespace

std::pair<std::int64_t, std::int64_t> fan_in_and_fan_out(const Tensor& tensor) {
  check_defined("fan_in_and_fan_out", tensor, "tensor");
  MECH_CHECK(tensor.dim() >= 2, "init: fan in and fan out need a tensor with at least 2 dimensions, got shape {}",
             shape_str(tensor.shape()));
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.size(d);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

double calculate_gain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::Relu: return std::sqrt(2.0);
    case Nonlinearity::LeakyRelu: return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
  }
  return 1.0;
}

Tensor uniform_(const Tensor& tensor, double low, double high, Generator* generator) {
  check_float(tensor, "uniform_");
  MECH_CHECK(low <= high, "init::uniform_: expected low <= high, got {} and {}", low, high);
  return overwrite(tensor, rand(tensor.shape(), TensorOptions().dtype(DType::Float64), &pick(generator), low, high));
}

Tensor normal_(const Tensor& tensor, double mean, double std, Generator* generator) {
  check_float(tensor, "normal_");
  MECH_CHECK(std >= 0.0, "init::normal_: expected std >= 0, got {}", std);
  NoGradGuard no_grad;
  Tensor values = randn(tensor.shape(), TensorOptions().dtype(DType::Float64), &pick(generator)) * std + mean;
  return overwrite(tensor, values);
}

Tensor constant_(const Tensor& tensor, double value) {
  check_float(tensor, "constant_");
  NoGradGuard no_grad;
  Tensor target = tensor;
  target.fill_(value);
  return target;
}

Tensor zeros_(const Tensor& tensor) { return constant_(tensor, 0.0); }
Tensor ones_(const Tensor& tensor) { return constant_(tensor, 1.0); }

Tensor kaiming_uniform_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                        Generator* generator) {
  check_float(tensor, "kaiming_uniform_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(tensor, mode)));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, generator);
}

Tensor kaiming_normal_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                       Generator* generator) {
  check_float(tensor, "kaiming_normal_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(tensor, mode)));
  return normal_(tensor, 0.0, std, generator);
}

Tensor xavier_uniform_(const Tensor& tensor, double gain, Generator* generator) {
  check_float(tensor, "xavier_uniform_");
  auto [fan_in, fan_out] = fan_in_and_fan_out(tensor);
  const double bound = std::sqrt(3.0) * gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(tensor, -bound, bound, generator);
}

Tensor xavier_normal_(const Tensor& tensor, double gain, Generator* generator) {
  check_float(tensor, "xavier_normal_");
  auto [fan_in, fan_out] = fan_in_and_fan_out(tensor);
  return normal_(tensor, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), generator);
}

}  // namespace mech::nn::init
