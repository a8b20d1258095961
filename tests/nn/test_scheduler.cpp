// Schedulers' learning-rate sequences (StepLR, ReduceLROnPlateau in min and max mode with
// threshold, patience, cooldown and min_lr) and their state round trips; clip_grad_norm_.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "nn/optim.h"

namespace mech::nn {
namespace {

const auto f64 = TensorOptions().dtype(DType::Float64);

Tensor parameter() { return zeros({1}, f64).requires_grad_(true); }

TEST(StepLR, DecaysEveryStepSizeSteps) {
  Tensor p = parameter();
  SGD optimizer({p}, SGDOptions(1.0));
  StepLR schedule(optimizer, 2, 0.5);
  std::vector<double> lrs{optimizer.lr()};
  for (int i = 0; i < 6; ++i) {
    schedule.step();
    lrs.push_back(optimizer.lr());
  }
  EXPECT_EQ(lrs, (std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125}));
  EXPECT_EQ(schedule.last_epoch(), 6);
  EXPECT_THROW(StepLR(optimizer, 0), Error);
}

TEST(StepLR, StateRoundTrip) {
  Tensor p = parameter();
  SGD a({p}, SGDOptions(0.1));
  StepLR schedule_a(a, 3, 0.1);
  for (int i = 0; i < 4; ++i) schedule_a.step();
  SGD b({p}, SGDOptions(0.7));
  StepLR schedule_b(b, 3, 0.1);
  schedule_b.load_state_dict(schedule_a.state_dict());
  b.set_lr(a.lr());
  for (int i = 0; i < 5; ++i) {
    schedule_a.step();
    schedule_b.step();
    EXPECT_EQ(a.lr(), b.lr());
  }
  EXPECT_NEAR(a.lr(), 0.1 * 0.001, 1e-18);  // epoch 9
  NamedTensors bad = schedule_a.state_dict();
  bad.emplace_back("extra", zeros({1}));
  EXPECT_THROW(schedule_b.load_state_dict(bad), Error);
}

TEST(ReduceLROnPlateau, ReducesAfterPatienceAndRespectsCooldownAndMinLr) {
  Tensor p = parameter();
  SGD optimizer({p}, SGDOptions(1.0));
  ReduceLROnPlateau plateau(optimizer,
                            ReduceLROnPlateauOptions().factor(0.5).patience(1).cooldown(1).min_lr(0.2).threshold(0.1));
  // Metric sequence and the lr expected after each step (hand-traced, PyTorch's rules):
  //  10   best=10, bad 0                    -> 1
  //  9.5  not < 10*0.9 = 9: bad 1           -> 1
  //  9.4  bad 2 > patience 1: halve, cooldown 1, bad 0 -> 0.5
  //  9.3  bad 1, cooldown 1 -> 0, bad 0     -> 0.5
  //  9.2  bad 1                             -> 0.5
  //  9.1  bad 2: halve to 0.25, cooldown 1  -> 0.25
  //  5    improves: best 5, bad 0; cooldown -> 0 -> 0.25
  //  5, 5 bad 1, bad 2: max(0.125, 0.2) = 0.2  -> 0.25, 0.2
  //  5, 5 bad 1 (cooldown resets it), bad 1 -> 0.2 (bad 1 only)
  //  5    bad 2: 0.2 -> max(0.1, 0.2) = 0.2, no change
  const std::vector<double> metrics{10, 9.5, 9.4, 9.3, 9.2, 9.1, 5, 5, 5, 5, 5, 5};
  const std::vector<double> expected{1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2};
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    plateau.step(metrics[i]);
    EXPECT_DOUBLE_EQ(optimizer.lr(), expected[i]) << "after metric " << i;
  }
  EXPECT_EQ(plateau.best(), 5.0);
}

