// KdvMnn: the paper's MNN for KdV, encoders -> one order-4 ODE in time per spatial point ->
// NeuRLP (see kdv_mnn.h).
#include "models/kdv_mnn.h"

#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "nn/activation.h"

namespace mech::models {

namespace {

constexpr std::int64_t kCoefficients = KdvMnn::kOrder + 1;  // K
constexpr std::int64_t kInitialDerivatives = KdvMnn::kOrder - 1;  // u', u'', u''' (u comes from the data)

std::shared_ptr<nn::Sequential> make_cnn(const KdvCnnHeadOptions& options, Generator* generator) {
  MECH_CHECK(!options.widths.empty() && options.widths.size() == options.strides.size(),
             "KdvMnn: a CNN head needs one stride per layer and at least one layer, got {} widths and {} strides",
             options.widths.size(), options.strides.size());
  auto cnn = std::make_shared<nn::Sequential>();
  std::int64_t channels = kKdvInputFrames;
  for (std::size_t layer = 0; layer < options.widths.size(); ++layer) {
    if (layer > 0) cnn->push_back(std::make_shared<nn::ReLU>());
    cnn->push_back(circular_conv1d(channels, options.widths[layer], options.kernel_size, generator,
                                   options.strides[layer]));
    channels = options.widths[layer];
  }
  return cnn;
}

}  // namespace

std::int64_t KdvCnnHeadOptions::out_points(std::int64_t points) const {
  // A circularly padded conv of odd kernel and stride s gives ceil(P / s) points.
  for (std::int64_t stride : strides) points = (points + stride - 1) / stride;
  return points;
}

ResNet1dOptions KdvMnnOptions::trunk() const {
  return ResNet1dOptions(kKdvInputFrames)
      .width(width_)
      .kernel_size(kernel_size_)
      .blocks(blocks_)
      .widen_every(widen_every_)
      .skip(ResNetSkip::ZeroPad);
}

KdvMnnOptions KdvMnnOptions::paper() {
  return KdvMnnOptions()
      .width(64)
      .kernel_size(9)
      .blocks(10)
      .widen_every(4)
      .head_kernel_size(7)
      .iv_head({{64, 128, 256, 256, 128, 64, 32}, {1, 1, 1, 1, 2, 2, 1}, 7})
      .step_head({{64, 128, 256, 256, 128, 64, 32}, {1, 2, 1, 1, 1, 2, 1}, 5});
}

KdvMnnOptions KdvMnnOptions::demo() {
  // Tuned on the 2-core machine (models/README.md, "KdV"): one trunk, the direct ResNet's shape
  // (width 64, kernel 7, 4 blocks), for coefficients, rhs and initial derivatives, started near
  // u' = r from the last frame.
  return KdvMnnOptions()
      .width(64)
      .kernel_size(7)
      .blocks(4)
      .widen_every(0)
      .head_kernel_size(7)
      .shared_trunk(true)
      .local_iv(true)
      .first_order_start(true)
      .iv_init_scale(0.01)
      .min_step(0.01)
      .step_head({{16, 8}, {2, 2}, 5});
}

KdvMnn::KdvMnn(const KdvMnnOptions& options, Generator* generator) : KdvModel("KdvMnn"), options_(options) {
  MECH_CHECK(options.points() >= 1 && options.initial_step() > options.min_step() && options.initial_step() < 1.0 &&
                 options.min_step() > 0.0,
             "KdvMnn: expected points >= 1 and 0 < min_step < initial_step < 1, got points {}, min_step {}, "
             "initial_step {}",
             options.points(), options.min_step(), options.initial_step());
  const ResNet1dOptions trunk = options.trunk();
  coefficient_trunk_ = register_module("coefficient_trunk", std::make_shared<ResNet1d>(trunk, generator));
  coefficient_head_ = register_module(
      "coefficient_head",
      circular_conv1d(trunk.out_channels(), kGridPoints * kCoefficients, options.head_kernel_size(), generator));
  if (!options.shared_trunk()) rhs_trunk_ = register_module("rhs_trunk", std::make_shared<ResNet1d>(trunk, generator));
  rhs_head_ = register_module(
      "rhs_head", circular_conv1d(trunk.out_channels(), kGridPoints, options.head_kernel_size(), generator));
  if (options.local_iv()) {
    iv_head_ = register_module("iv_head", circular_conv1d(trunk.out_channels(), kInitialDerivatives,
                                                          options.head_kernel_size(), generator));
  } else {
    iv_cnn_ = register_module("iv_cnn", make_cnn(options.iv_head(), generator));
    iv_out_ = register_module(
        "iv_out", std::make_shared<nn::Linear>(options.iv_head().widths.back() * options.iv_head().out_points(options.points()),
                                               options.points() * kInitialDerivatives, generator));
  }
  step_cnn_ = register_module("step_cnn", make_cnn(options.step_head(), generator));
  step_out_ = register_module(
      "step_out", std::make_shared<nn::Linear>(
                      options.step_head().widths.back() * options.step_head().out_points(options.points()), 1, generator));
  if (options.first_order_start()) {
    NoGradGuard no_grad;
    coefficient_head_->weight().mul_(options.coefficient_init_scale());
    std::vector<float> bias(static_cast<std::size_t>(kGridPoints * kCoefficients), 0.0f);
    // c_4 stays away from zero: u'''' at the last grid point is fixed by its equation row alone
    // (its Taylor rows carry h^4), so c_4 near 0 makes the normal matrix singular there.
    for (std::int64_t t = 0; t < kGridPoints; ++t) {
      bias[static_cast<std::size_t>(t * kCoefficients + 1)] = 1.0f;
      bias[static_cast<std::size_t>(t * kCoefficients + kOrder)] = 0.1f;
    }
    coefficient_head_->bias().copy_(from_vector(bias, {kGridPoints * kCoefficients}));
  }
  if (options.iv_init_scale() != 1.0) {
    NoGradGuard no_grad;
    Tensor weight = iv_head_ ? iv_head_->weight() : iv_out_->weight();
    Tensor bias = iv_head_ ? iv_head_->bias() : iv_out_->bias();
    weight.mul_(options.iv_init_scale());
    bias.mul_(options.iv_init_scale());
  }
  {
    // Every sample starts at the same step, initial_step: zero weights, bias at its logit.
    NoGradGuard no_grad;
    step_out_->weight().zero_();
    step_out_->bias().fill_(std::log(options.initial_step() / (1.0 - options.initial_step())));
  }
  block_ = register_module("block", std::make_shared<MechanisticBlock>(MechanisticBlockOptions()
                                                                           .order(kOrder)
                                                                           .dimensions(1)
                                                                           .equations(1)
                                                                           .iv_points(1)
                                                                           .iv_count(kOrder)
                                                                           .gamma(0.0)
                                                                           .alpha(0.0)
                                                                           .min_step(options.min_step())
                                                                           .max_step(1.0)));
}

Tensor KdvMnn::step_logits(const Tensor& frames) {
  return step_out_->forward(step_cnn_->forward(frames).flatten(1));  // (B, 1)
}

Tensor KdvMnn::steps(const Tensor& frames_in) {
  return block_->steps_from_logits(step_logits(kdv_input_frames("KdvMnn::steps", frames_in))).squeeze(1);
}

Tensor KdvMnn::solve(const Tensor& frames_in) {
  const Tensor frames = kdv_input_frames("KdvMnn::solve", frames_in);
  const std::int64_t B = frames.size(0), P = frames.size(2), T = kGridPoints, K = kCoefficients;
  MECH_CHECK(P == options_.points(), "KdvMnn::solve: the model was built for {} points, got frames {}",
             options_.points(), shape_str(frames.shape()));
  // B samples, P points, T grid points in time, K coefficients; the B*P systems are ordered (b, p).
  // Channel t*K + k of the coefficient head is c_k at grid point t.
  const Tensor features = coefficient_trunk_->forward(frames);
  Tensor coefficients = coefficient_head_->forward(features)  // (B, T*K, P)
                            .view({B, T, K, P})
                            .permute({0, 3, 1, 2})
                            .reshape({B * P, 1, T, 1, K});
  Tensor rhs = rhs_head_->forward(rhs_trunk_ ? rhs_trunk_->forward(frames) : features).permute({0, 2, 1}).reshape({B * P, 1, T});
  Tensor derivatives = iv_head_ ? iv_head_->forward(features).permute({0, 2, 1})  // (B, P, 3)
                                : iv_out_->forward(iv_cnn_->forward(frames).flatten(1)).view({B, P, kInitialDerivatives});
  Tensor value = frames.select(1, kKdvInputFrames - 1).unsqueeze(2);  // (B, P, 1)
  Tensor iv = cat({value, derivatives}, 2).reshape({B * P, 1, 1, kOrder});
  Tensor logits = step_logits(frames).view({B, 1, 1, 1}).expand({B, P, T - 1, 1}).reshape({B * P, T - 1, 1});
  // The encoders are float32; the op solves in float64 (its compute dtype) and hands back float32.
  MechanisticSolution solution = block_->forward(coefficients, rhs, iv, logits);
  return solution.u.view({B, P, T, K}).permute({0, 2, 1, 3});  // (B, T, P, K)
}

Tensor KdvMnn::predict(const Tensor& frames) {
  return solve(frames).select(3, 0).slice(1, 1, kGridPoints);
}

}  // namespace mech::models
