// Tests of models/lorenz_discovery: windows, the scaled library against PolynomialLibrary, the
// model with the true coefficients reproducing clean data through NeuRLP, the pruning logic (one
// way, exactly zero after optimizer steps), the schedule, and a short training run whose loss falls
// and whose coefficients move toward the truth.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/generator.h"
#include "models/datasets.h"
#include "models/lorenz_discovery.h"
#include "models/sindy.h"
#include "nn/adam.h"

namespace mech::models {
namespace {

const TensorOptions kF64 = TensorOptions().dtype(DType::Float64);

LorenzData short_lorenz(size_t length, double noise = 0.0) {
  LorenzOptions options;
  options.length = length;
  options.noise = noise;
  options.seed = 4;
  return make_lorenz(options);
}

// Sets the model's scaled xi so that its coefficients() are `physical` (terms, 3).
void set_physical_coefficients(LorenzDiscovery& model, const std::vector<double>& physical) {
  // coefficients() = scaled * output / column; recover the two scales from a unit probe.
  NoGradGuard no_grad;
  model.xi().fill_(1.0);
  std::vector<double> unit = model.coefficients();
  std::vector<double> scaled(physical.size());
  for (size_t i = 0; i < physical.size(); ++i) scaled[i] = physical[i] / unit[i];
  model.xi().copy_(from_vector(scaled, model.xi().shape(), kF64));
}

TEST(LorenzDiscovery, WindowsShareTheirEndPoints) {
  std::vector<double> samples;
  for (int n = 0; n < 12; ++n)
    for (int d = 0; d < 3; ++d) samples.push_back(10.0 * n + d);
  Tensor windows = make_windows(samples, 5);  // (12-1)/(5-1) = 2 windows, samples 0..4 and 4..8
  ASSERT_EQ(windows.shape(), Shape({2, 5, 3}));
  std::vector<double> v = windows.to_vector<double>();
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[(0 * 5 + 4) * 3 + 1], 41.0);
  EXPECT_EQ(v[(1 * 5 + 0) * 3 + 1], 41.0);
  EXPECT_EQ(v[(1 * 5 + 4) * 3 + 2], 82.0);
  EXPECT_THROW(make_windows(samples, 13), Error);
  EXPECT_THROW(make_windows({1.0, 2.0}, 3), Error);
}

TEST(LorenzDiscovery, ScaledLibraryMatchesThePolynomialLibrary) {
  LorenzData data = short_lorenz(200);
  LorenzDiscovery model(data.noisy, 0.01, LorenzDiscoveryOptions{});
  std::vector<double> state = {1.5, -2.0, 3.0};
  std::vector<double> scaled = model.scaled_library(from_vector(state, {1, 3}, kF64)).to_vector<double>();
  std::vector<double> expected = model.library().evaluate(state);
  ASSERT_EQ(scaled.size(), 10u);
  // The scale of each column is its RMS over the data.
  std::vector<double> theta = model.library().evaluate(data.noisy);
  for (size_t term = 0; term < 10; ++term) {
    double rms = 0.0;
    for (size_t n = 0; n < 200; ++n) rms += theta[n * 10 + term] * theta[n * 10 + term] / 200.0;
    EXPECT_NEAR(scaled[term], expected[term] / std::sqrt(rms), 1e-12 * std::abs(expected[term]) + 1e-15) << term;
  }
}

TEST(LorenzDiscovery, TrueCoefficientsReproduceCleanData) {
  // With xi the true system and s = x (the state network starts at zero), u' = f(x) integrated by
  // NeuRLP must follow the data: what is left is the solver's discretisation error.
  LorenzData data = short_lorenz(501);
  LorenzDiscoveryOptions options;
  options.window = 26;
  options.gamma = 0.0;
  LorenzDiscovery model(data.noisy, 0.01, options);
  set_physical_coefficients(model, lorenz_coefficients(model.library(), 10.0, 28.0, 8.0 / 3.0));
  Tensor windows = make_windows(data.noisy, options.window);
  LorenzLosses losses = model.forward_loss(windows);
  EXPECT_EQ(losses.state, 0.0);
  EXPECT_LT(losses.solution, 1e-7);
  // And the zero system does not: the loss can tell the two apart.
  NoGradGuard no_grad;
  model.xi().zero_();
  EXPECT_GT(model.forward_loss(windows).solution, 1e-3);
}

TEST(LorenzDiscovery, PruningIsOneWayAndExact) {
  LorenzData data = short_lorenz(200);
  LorenzDiscovery model(data.noisy, 0.01, LorenzDiscoveryOptions{});
  std::vector<double> scaled(30, 0.5);
  scaled[0] = 0.01;   // term 1, dx
  scaled[13] = -0.04; // term xx, dy
  scaled[29] = 0.06;  // term zz, dz: above the threshold
  {
    NoGradGuard no_grad;
    model.xi().copy_(from_vector(scaled, {10, 3}, kF64));
  }
  EXPECT_EQ(model.prune(0.05), 2u);
  EXPECT_EQ(model.active_terms(), 28u);
  EXPECT_FALSE(model.mask().active(0, 0));
  EXPECT_FALSE(model.mask().active(4, 1));
  EXPECT_TRUE(model.mask().active(9, 2));
  std::vector<double> after = model.coefficients();
  EXPECT_EQ(after[0], 0.0);
  EXPECT_EQ(after[13], 0.0);
  EXPECT_NE(after[29], 0.0);
  EXPECT_EQ(model.prune(0.05), 0u);  // nothing new below the threshold

  // Optimizer steps with momentum cannot revive a pruned term: the solver sees xi * mask (no
  // gradient reaches a pruned entry) and apply_mask() re-zeroes the parameter.
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(0.1));
  Tensor windows = make_windows(data.noisy, 51);
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    model.forward_loss(windows).total.backward();
    optimizer.step();
    model.apply_mask();
    std::vector<double> xi = model.xi().to_vector<double>();
    EXPECT_EQ(xi[0], 0.0);
    EXPECT_EQ(xi[13], 0.0);
  }
  // A larger threshold prunes more, and what was pruned stays pruned even if it grew back.
  EXPECT_GT(model.prune(10.0), 0u);
  EXPECT_EQ(model.active_terms(), 0u);
  for (double value : model.coefficients()) EXPECT_EQ(value, 0.0);
}

