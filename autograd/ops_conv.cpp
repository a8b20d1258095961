// Differentiable 1-D convolution (cross-correlation, as PyTorch): stride, zero or circular
// padding, dilation, optional bias; gradients to input, weight and bias.
#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, std::int64_t stride,
              std::int64_t padding, std::int64_t dilation, PaddingMode padding_mode) {
  detail::check_binary("conv1d", input, weight);
  detail::check_float("conv1d", input);
  MECH_CHECK(input.dim() == 3, "conv1d: input must be (N, C_in, L), got shape {}", shape_str(input.shape()));
  MECH_CHECK(weight.dim() == 3, "conv1d: weight must be (C_out, C_in, K), got shape {}", shape_str(weight.shape()));
  MECH_CHECK(input.shape()[1] == weight.shape()[1],
             "conv1d: input shape {} has {} channels but weight shape {} expects {}", shape_str(input.shape()),
             input.shape()[1], shape_str(weight.shape()), weight.shape()[1]);
  MECH_CHECK(weight.shape()[2] > 0 && weight.shape()[0] > 0, "conv1d: weight shape {} has an empty dimension",
             shape_str(weight.shape()));
  if (bias.defined()) {
    check_same_device("conv1d", input, bias);
    check_same_dtype("conv1d", input, bias);
    MECH_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0],
               "conv1d: bias must have shape [{}] for weight shape {}, got {}", weight.shape()[0],
               shape_str(weight.shape()), shape_str(bias.shape()));
  }
  MECH_CHECK(stride >= 1 && dilation >= 1 && padding >= 0,
             "conv1d: need stride >= 1, dilation >= 1, padding >= 0; got stride {}, dilation {}, padding {}", stride,
             dilation, padding);
  const std::int64_t length = input.shape()[2], taps = weight.shape()[2];
  MECH_CHECK(padding_mode == PaddingMode::Zeros || padding <= length,
             "conv1d: circular padding {} exceeds the input length {} (input shape {})", padding, length,
             shape_str(input.shape()));
  const std::int64_t span = dilation * (taps - 1) + 1;
  MECH_CHECK(length + 2 * padding >= span,
             "conv1d: padded input length {} (input shape {}, padding {}) is shorter than the kernel's span {} "
             "(weight shape {}, dilation {})",
             length + 2 * padding, shape_str(input.shape()), padding, span, shape_str(weight.shape()), dilation);
  const std::int64_t out_length = (length + 2 * padding - span) / stride + 1;

  Tensor out = empty({input.shape()[0], weight.shape()[0], out_length}, detail::options_of(input));
  kernels::conv1d(input, weight, bias, out, stride, padding, dilation, padding_mode);
  if (detail::will_record("conv1d", {input, weight, bias}, out)) {
    record("conv1d", {input, weight, bias}, {out},
           [input = input.detach(), weight = weight.detach(), has_bias = bias.defined(), stride, padding, dilation,
            padding_mode](const std::vector<Tensor>& g) {
             Tensor grad_input = empty(input.shape(), detail::options_of(input));
             Tensor grad_weight = empty(weight.shape(), detail::options_of(weight));
             kernels::conv1d_backward(g[0], input, weight, grad_input, grad_weight, stride, padding, dilation,
                                      padding_mode);
             Tensor grad_bias = has_bias ? g[0].sum({0, 2}) : Tensor();
             return std::vector<Tensor>{grad_input, grad_weight, grad_bias};
           });
  }
  return out;
}

}  // namespace mech
