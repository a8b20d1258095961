// ResNet1d (circular padding, pre-activation blocks, widths doubling by stage) and the direct
// KdV baseline KdvResNet (see kdv_resnet.h).
#include "models/kdv_resnet.h"

#include <fmt/format.h>

#include "core/error.h"
#include "nn/activation.h"

namespace mech::models {

std::int64_t ResNet1dOptions::block_width(std::int64_t index) const {
  if (index < 0 || widen_every_ <= 0) return width_;
  return width_ << (index / widen_every_);
}

std::shared_ptr<nn::Conv1d> circular_conv1d(std::int64_t in_channels, std::int64_t out_channels,
                                            std::int64_t kernel_size, Generator* generator, std::int64_t stride) {
  MECH_CHECK(kernel_size % 2 == 1, "circular_conv1d: expected an odd kernel size (the output keeps the input's "
             "points), got {}", kernel_size);
  return std::make_shared<nn::Conv1d>(nn::Conv1dOptions(in_channels, out_channels, kernel_size)
                                          .stride(stride)
                                          .padding(kernel_size / 2)
                                          .padding_mode(PaddingMode::Circular),
                                      generator);
}

ResNetBlock1d::ResNetBlock1d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
                             bool leading_relu, ResNetSkip skip, Generator* generator)
    : Module("ResNetBlock1d"), in_channels_(in_channels), out_channels_(out_channels), leading_relu_(leading_relu) {
  MECH_CHECK(out_channels >= in_channels, "ResNetBlock1d: a block may only widen, got {} -> {} channels", in_channels,
             out_channels);
  first_ = register_module("first", circular_conv1d(in_channels, out_channels, kernel_size, generator));
  second_ = register_module("second", circular_conv1d(out_channels, out_channels, kernel_size, generator));
  if (in_channels != out_channels && skip == ResNetSkip::Projection)
    projection_ = register_module(
        "projection", std::make_shared<nn::Conv1d>(nn::Conv1dOptions(in_channels, out_channels, 1), generator));
}

Tensor ResNetBlock1d::forward(const Tensor& input) {
  Tensor out = first_->forward(leading_relu_ ? relu(input) : input);
  out = second_->forward(relu(out));
  if (in_channels_ == out_channels_) return out + input;
  if (projection_) return out + projection_->forward(input);
  // Zero channels around the identity, split as evenly as possible (before, after).
  const std::int64_t before = (out_channels_ - in_channels_) / 2, after = out_channels_ - in_channels_ - before;
  const std::int64_t batch = input.size(0), points = input.size(2);
  const auto options = TensorOptions().dtype(input.dtype()).device(input.device());
  std::vector<Tensor> parts;
  if (before > 0) parts.push_back(zeros({batch, before, points}, options));
  parts.push_back(input);
  parts.push_back(zeros({batch, after, points}, options));
  return out + cat(parts, 1);
}

ResNet1d::ResNet1d(const ResNet1dOptions& options, Generator* generator) : Module("ResNet1d"), options_(options) {
  MECH_CHECK(options.in_channels() > 0 && options.width() > 0 && options.blocks() >= 1 && options.widen_every() >= 0,
             "ResNet1d: expected in_channels > 0, width > 0, blocks >= 1, widen_every >= 0, got {}, {}, {}, {}",
             options.in_channels(), options.width(), options.blocks(), options.widen_every());
  stem_ = register_module("stem", circular_conv1d(options.in_channels(), options.width(), options.kernel_size(),
                                                  generator));
  for (std::int64_t index = 0; index < options.blocks(); ++index)
    blocks_.push_back(register_module(
        fmt::format("block{}", index),
        std::make_shared<ResNetBlock1d>(options.block_width(index - 1), options.block_width(index),
                                        options.kernel_size(), index > 0, options.skip(), generator)));
}

Tensor ResNet1d::forward(const Tensor& input) {
  check_defined("ResNet1d::forward", input, "input");
  MECH_CHECK(input.dim() == 3 && input.size(1) == options_.in_channels(),
             "ResNet1d::forward: expected input (B, {}, P), got shape {}", options_.in_channels(),
             shape_str(input.shape()));
  Tensor out = relu(stem_->forward(input));
  for (const auto& block : blocks_) out = block->forward(out);
  return out;
}

std::string ResNet1d::extra_repr() const {
  return fmt::format("in={}, width={}, kernel_size={}, blocks={}, widen_every={}, out={}, skip={}",
                     options_.in_channels(), options_.width(), options_.kernel_size(), options_.blocks(),
                     options_.widen_every(), options_.out_channels(),
                     options_.skip() == ResNetSkip::ZeroPad ? "zero-pad" : "projection");
}

ResNet1dOptions KdvResNetOptions::trunk() const {
  return ResNet1dOptions(kKdvInputFrames)
      .width(width_)
      .kernel_size(kernel_size_)
      .blocks(blocks_)
      .widen_every(widen_every_)
      .skip(ResNetSkip::Projection);
}

KdvResNetOptions KdvResNetOptions::demo() { return KdvResNetOptions().width(64).kernel_size(7).blocks(4).head_kernel_size(7); }

KdvResNetOptions KdvResNetOptions::paper() {
  return KdvResNetOptions().width(256).kernel_size(3).blocks(8).widen_every(0).head_kernel_size(3);
}

KdvResNet::KdvResNet(const KdvResNetOptions& options, Generator* generator) : KdvModel("KdvResNet"), options_(options) {
  trunk_ = register_module("trunk", std::make_shared<ResNet1d>(options.trunk(), generator));
  head_ = register_module("head", circular_conv1d(options.trunk().out_channels(), kKdvAdvance,
                                                  options.head_kernel_size(), generator));
}

Tensor KdvResNet::predict(const Tensor& frames_in) {
  const Tensor frames = kdv_input_frames("KdvResNet::predict", frames_in);
  const Tensor last = frames.slice(1, kKdvInputFrames - 1, kKdvInputFrames);  // (B, 1, P)
  return head_->forward(trunk_->forward(frames)) + last;
}

}  // namespace mech::models