TEST(ReduceLROnPlateau, MaxModeWithAbsoluteThreshold) {
  Tensor p = parameter();
  SGD optimizer({p}, SGDOptions(1.0));
  ReduceLROnPlateau plateau(optimizer, ReduceLROnPlateauOptions()
                                           .mode(PlateauMode::Max)
                                           .threshold_mode(ThresholdMode::Absolute)
                                           .threshold(0.5)
                                           .patience(0));
  plateau.step(1.0);  // best 1
  EXPECT_EQ(optimizer.lr(), 1.0);
  plateau.step(1.4);  // not > 1.5: bad 1 > patience 0
  EXPECT_DOUBLE_EQ(optimizer.lr(), 0.1);
  plateau.step(2.0);  // improves
  EXPECT_DOUBLE_EQ(optimizer.lr(), 0.1);
  plateau.step(std::numeric_limits<double>::quiet_NaN());  // NaN never improves
  EXPECT_DOUBLE_EQ(optimizer.lr(), 0.01);
}

TEST(ReduceLROnPlateau, StateRoundTripContinuesTheSameSequence) {
  Tensor p = parameter();
  SGD a({p}, SGDOptions(1.0));
  ReduceLROnPlateau plateau_a(a, ReduceLROnPlateauOptions().patience(2).cooldown(1));
  const std::vector<double> metrics{3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1};
  for (std::size_t i = 0; i < 5; ++i) plateau_a.step(metrics[i]);
  SGD b({p}, SGDOptions(1.0));
  ReduceLROnPlateau plateau_b(b, ReduceLROnPlateauOptions().patience(2).cooldown(1));
  plateau_b.load_state_dict(plateau_a.state_dict());
  b.set_lr(a.lr());
  EXPECT_EQ(plateau_b.best(), plateau_a.best());
  EXPECT_EQ(plateau_b.num_bad_epochs(), plateau_a.num_bad_epochs());
  for (std::size_t i = 5; i < metrics.size(); ++i) {
    plateau_a.step(metrics[i]);
    plateau_b.step(metrics[i]);
    EXPECT_EQ(a.lr(), b.lr());
  }
  EXPECT_LT(a.lr(), 1.0);
  EXPECT_THROW(ReduceLROnPlateau(a, ReduceLROnPlateauOptions().factor(1.0)), Error);
}

TEST(ClipGradNorm, ReturnsTheTotalNormAndScalesOnlyAboveMax) {
  Tensor a = zeros({2}, f64).requires_grad_(true);
  Tensor b = zeros({1}, f64).requires_grad_(true);
  Tensor c = zeros({1}, f64).requires_grad_(true);  // no gradient: ignored
  a.set_grad(from_vector<double>({3.0, 0.0}, {2}));
  b.set_grad(from_vector<double>({4.0}, {1}));
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b, c}, 10.0), 5.0);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3.0, 0.0}));  // under the max: unchanged
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b, c}, 1.0), 5.0);
  const double scale = 1.0 / (5.0 + 1e-6);
  EXPECT_DOUBLE_EQ(a.grad().to_vector<double>()[0], 3.0 * scale);
  EXPECT_DOUBLE_EQ(b.grad().to_vector<double>()[0], 4.0 * scale);
  EXPECT_NEAR(clip_grad_norm_({a, b}, 1.0), 1.0, 1e-6);
  // Max norm and 1-norm.
  a.set_grad(from_vector<double>({-3.0, 1.0}, {2}));
  b.set_grad(from_vector<double>({2.0}, {1}));
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b}, 100.0, std::numeric_limits<double>::infinity()), 3.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b}, 100.0, 1.0), 6.0);
  EXPECT_THROW(clip_grad_norm_({a}, -1.0), Error);
}

TEST(ClipGradNorm, SharedGradientTensorIsScaledOncePerParameter) {
  Tensor a = zeros({1}, f64).requires_grad_(true);
  Tensor b = zeros({1}, f64).requires_grad_(true);
  Tensor shared = from_vector<double>({3.0}, {1});
  a.set_grad(shared);
  b.set_grad(shared);
  EXPECT_NEAR(clip_grad_norm_({a, b}, 1.0), std::sqrt(18.0), 1e-15);
  const double scale = 1.0 / (std::sqrt(18.0) + 1e-6);
  EXPECT_DOUBLE_EQ(a.grad().item(), 3.0 * scale);
  EXPECT_DOUBLE_EQ(b.grad().item(), 3.0 * scale);
}

}  // namespace
}  // namespace mech::nn
