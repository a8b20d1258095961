// Conv1d layer: option checks, PyTorch's default initialisation, forward through mech::conv1d.
#include "nn/conv1d.h"

#include <cmath>

#include "core/shape.h"
#include "nn/init.h"

namespace mech::nn {

Conv1d::Conv1d(const Conv1dOptions& options, Generator* generator) : Module("Conv1d"), options_(options) {
  MECH_CHECK(options.in_channels() > 0 && options.out_channels() > 0 && options.kernel_size() > 0,
             "Conv1d: expected positive in_channels, out_channels and kernel_size, got {}, {}, {}",
             options.in_channels(), options.out_channels(), options.kernel_size());
  MECH_CHECK(options.stride() > 0 && options.dilation() > 0 && options.padding() >= 0,
             "Conv1d: expected stride > 0, dilation > 0, padding >= 0, got {}, {}, {}", options.stride(),
             options.dilation(), options.padding());
  const auto tensor_options = TensorOptions().dtype(options.dtype());
  weight_ = register_parameter(
      "weight", empty({options.out_channels(), options.in_channels(), options.kernel_size()}, tensor_options));
  if (options.bias()) bias_ = register_parameter("bias", empty({options.out_channels()}, tensor_options));
  reset_parameters(generator);
}

void Conv1d::reset_parameters(Generator* generator) {
  init::kaiming_uniform_(weight_, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyRelu, generator);
  if (bias_.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options_.in_channels() * options_.kernel_size()));
    init::uniform_(bias_, -bound, bound, generator);
  }
}

Tensor Conv1d::forward(const Tensor& input) {
  check_defined("Conv1d::forward", input, "input");
  MECH_CHECK(input.dim() == 3 && input.size(1) == options_.in_channels(),
             "Conv1d::forward: expected input (N, {}, L), got shape {}", options_.in_channels(),
             shape_str(input.shape()));
  return conv1d(input, weight_, bias_, options_.stride(), options_.padding(), options_.dilation(),
                options_.padding_mode());
}

std::string Conv1d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size={}, stride={}, padding={}, dilation={}, padding_mode={}, bias={}",
                     options_.in_channels(), options_.out_channels(), options_.kernel_size(), options_.stride(),
                     options_.padding(), options_.dilation(),
                     options_.padding_mode() == PaddingMode::Circular ? "circular" : "zeros", options_.bias());
}

}  // namespace mech::nn
