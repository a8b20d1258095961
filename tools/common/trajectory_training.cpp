// The options of the drivers that train on minibatches of simulated trajectories
// (trajectory_training.h).
#include "tools/common/trajectory_training.h"

#include <fmt/format.h>

namespace mech::tools {

std::map<std::string, std::string> TrajectoryTraining::identity() const {
  return {{"train-count", std::to_string(train_count)}, {"length", std::to_string(length)},
          {"dt", fmt::format("{}", dt)},                {"noise", fmt::format("{}", noise)},
          {"seed", std::to_string(seed)},               {"batch", std::to_string(batch)},
          {"lr-step", std::to_string(lr_step)}};
}

void add_trajectory_training_options(CommandLine& cli, TrajectoryTraining& training, const std::string& items,
                                     const std::string& length_help, const std::string& noise_help,
                                     const std::string& batch_help) {
  cli.add("train-count", &training.train_count, "training " + items);
  cli.add("test-count", &training.test_count, "held-out " + items + " (a different seed)");
  cli.add("length", &training.length, length_help);
  cli.add("dt", &training.dt, "sampling interval");
  cli.add("noise", &training.noise, noise_help);
  cli.add("seed", &training.seed, "seed of the data, the initial weights and the minibatches");
  cli.add("iterations", &training.iterations, "Adam steps in all (a resumed run continues up to this count)");
  cli.add("batch", &training.batch, batch_help);
  cli.add("lr", &training.lr, "Adam learning rate");
  cli.add("lr-step", &training.lr_step, "multiply the learning rate by 0.3 every this many steps (StepLR)");
}

void check_trajectory_training_options(const CommandLine& cli, const TrajectoryTraining& training) {
  if (training.train_count < 1 || training.test_count < 1)
    cli.fail(fmt::format("--train-count {} and --test-count {} must be positive", training.train_count,
                         training.test_count));
  if (!(training.dt > 0)) cli.fail(fmt::format("--dt {} must be positive", training.dt));
  if (!(training.noise >= 0)) cli.fail(fmt::format("--noise {} must be non-negative", training.noise));
  if (training.iterations < 0) cli.fail(fmt::format("--iterations {} must be >= 0", training.iterations));
  if (training.batch < 1) cli.fail(fmt::format("--batch {} must be positive", training.batch));
  if (!(training.lr > 0)) cli.fail(fmt::format("--lr {} must be positive", training.lr));
  if (training.lr_step < 1) cli.fail(fmt::format("--lr-step {} must be positive", training.lr_step));
}

}  // namespace mech::tools
