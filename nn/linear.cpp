// Linear layer: weight and bias registration, PyTorch's default initialisation, forward.
#include "nn/linear.h"

#include <cmath>

#include "core/shape.h"
#include "nn/init.h"

namespace mech::nn {

Linear::Linear(const LinearOptions& options, Generator* generator) : Module("Linear"), options_(options) {
  MECH_CHECK(options.in_features() > 0 && options.out_features() > 0,
             "Linear: expected positive feature counts, got in_features={} out_features={}", options.in_features(),
             options.out_features());
  const auto tensor_options = TensorOptions().dtype(options.dtype());
  weight_ = register_parameter("weight", empty({options.out_features(), options.in_features()}, tensor_options));
  if (options.bias()) bias_ = register_parameter("bias", empty({options.out_features()}, tensor_options));
  reset_parameters(generator);
}

void Linear::reset_parameters(Generator* generator) {
  // a = sqrt(5) makes the weight's bound 1/sqrt(in), the same as the bias's.
  init::kaiming_uniform_(weight_, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyRelu, generator);
  if (bias_.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options_.in_features()));
    init::uniform_(bias_, -bound, bound, generator);
  }
}

Tensor Linear::forward(const Tensor& input) {
  check_defined("Linear::forward", input, "input");
  MECH_CHECK(input.dim() >= 1 && input.size(-1) == options_.in_features(),
             "Linear::forward: input of shape {} does not end in in_features={}", shape_str(input.shape()),
             options_.in_features());
  Tensor out = matmul(input, weight_.t());
  return bias_.defined() ? out + bias_ : out;
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", options_.in_features(), options_.out_features(),
                     options_.bias());
}

}  // namespace mech::nn
