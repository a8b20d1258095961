// KdvFno: the FNO1d baseline's layers and forward pass.
#include "models/kdv_fno.h"

#include <cmath>

#include "core/shape.h"

namespace mech::models {

namespace {

std::shared_ptr<nn::Conv1d> pointwise_conv(std::int64_t in_channels, std::int64_t out_channels, Generator* generator) {
  return std::make_shared<nn::Conv1d>(nn::Conv1dOptions(in_channels, out_channels, 1), generator);
}

}  // namespace

KdvFnoOptions KdvFnoOptions::demo() { return KdvFnoOptions().width(48).modes(16).layers(4); }

KdvFnoOptions KdvFnoOptions::paper() { return KdvFnoOptions().width(256).modes(32).layers(5); }

KdvFno::KdvFno(const KdvFnoOptions& options, Generator* generator) : KdvModel("KdvFno"), options_(options) {
  MECH_CHECK(options.width() > 0 && options.modes() > 0 && options.layers() > 0 && options.projection_width() > 0,
             "KdvFno: expected positive width, modes, layers and projection width, got {}, {}, {}, {}",
             options.width(), options.modes(), options.layers(), options.projection_width());
  const std::int64_t width = options.width();
  lift_ = register_module("lift", pointwise_conv(kKdvInputFrames + (options.grid() ? 1 : 0), width, generator));
  for (std::int64_t layer = 0; layer < options.layers(); ++layer) {
    spectral_.push_back(register_module(
        fmt::format("spectral{}", layer),
        std::make_shared<nn::SpectralConv1d>(nn::SpectralConv1dOptions(width, width, options.modes()), generator)));
    pointwise_.push_back(register_module(fmt::format("pointwise{}", layer), pointwise_conv(width, width, generator)));
  }
  project_hidden_ = register_module("project_hidden", pointwise_conv(width, options.projection_width(), generator));
  project_out_ = register_module("project_out", pointwise_conv(options.projection_width(), kKdvAdvance, generator));
}

Tensor KdvFno::predict(const Tensor& frames_in) {
  const Tensor frames = kdv_input_frames("KdvFno::predict", frames_in);
  const std::int64_t batch = frames.size(0), points = frames.size(2);
  MECH_CHECK(points / 2 + 1 >= options_.modes(),
             "KdvFno::predict: {} Fourier modes need at least {} points, got frames of shape {}", options_.modes(),
             2 * (options_.modes() - 1), shape_str(frames.shape()));
  Tensor inputs = frames;
  if (options_.grid()) {
    std::vector<float> positions(static_cast<std::size_t>(points));
    for (std::int64_t j = 0; j < points; ++j)
      positions[static_cast<std::size_t>(j)] = static_cast<float>(static_cast<double>(j) / static_cast<double>(points));
    const Tensor grid = from_vector<float>(positions, {1, 1, points}).to(frames.device()).expand({batch, 1, points});
    inputs = cat({frames, grid}, 1);
  }
  Tensor hidden = lift_->forward(inputs);
  for (std::size_t layer = 0; layer < spectral_.size(); ++layer) {
    hidden = spectral_[layer]->forward(hidden) + pointwise_[layer]->forward(hidden);
    if (layer + 1 < spectral_.size()) hidden = gelu(hidden);
  }
  const Tensor increments = project_out_->forward(gelu(project_hidden_->forward(hidden)));
  return increments + frames.slice(1, kKdvInputFrames - 1, kKdvInputFrames);
}

std::string KdvFno::extra_repr() const {
  return fmt::format("width={}, modes={}, layers={}, projection_width={}, grid={}", options_.width(),
                     options_.modes(), options_.layers(), options_.projection_width(), options_.grid());
}

}  // namespace mech::models
