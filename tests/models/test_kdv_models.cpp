// Tests of the KdV forecasters: the rollout's bookkeeping against a model whose predictions are
// known, the NMSE by hand, shape errors, the ResNet trunk and both models (parameter counts of the
// paper's configurations, gradients reaching every parameter, circular-shift equivariance, the
// MNN's initial value, fitting a tiny batch).
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/generator.h"
#include "models/kdv_mnn.h"
#include "models/kdv_model.h"
#include "models/kdv_resnet.h"
#include "models/model_test_helpers.h"
#include "nn/adam.h"

namespace mech::models {
namespace {

using namespace mech::model_tests;

// Extrapolates the window linearly in time: frame i after the last is last + (i + 1) (last - first) / 9.
// It records what it was called with, to check the rollout's batches and modes.
class LinearExtrapolation : public KdvModel {
 public:
  LinearExtrapolation() : KdvModel("LinearExtrapolation") {}
  Tensor predict(const Tensor& frames) override {
    batches.push_back(frames.size(0));
    saw_grad_mode = saw_grad_mode || grad_mode_enabled();
    saw_training = saw_training || is_training();
    const Tensor first = frames.slice(1, 0, 1), last = frames.slice(1, kKdvInputFrames - 1, kKdvInputFrames);
    std::vector<Tensor> next;
    for (std::int64_t i = 0; i < kKdvAdvance; ++i) next.push_back(last + (last - first) * (double(i + 1) / 9.0));
    return cat(next, 1);
  }
  std::string kind() const override { return "linear"; }
  std::vector<std::int64_t> batches;
  bool saw_grad_mode = false, saw_training = false;
};

// Frames u(t, x) = (n + 1) t + 0.01 x for trajectory n: (N, frames, P), float64.
Tensor ramp_frames(std::int64_t count, std::int64_t first_frame, std::int64_t frames, std::int64_t points) {
  std::vector<double> values;
  for (std::int64_t n = 0; n < count; ++n)
    for (std::int64_t t = first_frame; t < first_frame + frames; ++t)
      for (std::int64_t x = 0; x < points; ++x) values.push_back(double(n + 1) * double(t) + 0.01 * double(x));
  return from_vector(values, {count, frames, points});
}

// A circular shift by `shift` points along the last dimension.
Tensor roll(const Tensor& x, std::int64_t shift) {
  const std::int64_t points = x.size(-1);
  return cat({x.slice(-1, points - shift, points), x.slice(-1, 0, points - shift)}, -1);
}

// Smooth travelling waves on P points: u(t, x) = sum_m a_m sin(2 pi m (x - c_m t) / P + phi_m), (B, F, P).
Tensor travelling_waves(std::int64_t batch, std::int64_t frames, std::int64_t points, std::uint64_t seed) {
  Generator generator(seed);
  const std::vector<double> draws = rand({batch, 3, 3}, TensorOptions().dtype(DType::Float64), &generator).to_vector<double>();
  std::vector<float> values;
  const double pi = std::acos(-1.0);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t t = 0; t < frames; ++t)
      for (std::int64_t x = 0; x < points; ++x) {
        double u = 0.0;
        for (std::int64_t m = 1; m <= 3; ++m) {
          const double* d = &draws[static_cast<size_t>((b * 3 + m - 1) * 3)];
          u += (d[0] - 0.5) * std::sin(2 * pi * double(m) * (double(x) - (0.05 + 0.1 * d[1]) * double(t)) / double(points) +
                                       2 * pi * d[2]);
        }
        values.push_back(static_cast<float>(u));
      }
  return from_vector(values, {batch, frames, points});
}

KdvMnnOptions tiny_mnn(std::int64_t points) {
  return KdvMnnOptions()
      .width(8)
      .kernel_size(3)
      .blocks(2)
      .widen_every(1)
      .head_kernel_size(3)
      .iv_head({{8, 4}, {2, 2}, 3})
      .step_head({{4}, {2}, 3})
      .points(points);
}

// The demo's structure (one shared trunk, local iv head, first-order start) at a tiny size.
KdvMnnOptions tiny_demo_mnn(std::int64_t points) {
  return tiny_mnn(points).shared_trunk(true).local_iv(true).first_order_start(true).iv_init_scale(0.01).min_step(0.01);
}

KdvResNetOptions tiny_resnet() { return KdvResNetOptions().width(8).kernel_size(3).blocks(2).widen_every(1).head_kernel_size(3); }

TEST(KdvRollout, ExtrapolatesFromTheLastTenFramesInBatches) {
  LinearExtrapolation model;
  const std::int64_t count = 5, points = 4, frames = 20;
  const Tensor initial = ramp_frames(count, 0, kKdvInputFrames, points);
  const Tensor rolled = kdv_rollout(model, initial, frames, /*batch=*/2);
  ASSERT_EQ(rolled.shape(), Shape({count, frames, points}));
  EXPECT_EQ(rolled.dtype(), DType::Float64);
  // Exact for a ramp: each call continues the ramp the last 10 frames (true or predicted) hold.
  const std::vector<double> got = rolled.to_vector<double>(), want = ramp_frames(count, 10, frames, points).to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4 * std::abs(want[i])) << i;
  // 3 chunks (2, 2, 1) x 3 calls (27 >= 20 frames), without gradients, in eval mode, and the
  // training mode restored after.
  EXPECT_EQ(model.batches, (std::vector<std::int64_t>{2, 2, 2, 2, 2, 2, 1, 1, 1}));
  EXPECT_FALSE(model.saw_grad_mode);
  EXPECT_FALSE(model.saw_training);
  EXPECT_TRUE(model.is_training());
}

