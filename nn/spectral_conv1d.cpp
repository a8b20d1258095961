// SpectralConv1d: the per-bin complex channel mixing as one batched real product. With the kept
// bins' values as rows [re | im] (modes, N, 2 C_in) and the weight as the real block matrix
// [[W_re, W_im], [-W_im, W_re]] (modes, 2 C_in, 2 C_out), their product is [re | im] of the mixed
// values: one matmul over the bins instead of four.
#include "nn/spectral_conv1d.h"

#include "core/shape.h"
#include "nn/init.h"

namespace mech::nn {

SpectralConv1d::SpectralConv1d(const SpectralConv1dOptions& options, Generator* generator)
    : Module("SpectralConv1d"), options_(options) {
  MECH_CHECK(options.in_channels() > 0 && options.out_channels() > 0 && options.modes() > 0,
             "SpectralConv1d: expected positive in_channels, out_channels and modes, got {}, {}, {}",
             options.in_channels(), options.out_channels(), options.modes());
  weight_ = register_parameter(
      "weight", empty({options.in_channels(), options.out_channels(), options.modes(), 2},
                      TensorOptions().dtype(options.dtype())));
  reset_parameters(generator);
}

void SpectralConv1d::reset_parameters(Generator* generator) {
  const double scale = 1.0 / static_cast<double>(options_.in_channels() * options_.out_channels());
  init::uniform_(weight_, 0.0, scale, generator);
}

Tensor spectral_conv1d(const Tensor& input, const Tensor& weight) {
  check_defined("spectral_conv1d", input, "input");
  check_defined("spectral_conv1d", weight, "weight");
  MECH_CHECK(weight.dim() == 4 && weight.size(3) == 2,
             "spectral_conv1d: weight must be (C_in, C_out, modes, 2), got shape {}", shape_str(weight.shape()));
  const std::int64_t in = weight.size(0), out = weight.size(1), modes = weight.size(2);
  MECH_CHECK(input.dim() == 3 && input.size(1) == in,
             "spectral_conv1d: expected input (N, {}, P) for weight shape {}, got shape {}", in,
             shape_str(weight.shape()), shape_str(input.shape()));
  const std::int64_t batch = input.size(0), points = input.size(2), bins = points / 2 + 1;
  MECH_CHECK(modes <= bins, "spectral_conv1d: {} modes need at least {} points (P/2 + 1 >= modes), got input shape {}",
             modes, 2 * (modes - 1), shape_str(input.shape()));
  // (N, C_in, modes, 2) -> (modes, N, 2, C_in) -> rows [re | im].
  const Tensor kept = rfft(input).narrow(2, 0, modes);
  const Tensor rows = kept.permute({2, 0, 3, 1}).reshape({modes, batch, 2 * in});
  // (C_in, C_out, modes) -> (modes, C_in, C_out), then the block matrix.
  const Tensor real = weight.select(3, 0).permute({2, 0, 1});
  const Tensor imaginary = weight.select(3, 1).permute({2, 0, 1});
  const Tensor block = cat({cat({real, imaginary}, 2), cat({-imaginary, real}, 2)}, 1);
  // (modes, N, 2 C_out) -> (N, C_out, modes, 2), then zeros for the dropped bins.
  Tensor mixed = matmul(rows, block).reshape({modes, batch, 2, out}).permute({1, 3, 0, 2});
  if (modes < bins) {
    const Tensor dropped = zeros({batch, out, bins - modes, 2}, TensorOptions().dtype(input.dtype()).device(input.device()));
    mixed = cat({mixed, dropped}, 2);
  }
  return irfft(mixed, points);
}

Tensor SpectralConv1d::forward(const Tensor& input) {
  check_defined("SpectralConv1d::forward", input, "input");
  MECH_CHECK(input.dim() == 3 && input.size(1) == options_.in_channels(),
             "SpectralConv1d::forward: expected input (N, {}, P), got shape {}", options_.in_channels(),
             shape_str(input.shape()));
  return spectral_conv1d(input, weight_);
}

std::string SpectralConv1d::extra_repr() const {
  return fmt::format("{}, {}, modes={}", options_.in_channels(), options_.out_channels(), options_.modes());
}

}  // namespace mech::nn