TEST(LorenzDiscovery, ScheduleDecaysAndPrunesBetweenCycles) {
  LorenzSchedule schedule;
  schedule.epochs = 1000;
  schedule.lr = 0.1;
  schedule.final_lr_fraction = 0.01;
  schedule.prune_start = 200;
  schedule.prune_every = 300;
  EXPECT_DOUBLE_EQ(schedule.lr_at(0), 0.1);
  EXPECT_NEAR(schedule.lr_at(999), 0.001, 1e-15);
  EXPECT_GT(schedule.lr_at(500), schedule.lr_at(501));
  EXPECT_FALSE(schedule.prune_after(199));
  EXPECT_TRUE(schedule.prune_after(200));
  EXPECT_FALSE(schedule.prune_after(201));
  EXPECT_TRUE(schedule.prune_after(500));
  EXPECT_FALSE(schedule.prune_after(800));  // within the last cycle: the kept terms settle
}

TEST(LorenzDiscovery, ShortRunLowersTheLossAndApproachesTheTruth) {
  LorenzData data = short_lorenz(801);
  LorenzDiscoveryOptions options;
  options.window = 41;
  Generator generator(1);
  LorenzDiscovery model(data.noisy, 0.01, options, &generator);
  Tensor windows = make_windows(data.noisy, options.window);
  std::vector<double> truth = lorenz_coefficients(model.library(), 10.0, 28.0, 8.0 / 3.0);
  auto distance = [&] {
    std::vector<double> found = model.coefficients();
    double sum = 0.0;
    for (size_t i = 0; i < truth.size(); ++i) sum += (found[i] - truth[i]) * (found[i] - truth[i]);
    return std::sqrt(sum);
  };
  double start_distance = distance();
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(0.02));
  double first_loss = 0.0, last_loss = 0.0;
  for (int epoch = 0; epoch < 150; ++epoch) {
    optimizer.zero_grad();
    LorenzLosses losses = model.forward_loss(windows);
    losses.total.backward();
    optimizer.step();
    if (epoch == 0) first_loss = losses.solution;
    last_loss = losses.solution;
  }
  EXPECT_LT(last_loss, first_loss / 10);
  EXPECT_LT(distance(), start_distance / 2);
}

}  // namespace
}  // namespace mech::models