TEST(KdvRollout, RefusesBadShapes) {
  LinearExtrapolation model;
  EXPECT_THROW(kdv_rollout(model, zeros({2, 9, 4}), 9), Error);
  EXPECT_THROW(kdv_rollout(model, zeros({2, 10}), 9), Error);
  EXPECT_THROW(kdv_rollout(model, zeros({2, 10, 4}), 0), Error);
  EXPECT_THROW(kdv_rollout(model, zeros({2, 10, 4}), 9, 0), Error);
}

TEST(KdvNmse, MatchesAHandComputation) {
  // Trajectory 0: frame 0 truth (1, 1), predicted (2, 1): 0.5 / 1; frame 1 truth (2, 0),
  // predicted (1, 1): 1 / 2; frame 2 is not scored. Trajectory 1: frame 0 truth (0, 3), predicted
  // (0, 3): 0; frame 1 truth (1, 1), predicted (1, 3): 2 / 1. Mean (0.5 + 0.5) / 2 = 0.5 and
  // (0 + 2) / 2 = 1, then 0.75.
  const Tensor truth = from_vector<double>({1, 1, 2, 0, 9, 9, 0, 3, 1, 1, 9, 9}, {2, 3, 2});
  const Tensor predicted = from_vector<double>({2, 1, 1, 1, 0, 3, 1, 3}, {2, 2, 2});
  EXPECT_NEAR(kdv_nmse(predicted, truth, 2), 0.75, 1e-15);
  EXPECT_NEAR(kdv_nmse(predicted, truth, 1), 0.25, 1e-15);
  EXPECT_DOUBLE_EQ(kdv_nmse(truth, truth, 3), 0.0);
}

TEST(KdvNmse, RefusesBadInputAndScoresADivergedRolloutInfinite) {
  const Tensor truth = ones({2, 3, 4});
  EXPECT_THROW(kdv_nmse(ones({2, 2, 4}), truth, 3), Error);   // too few predicted frames
  EXPECT_THROW(kdv_nmse(ones({3, 3, 4}), truth, 3), Error);   // N differs
  EXPECT_THROW(kdv_nmse(ones({2, 3, 5}), truth, 3), Error);   // P differs
  EXPECT_THROW(kdv_nmse(ones({2, 3, 4}), truth, 0), Error);
  EXPECT_THROW(kdv_nmse(ones({2, 3, 4}), zeros({2, 3, 4}), 3), Error);  // NMSE undefined
  const Tensor diverged = from_vector<float>(std::vector<float>(24, NAN), {2, 3, 4});
  EXPECT_TRUE(std::isinf(kdv_nmse(diverged, truth, 3)));
}

