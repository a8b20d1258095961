// Tests of the logistic parameter-inference model: with the encoder's head fixed to the true
// (r, -r/K) the linearised ODE u' = a s + b s^2 reproduces the closed-form curve; a short training
// run lowers the reconstruction loss; and a small model trained on reconstruction alone infers r
// on held-out trajectories within a stated bound.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/parallel.h"
#include "models/datasets.h"
#include "models/logistic_model.h"
#include "models/model_test_helpers.h"
#include "nn/adam.h"
#include "nn/linear.h"

namespace mech::models {
namespace {

using namespace mech::model_tests;

LogisticData make_set(size_t count, std::uint64_t seed, double noise = 0.0) {
  LogisticOptions options;
  options.count = count;
  options.length = 100;
  options.dt = 0.1;
  options.noise = noise;
  options.seed = seed;
  return make_logistic(options);
}

Tensor rows(const std::vector<double>& values, size_t first, size_t count, size_t length = 100) {
  std::vector<double> out(values.begin() + static_cast<long>(first * length),
                          values.begin() + static_cast<long>((first + count) * length));
  return from_vector(out, {static_cast<std::int64_t>(count), static_cast<std::int64_t>(length)});
}

TEST(LogisticModel, GradientsMatchFiniteDifferences) {
  LogisticData data = make_set(3, 31, 0.01);
  Tensor batch = rows(data.noisy, 0, 3);
  Generator generator(4);
  LogisticModel model(LogisticModelOptions{}, &generator);
  auto loss = [&] { return model.loss(batch); };
  expect_gradient_matches_finite_differences(model.find_tensor("head.bias"), {0, 1, 2}, loss, "head.bias");
  expect_gradient_matches_finite_differences(model.find_tensor("head.weight"), {0, 70, 150}, loss, "head.weight");
  expect_gradient_matches_finite_differences(model.find_tensor("conv0.weight"), {0, 7, 30}, loss, "conv0.weight");
}

// Zeroing the head's weight leaves its bias as the encoder output for every input: bias =
// (log r, log(K / last sample), 0) makes a = r, b = -r/K and u(0) = s(0).
TEST(LogisticModel, TrueParametersReproduceTheClosedForm) {
  LogisticData data = make_set(1, 11);
  const double r = data.rate[0], capacity = data.capacity[0];
  LogisticModel model;
  NoGradGuard no_grad;
  auto head = model.find_tensor("head.weight");
  head.zero_();
  const double last = data.clean[99];
  model.find_tensor("head.bias").copy_(from_vector(std::vector<double>{std::log(r), std::log(capacity / last), 0.0}, {3}));
  LogisticInference inferred = model.infer(rows(data.clean, 0, 1));
  EXPECT_NEAR(inferred.rate.item(), r, 1e-12);
  EXPECT_NEAR(inferred.quadratic.item(), -r / capacity, 1e-12);
  std::vector<double> u = inferred.solution.to_vector<double>();
  double largest = 0.0;
  for (size_t t = 0; t < u.size(); ++t)
    largest = std::max(largest, std::abs(u[t] - logistic_solution(r, capacity, data.start[0], 0.1 * t)));
  // Second-order trapezoid-like integration of a smooth curve at h = 0.1 plus the eps relaxation
  // (gamma*alpha = 0.05): measured about 1e-3 on curves of height up to 2.
  EXPECT_LT(largest, 5e-3) << "r " << r << " K " << capacity;
}

TEST(LogisticModel, ReconstructionLossFallsInAShortRun) {
  OneThread one_thread;
  LogisticData data = make_set(32, 5, 0.01);
  Tensor batch = rows(data.noisy, 0, 32);
  Generator generator(2);
  LogisticModel model(LogisticModelOptions{}, &generator);
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(3e-3));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 60; ++step) {
    optimizer.zero_grad();
    Tensor loss = model.loss(batch);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first / 3.0) << first << " -> " << last;
}

// A small model (64 training curves, 1200 Adam steps) on noisy data (noise 0.01), evaluated on 16
// curves drawn with another seed. The bound is the measured error with a margin (see the assertion).
TEST(LogisticModel, InfersTheRateOnHeldOutTrajectories) {
  OneThread one_thread;
  LogisticData train = make_set(64, 21, 0.01);
  LogisticData test = make_set(16, 22, 0.01);
  Generator generator(7);
  LogisticModel model(LogisticModelOptions{}, &generator);
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(3e-3));
  for (int step = 0; step < 1200; ++step) {
    const size_t first = static_cast<size_t>(step % 4) * 16;
    optimizer.zero_grad();
    Tensor loss = model.loss(rows(train.noisy, first, 16));
    loss.backward();
    optimizer.step();
  }
  NoGradGuard no_grad;
  LogisticInference inferred = model.infer(rows(test.noisy, 0, 16));
  const double error = mean_relative_error(inferred.rate.to_vector<double>(), test.rate);
  // Measured 6.1% (4.6 s on one thread); guessing the middle of the range, r = 1.25, for every
  // curve gives about 35%, and 600 steps give 8.8%. 9% keeps a margin for other CPUs' rounding
  // (the GEMM micro-kernel differs between AVX2 and AVX-512) while still failing an encoder that
  // does not learn. The driver's full run reaches 2.6-3.4% (the 5% acceptance bound).
  EXPECT_LT(error, 0.09) << "mean relative error of r on held-out curves";
}

TEST(LogisticModel, RejectsWrongShapes) {
  LogisticModel model;
  try {
    model.infer(zeros({4, 99}));
    FAIL() << "a trajectory of the wrong length was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("[4, 99]"), std::string::npos) << error.what();
  }
  EXPECT_THROW(model.infer(zeros({2, 100})), Error);  // no positive last sample to measure in
  EXPECT_THROW(mean_relative_error({1.0, 2.0}, {1.0}), Error);
  LogisticModelOptions options;
  options.length = 4;
  EXPECT_THROW(LogisticModel{options}, Error);
}

TEST(LogisticModel, MeanRelativeErrorByHand) {
  EXPECT_DOUBLE_EQ(mean_relative_error({1.1, 1.8}, {1.0, 2.0}), (0.1 + 0.1) / 2);
  EXPECT_DOUBLE_EQ(mean_relative_error({-0.5}, {-1.0}), 0.5);
}

}  // namespace
}  // namespace mech::models
