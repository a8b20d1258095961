// The 1-D ResNet over space that the KdV models share (models/README.md, "KdV"), and the direct
// ResNet baseline built on it. Frames are channels and the 256 spatial points the length; every
// convolution pads circularly (the domain is periodic), so both are equivariant to circular
// shifts in space.
//
//   auto trunk = std::make_shared<ResNet1d>(ResNet1dOptions(10).width(64).kernel_size(9).blocks(10));
//   Tensor features = trunk->forward(frames);                    // (B, 10, P) -> (B, 256, P)
//   auto baseline = std::make_shared<KdvResNet>(KdvResNetOptions::demo());
//   Tensor next = baseline->predict(frames);                     // (B, 9, P)
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "models/kdv_model.h"
#include "nn/conv1d.h"
#include "nn/module.h"

namespace mech::models {

// How a block's skip connection changes width: zero channels padded around the identity (the
// paper's encoder, no parameters) or a learned 1x1 convolution.
enum class ResNetSkip { ZeroPad, Projection };

struct ResNet1dOptions {
  explicit ResNet1dOptions(std::int64_t in_channels) : in_channels_(in_channels) {}
  ResNet1dOptions& width(std::int64_t value) { width_ = value; return *this; }           // base width
  ResNet1dOptions& kernel_size(std::int64_t value) { kernel_size_ = value; return *this; }  // odd
  ResNet1dOptions& blocks(std::int64_t value) { blocks_ = value; return *this; }
  // The width doubles at block widen_every, 2 widen_every, ... (0: never).
  ResNet1dOptions& widen_every(std::int64_t value) { widen_every_ = value; return *this; }
  ResNet1dOptions& skip(ResNetSkip value) { skip_ = value; return *this; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t width() const { return width_; }
  std::int64_t kernel_size() const { return kernel_size_; }
  std::int64_t blocks() const { return blocks_; }
  std::int64_t widen_every() const { return widen_every_; }
  ResNetSkip skip() const { return skip_; }
  // The width of block `index`'s output (the stem's for index -1).
  std::int64_t block_width(std::int64_t index) const;
  std::int64_t out_channels() const { return block_width(blocks_ - 1); }

 private:
  std::int64_t in_channels_;
  std::int64_t width_ = 64;
  std::int64_t kernel_size_ = 9;
  std::int64_t blocks_ = 10;
  std::int64_t widen_every_ = 4;
  ResNetSkip skip_ = ResNetSkip::ZeroPad;
};

// A circularly padded Conv1d keeping the length (odd kernel).
std::shared_ptr<nn::Conv1d> circular_conv1d(std::int64_t in_channels, std::int64_t out_channels,
                                            std::int64_t kernel_size, Generator* generator,
                                            std::int64_t stride = 1);

// One pre-activation residual block: [ReLU] -> conv -> ReLU -> conv, plus the (widened) input.
// The first block of a trunk follows the stem's ReLU and so starts with its conv.
class ResNetBlock1d : public nn::Module {
 public:
  ResNetBlock1d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size, bool leading_relu,
                ResNetSkip skip, Generator* generator);
  Tensor forward(const Tensor& input) override;

 private:
  std::int64_t in_channels_, out_channels_;
  bool leading_relu_;
  std::shared_ptr<nn::Conv1d> first_, second_, projection_;
};

// Stem conv -> ReLU -> residual blocks; (B, in_channels, P) -> (B, out_channels, P). No final
// activation: the heads read the last block's sum.
class ResNet1d : public nn::Module {
 public:
  explicit ResNet1d(const ResNet1dOptions& options, Generator* generator = nullptr);
  Tensor forward(const Tensor& input) override;
  const ResNet1dOptions& options() const { return options_; }

 protected:
  std::string extra_repr() const override;

 private:
  ResNet1dOptions options_;
  std::shared_ptr<nn::Conv1d> stem_;
  std::vector<std::shared_ptr<ResNetBlock1d>> blocks_;
};

struct KdvResNetOptions {
  KdvResNetOptions& width(std::int64_t value) { width_ = value; return *this; }
  KdvResNetOptions& kernel_size(std::int64_t value) { kernel_size_ = value; return *this; }
  KdvResNetOptions& blocks(std::int64_t value) { blocks_ = value; return *this; }
  KdvResNetOptions& widen_every(std::int64_t value) { widen_every_ = value; return *this; }
  KdvResNetOptions& head_kernel_size(std::int64_t value) { head_kernel_size_ = value; return *this; }
  std::int64_t width() const { return width_; }
  std::int64_t kernel_size() const { return kernel_size_; }
  std::int64_t blocks() const { return blocks_; }
  std::int64_t widen_every() const { return widen_every_; }
  std::int64_t head_kernel_size() const { return head_kernel_size_; }
  ResNet1dOptions trunk() const;

  // The 2-core CPU demo (10-minute budget).
  static KdvResNetOptions demo();
  // LPSDA's ResNet baseline: width 256, 8 blocks of kernel 3, no widening.
  static KdvResNetOptions paper();

 private:
  std::int64_t width_ = 64;
  std::int64_t kernel_size_ = 7;
  std::int64_t blocks_ = 4;
  std::int64_t widen_every_ = 0;
  std::int64_t head_kernel_size_ = 7;
};

// The direct baseline: a ResNet1d over the 10 input frames, a Conv1d to 9 channels, added to the
// last input frame (the network predicts the increments, which start near zero).
class KdvResNet : public KdvModel {
 public:
  explicit KdvResNet(const KdvResNetOptions& options = KdvResNetOptions::demo(), Generator* generator = nullptr);
  Tensor predict(const Tensor& frames) override;
  std::string kind() const override { return "resnet"; }
  const KdvResNetOptions& options() const { return options_; }

 private:
  KdvResNetOptions options_;
  std::shared_ptr<ResNet1d> trunk_;
  std::shared_ptr<nn::Conv1d> head_;
};

}  // namespace mech::models