TEST(KdvModels, RefuseBadShapes) {
  OneThread one_thread;
  KdvResNet resnet(tiny_resnet());
  KdvMnn mnn(tiny_mnn(16));
  EXPECT_THROW(resnet.predict(zeros({2, 9, 16})), Error);
  EXPECT_THROW(resnet.predict(zeros({2, 10})), Error);
  EXPECT_THROW(resnet.loss(zeros({2, 18, 16})), Error);
  EXPECT_THROW(mnn.predict(zeros({2, 10, 32})), Error);  // built for 16 points
  EXPECT_THROW(mnn.predict(zeros({2, 10, 16}, TensorOptions().dtype(DType::Int64))), Error);
  EXPECT_THROW(mnn.loss(zeros({2, 10, 16})), Error);
}

TEST(KdvModels, ShapesAndKinds) {
  OneThread one_thread;
  KdvResNet resnet(tiny_resnet());
  KdvMnn mnn(tiny_mnn(16));
  const Tensor frames = travelling_waves(3, kKdvInputFrames, 16, 1);
  EXPECT_EQ(resnet.predict(frames).shape(), Shape({3, kKdvAdvance, 16}));
  EXPECT_EQ(mnn.predict(frames).shape(), Shape({3, kKdvAdvance, 16}));
  EXPECT_EQ(mnn.predict(frames).dtype(), DType::Float32);
  EXPECT_EQ(mnn.solve(frames).shape(), Shape({3, KdvMnn::kGridPoints, 16, KdvMnn::kOrder + 1}));
  EXPECT_EQ(resnet.kind(), "resnet");
  EXPECT_EQ(mnn.kind(), "mnn");
  EXPECT_EQ(resnet.loss(travelling_waves(3, kKdvWindowFrames, 16, 2)).numel(), 1);
}

TEST(KdvModels, ParameterCountsOfThePaperConfigurations) {
  // The paper's encoder trunk, block by block (kernel 9, widths 64 x 4, 128 x 4, 256 x 2; the
  // widening blocks' skips are zero-padded, no parameters):
  //   stem 10*64*9 + 64 = 5824; 4 blocks of 2 (64*64*9 + 64) = 295424;
  //   64->128: 73856 + 147584 = 221440; 3 blocks of 2 (128*128*9 + 128) = 885504;
  //   128->256: 295168 + 590080 = 885248; 1 block of 2 (256*256*9 + 256) = 1180160.
  const std::int64_t trunk = 5824 + 295424 + 221440 + 885504 + 885248 + 1180160;
  EXPECT_EQ(ResNet1d(KdvMnnOptions::paper().trunk()).parameter_count(), trunk);
  // Two trunks; heads 256*50*7 + 50 and 256*10*7 + 10; the iv CNN (kernel 7) 1051936 and its
  // Linear 2048*768 + 768; the step CNN (kernel 5) 751648 and its Linear 2048 + 1.
  const std::int64_t mnn = 2 * trunk + 89650 + 17930 + 1051936 + 1573632 + 751648 + 2049;
  EXPECT_EQ(mnn, 10434045);  // the paper's "10.4 M"
  EXPECT_EQ(KdvMnn(KdvMnnOptions::paper()).parameter_count(), mnn);
  // LPSDA's ResNet: stem 10*256*3 + 256, 8 blocks of 2 (256*256*3 + 256), head 256*9*3 + 9.
  EXPECT_EQ(KdvResNet(KdvResNetOptions::paper()).parameter_count(), 7936 + 16 * 196864 + 6921);
}

