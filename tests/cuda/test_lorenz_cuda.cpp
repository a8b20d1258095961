// mech-lorenz's training on the GPU against the CPU (issue 5: --device cuda reproduces the CPU
// run's coefficients to 1e-6): the same noisy data, seed and schedule on both devices, the
// driver's loop in miniature: Adam in whitened coordinates, two unique-rule prunings (with their
// refit, read and written on the host), learned initial offsets after the last one, a ridge
// before it, and the state network (Conv1d) in the final epochs. Pruning masks must be identical,
// coefficients and the loss curve equal to 1e-6, and the model's tensors must really live on the
// GPU. Without a device it skips; with MECH_PARITY_ON_CPU=1 and no GPU the "device" is the CPU,
// which checks this harness and the model's device-generic code on any machine.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "cuda/device_under_test.h"
#include "models/datasets.h"
#include "models/lorenz_discovery.h"
#include "nn/adam.h"

namespace mech::models {
namespace {

using cuda_tests::device_under_test;

struct TrainingRun {
  std::vector<double> coefficients;  // (10, 3) in the data's units, after the last epoch
  std::vector<double> losses;        // the weighted loss of every epoch
  std::vector<double> mask;          // (10, 3) 1 active / 0 pruned
  Device parameters_on = Device::cpu();
};

TrainingRun train(Device device) {
  LorenzOptions lorenz;
  lorenz.length = 801;
  lorenz.noise = 0.01;
  lorenz.seed = 3;
  LorenzData data = make_lorenz(lorenz);
  LorenzDiscoveryOptions options;
  options.window = 41;
  Generator generator(7);  // the state network's initial weights, drawn on the CPU for both runs
  auto model = std::make_shared<LorenzDiscovery>(data.noisy, lorenz.dt, options, &generator);
  model->to(device);
  Tensor trajectory =
      from_vector(data.noisy, {static_cast<std::int64_t>(data.times.size()), 3}, TensorOptions().dtype(DType::Float64))
          .to(device);
  LorenzSchedule schedule;
  schedule.epochs = 60;
  schedule.prune_start = 20;
  schedule.prune_every = 15;  // prunes after epochs 20 and 35
  schedule.state_start = 48;
  const double ridge = 1e-4;
  auto optimizer = std::make_unique<nn::Adam>(model->parameters(), nn::AdamOptions(schedule.lr));
  TrainingRun run;
  for (long epoch = 0; epoch < schedule.epochs; ++epoch) {
    optimizer->set_lr(schedule.lr_at(epoch));
    optimizer->zero_grad();
    LorenzLosses losses = model->forward_loss(trajectory, schedule.ridge_at(epoch, ridge),
                                              schedule.state_network_at(epoch), schedule.initial_offsets_at(epoch));
    losses.total.backward();
    optimizer->step();
    model->apply_mask();
    run.losses.push_back(losses.value(model->options()));
    if (schedule.prune_after(epoch) && model->prune(0.025, LorenzDiscovery::PruneRule::Unique) > 0)
      optimizer = std::make_unique<nn::Adam>(model->parameters(), nn::AdamOptions(schedule.lr));
  }
  run.coefficients = model->coefficients();
  run.mask = model->mask().weights();
  run.parameters_on = model->whitened().device();
  return run;
}

TEST(CudaLorenz, TrainingMatchesTheCpuRun) {
  REQUIRE_CUDA_DEVICE("Lorenz CPU/GPU parity");
  TrainingRun cpu = train(Device::cpu());
  TrainingRun gpu = train(device_under_test());
  EXPECT_EQ(gpu.parameters_on, device_under_test());
  // The run did prune (else the host round trips of pruning went untested).
  double active = 0.0;
  for (double weight : cpu.mask) active += weight;
  ASSERT_LT(active, 30.0);
  EXPECT_EQ(gpu.mask, cpu.mask);
  ASSERT_EQ(gpu.losses.size(), cpu.losses.size());
  for (size_t epoch = 0; epoch < cpu.losses.size(); ++epoch)
    EXPECT_NEAR(gpu.losses[epoch], cpu.losses[epoch], 1e-6 * std::abs(cpu.losses[epoch])) << "epoch " << epoch;
  ASSERT_EQ(gpu.coefficients.size(), cpu.coefficients.size());
  for (size_t i = 0; i < cpu.coefficients.size(); ++i)
    EXPECT_NEAR(gpu.coefficients[i], cpu.coefficients[i], 1e-6 * (1 + std::abs(cpu.coefficients[i]))) << i;
}

TEST(CudaLorenz, ForwardLossRefusesATrajectoryOnAnotherDevice) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device (" << cuda::availability() << ")";
  LorenzOptions lorenz;
  lorenz.length = 201;
  LorenzData data = make_lorenz(lorenz);
  LorenzDiscovery model(data.noisy, lorenz.dt, LorenzDiscoveryOptions{});
  model.to(Device::cuda());
  Tensor on_cpu = from_vector(data.noisy, {201, 3}, TensorOptions().dtype(DType::Float64));
  EXPECT_THROW(model.forward_loss(on_cpu), Error);
}

}  // namespace
}  // namespace mech::models
