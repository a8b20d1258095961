// Tests of the two-body prediction model: with the encoder's head fixed to the true gravitational
// coupling of a circular orbit the segment solve reproduces the orbit; rollout shapes and the
// window bookkeeping; the constant-velocity baseline and the error measure by hand; a short
// training run lowers the loss.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/parallel.h"
#include "models/datasets.h"
#include "models/model_test_helpers.h"
#include "models/ode_integrator.h"
#include "models/two_body_model.h"
#include "nn/adam.h"

namespace mech::models {
namespace {

using namespace mech::model_tests;

constexpr double kGravity = 1.0, kMass1 = 0.8, kMass2 = 1.3, kRadius = 1.0;

// A circular orbit sampled at dt: (1, steps, 8).
Tensor circular_orbit(std::int64_t steps, double dt) {
  auto start = two_body_initial_state(kGravity, kMass1, kMass2, kRadius, 0.0, 0.3);
  Trajectory path = integrate_ode(two_body_rhs(kGravity, kMass1, kMass2), 0.0, {start.begin(), start.end()},
                                  uniform_times(0.0, dt, static_cast<size_t>(steps)));
  return from_vector(path.states, {1, steps, 8});
}

// Zeroing the head's weight leaves its bias as the encoder output; the bias then holds the exact
// coupling of gravity on a circle (|x1 - x2| = radius): x1'' = -G m2 (x1 - x2) / radius^3 etc.
void set_true_coupling(TwoBodyModel& model) {
  NoGradGuard no_grad;
  const std::int64_t points = model.options().segment + 1;
  std::vector<double> bias(static_cast<size_t>(points * 20), 0.0);
  const double k1 = kGravity * kMass1 / std::pow(kRadius, 3), k2 = kGravity * kMass2 / std::pow(kRadius, 3);
  for (std::int64_t t = 0; t < points; ++t) {
    auto at = [&](int e, int d) -> double& { return bias[static_cast<size_t>(t * 16 + e * 4 + d)]; };
    for (int axis = 0; axis < 2; ++axis) {
      at(axis, axis) = k2, at(axis, 2 + axis) = -k2;          // body 1 pulled towards body 2
      at(2 + axis, 2 + axis) = k1, at(2 + axis, axis) = -k1;  // body 2 towards body 1
    }
  }
  model.find_tensor("encoder.4.weight").zero_();
  model.find_tensor("encoder.4.bias").copy_(from_vector(bias, {points * 20}));
}

TEST(TwoBodyModel, GradientsMatchFiniteDifferences) {
  TwoBodyModelOptions options;
  options.window = 6;
  options.segment = 3;
  options.hidden = 8;
  Generator generator(6);
  TwoBodyModel model(options, &generator);
  Tensor orbit = circular_orbit(12, 0.05);
  // Two segments: the gradient also flows through the first segment's prediction into the second's window.
  auto loss = [&] { return model.loss(orbit.slice(1, 0, 6), orbit.slice(1, 6, 12)); };
  expect_gradient_matches_finite_differences(model.find_tensor("encoder.4.bias"), {0, 5, 17, 64, 79}, loss, "bias");
  expect_gradient_matches_finite_differences(model.find_tensor("encoder.0.weight"), {0, 100, 383}, loss, "weight");
}

TEST(TwoBodyModel, TrueCouplingReproducesACircularOrbit) {
  TwoBodyModelOptions options;
  options.window = 20;
  options.segment = 10;
  options.dt = 0.05;
  TwoBodyModel model(options);
  set_true_coupling(model);
  Tensor orbit = circular_orbit(30, 0.05);
  NoGradGuard no_grad;
  Tensor predicted = model.predict_segment(orbit.slice(1, 0, 20));
  ASSERT_EQ(predicted.shape(), (Shape{1, 10, 8}));
  std::vector<double> error = position_error_by_step(predicted, orbit.slice(1, 20, 30));
  // Measured 3.8e-4 over half a time unit (mnn rows, h = 0.05); free flight would be off by
  // 0.5 * a t^2 ~ 0.1 at the end, so 2e-3 separates a working coupling from a broken one.
  EXPECT_LT(error.back(), 2e-3);
  // A rollout of 25 steps (three segments, the last cut) stays on the circle as well.
  Tensor longer = circular_orbit(45, 0.05);
  Tensor rolled = model.rollout(longer.slice(1, 0, 20), 25);
  ASSERT_EQ(rolled.shape(), (Shape{1, 25, 8}));
  EXPECT_LT(position_error_by_step(rolled, longer.slice(1, 20, 45)).back(), 1e-2);
}

TEST(TwoBodyModel, FreshModelStartsNearFreeFlight) {
  TwoBodyModelOptions options;
  options.window = 5;
  options.segment = 4;
  Generator generator(1);
  TwoBodyModel model(options, &generator);
  Tensor orbit = circular_orbit(5, 0.05);
  NoGradGuard no_grad;
  std::vector<double> error =
      position_error_by_step(model.predict_segment(orbit), constant_velocity_rollout(orbit, 4, 0.05));
  // The head's weights are scaled by 0.1 and its bias is zero, so the coupling is small.
  EXPECT_LT(error.back(), 5e-3);
}

TEST(TwoBodyModel, ConstantVelocityAndErrorByHand) {
  // One state: x1 = 1, y1 = 0, x2 = -1, y2 = 0, v1 = (0, 2), v2 = (0, -2).
  Tensor window = from_vector(std::vector<double>{1, 0, -1, 0, 0, 2, 0, -2}, {1, 1, 8});
  std::vector<double> rolled = constant_velocity_rollout(window, 2, 0.5).to_vector<double>();
  std::vector<double> expected = {1, 1, -1, -1, 0, 2, 0, -2, 1, 2, -1, -2, 0, 2, 0, -2};
  EXPECT_EQ(rolled, expected);
  // Errors: body 1 off by (3, 4) -> 5, body 2 exact -> mean 2.5 at step 0; step 1 exact.
  Tensor truth = from_vector(expected, {1, 2, 8});
  std::vector<double> shifted = expected;
  shifted[0] += 3, shifted[1] += 4;
  std::vector<double> error = position_error_by_step(from_vector(shifted, {1, 2, 8}), truth);
  EXPECT_DOUBLE_EQ(error[0], 2.5);
  EXPECT_DOUBLE_EQ(error[1], 0.0);
}

TEST(TwoBodyModel, ShortTrainingRunLowersTheLoss) {
  OneThread one_thread;
  TwoBodyOptions data_options;
  data_options.count = 8;
  data_options.length = 80;
  data_options.seed = 3;
  TwoBodyData data = make_two_body(data_options);
  TwoBodyModelOptions options;
  options.window = 50;
  options.segment = 10;
  options.hidden = 64;
  Generator generator(5);
  TwoBodyModel model(options, &generator);
  // Eight orbits, windows starting at 0 and at 20: a fixed batch of 16.
  std::vector<double> windows, futures;
  for (size_t orbit = 0; orbit < 8; ++orbit)
    for (size_t first : {size_t{0}, size_t{20}}) {
      auto at = data.clean.begin() + static_cast<long>((orbit * 80 + first) * 8);
      windows.insert(windows.end(), at, at + 50 * 8);
      futures.insert(futures.end(), at + 50 * 8, at + 60 * 8);
    }
  Tensor window = from_vector(windows, {16, 50, 8}), future = from_vector(futures, {16, 10, 8});
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(1e-3));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 80; ++step) {
    optimizer.zero_grad();
    Tensor loss = model.loss(window, future);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first / 3.0) << first << " -> " << last;
}

TEST(TwoBodyModel, RejectsWrongShapes) {
  TwoBodyModelOptions options;
  options.window = 5;
  options.segment = 2;
  TwoBodyModel model(options);
  EXPECT_THROW(model.predict_segment(zeros({2, 4, 8})), Error);
  try {
    model.predict_segment(zeros({2, 5, 7}));
    FAIL() << "a 7-component state was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("[2, 5, 7]"), std::string::npos) << error.what();
  }
  EXPECT_THROW(model.loss(zeros({2, 5, 8}), zeros({3, 2, 8})), Error);
  EXPECT_THROW(model.rollout(zeros({2, 5, 8}), 0), Error);
  EXPECT_THROW(position_error_by_step(zeros({1, 2, 8}), zeros({1, 3, 8})), Error);
}

}  // namespace
}  // namespace mech::models