TEST(KdvModels, ParameterCountsOfTheDemoConfigurations) {
  // MNN: one trunk (stem 10*64*7 + 64, 4 blocks of 2 (64*64*7 + 64)), the coefficient, rhs and iv
  // heads (64*50*7 + 50, 64*10*7 + 10, 64*3*7 + 3), the step CNN (10*16*5 + 16, 16*8*5 + 8) and its
  // Linear over 8 channels x 64 points (513): 264,696.
  EXPECT_EQ(KdvMnn(KdvMnnOptions::demo()).parameter_count(),
            4544 + 8 * 28736 + 22450 + 4490 + 1347 + 816 + 648 + 513);
  // ResNet: stem 10*64*7 + 64, 4 blocks of 2 (64*64*7 + 64), head 64*9*7 + 9.
  EXPECT_EQ(KdvResNet(KdvResNetOptions::demo()).parameter_count(), 4544 + 8 * 28736 + 4041);
}

void expect_gradients_everywhere(KdvModel& model, const Tensor& window) {
  model.zero_grad();
  model.loss(window).backward();
  for (const auto& [name, parameter] : model.named_parameters()) {
    ASSERT_TRUE(parameter.grad().defined()) << model.kind() << " " << name;
    const Tensor g = parameter.grad();
    EXPECT_GT((g * g).sum().item(), 0.0) << model.kind() << " " << name;
    EXPECT_TRUE(std::isfinite((g * g).sum().item())) << model.kind() << " " << name;
  }
}

TEST(KdvModels, GradientsReachEveryParameter) {
  OneThread one_thread;
  const Tensor window = travelling_waves(2, kKdvWindowFrames, 16, 3);
  KdvResNet resnet(tiny_resnet());
  expect_gradients_everywhere(resnet, window);
  KdvMnn mnn(tiny_mnn(16));
  // The step head's Linear starts at zero weights (one step for every sample), which blocks the
  // gradient to the step CNN until the first update moves them; stand in for that update.
  {
    NoGradGuard no_grad;
    mnn.find_tensor("step_out.weight").fill_(1e-3);
  }
  expect_gradients_everywhere(mnn, window);
  KdvMnn demo(tiny_demo_mnn(16));
  {
    NoGradGuard no_grad;
    demo.find_tensor("step_out.weight").fill_(1e-3);
  }
  expect_gradients_everywhere(demo, window);
  // The shared trunk and the local iv head replace the second trunk and the iv CNN + Linear.
  EXPECT_THROW(demo.find_tensor("rhs_trunk.stem.weight"), Error);
  EXPECT_THROW(demo.find_tensor("iv_out.weight"), Error);
  EXPECT_EQ(demo.find_tensor("iv_head.weight").shape(), Shape({3, 16, 3}));  // trunk width 8 << 1 -> 3
}

TEST(KdvResNet, IsEquivariantToCircularShifts) {
  OneThread one_thread;
  KdvResNet model(tiny_resnet());
  const Tensor frames = travelling_waves(2, kKdvInputFrames, 16, 4);
  NoGradGuard no_grad;
  const std::vector<float> shifted = model.predict(roll(frames, 5)).contiguous().to_vector<float>();
  const std::vector<float> expected = roll(model.predict(frames), 5).contiguous().to_vector<float>();
  for (std::size_t i = 0; i < shifted.size(); ++i) ASSERT_NEAR(shifted[i], expected[i], 1e-5) << i;
  // The trunk alone, with projection skips and widening (a shift is not a no-op on it).
  ResNet1d trunk(ResNet1dOptions(kKdvInputFrames).width(4).kernel_size(5).blocks(3).widen_every(1).skip(ResNetSkip::Projection));
  const std::vector<float> a = trunk.forward(roll(frames, 3)).contiguous().to_vector<float>();
  const std::vector<float> b = roll(trunk.forward(frames), 3).contiguous().to_vector<float>();
  const std::vector<float> c = trunk.forward(frames).contiguous().to_vector<float>();
  double moved = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], 1e-5) << i;
    moved += std::abs(a[i] - c[i]);
  }
  EXPECT_GT(moved, 1e-2);
}

TEST(KdvMnn, SolutionStartsAtTheLastInputFrame) {
  OneThread one_thread;
  KdvMnn model(tiny_mnn(16));
  const Tensor frames = travelling_waves(2, kKdvInputFrames, 16, 5);
  NoGradGuard no_grad;
  const Tensor solution = model.solve(frames);  // (B, T, P, K)
  const std::vector<float> start = solution.select(3, 0).select(1, 0).contiguous().to_vector<float>();
  const std::vector<float> last = frames.select(1, kKdvInputFrames - 1).contiguous().to_vector<float>();
  // Least squares does not force the initial-value rows, but the system is consistent there:
  // measured 2.6e-6 off, the float32 rounding of the returned solution.
  for (std::size_t i = 0; i < start.size(); ++i) EXPECT_NEAR(start[i], last[i], 1e-5) << i;
  // The steps start at 0.05 for every sample.
  for (double step : model.steps(frames).to_vector<double>()) EXPECT_NEAR(step, 0.05, 1e-6);
}

template <class Model>
void expect_fits_a_tiny_batch(Model& model, double lr, int steps, double factor) {
  const Tensor window = travelling_waves(4, kKdvWindowFrames, 16, 6);
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(lr));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < steps; ++step) {
    optimizer.zero_grad();
    Tensor loss = model.loss(window);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first / factor) << model.kind() << ": " << first << " -> " << last;
}

TEST(KdvModels, FitATinyBatch) {
  OneThread one_thread;
  Generator generator(7);
  KdvResNet resnet(tiny_resnet(), &generator);
  expect_fits_a_tiny_batch(resnet, 3e-3, 60, 5.0);
  KdvMnn mnn(tiny_mnn(16), &generator);
  expect_fits_a_tiny_batch(mnn, 3e-3, 60, 5.0);
  // The demo's structure starts near persistence (u', u'', u''' near 0, u' = r), 3x below the
  // others' first loss, so it has less to gain: measured 3.1 -> 0.77.
  KdvMnn demo(tiny_demo_mnn(16), &generator);
  expect_fits_a_tiny_batch(demo, 3e-3, 60, 3.0);
}

TEST(KdvTrainingPreset, CosineRunsFromLrToFinalLr) {
  KdvTrainingPreset preset = KdvTrainingPreset::demo();
  EXPECT_DOUBLE_EQ(preset.lr_at(0), preset.lr);
  EXPECT_NEAR(preset.lr_at(preset.iterations - 1), preset.final_lr, 1e-15);
  EXPECT_NEAR(preset.lr_at((preset.iterations - 1) / 2), 0.5 * (preset.lr + preset.final_lr), 1e-3 * preset.lr);
  const KdvTrainingPreset paper = KdvTrainingPreset::paper();
  EXPECT_EQ(paper.schedule, KdvLrSchedule::Plateau);
  EXPECT_DOUBLE_EQ(paper.lr_at(12345), paper.lr);
  EXPECT_EQ(paper.plateau_every, 5 * 1952);
  // The demo trains every model on the same data with the same schedule and clipping.
  const KdvTrainingPreset resnet = KdvTrainingPreset::demo("resnet");
  EXPECT_EQ(resnet.train_trajectories, preset.train_trajectories);
  EXPECT_EQ(resnet.test_trajectories, preset.test_trajectories);
  EXPECT_DOUBLE_EQ(resnet.lr, preset.lr);
  EXPECT_DOUBLE_EQ(resnet.clip_norm, preset.clip_norm);
  // Adam's second moment: a short memory for the MNN (its loss could run away at 0.999), PyTorch's
  // default for the baselines and the paper's run.
  EXPECT_DOUBLE_EQ(preset.adam_beta2, 0.95);
  EXPECT_DOUBLE_EQ(resnet.adam_beta2, 0.999);
  EXPECT_DOUBLE_EQ(KdvTrainingPreset::demo("fno").adam_beta2, 0.999);
  EXPECT_DOUBLE_EQ(paper.adam_beta2, 0.999);
}

}  // namespace
}  // namespace mech::models
