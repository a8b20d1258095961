// The options of the drivers that train an encoder on random minibatches drawn from simulated
// trajectories and judge it on held-out trajectories simulated with another seed (mech-logistic,
// mech-two-body): how much data, how it is sampled and noised, and the Adam + StepLR schedule.
//
//   struct Settings : tools::TrajectoryTraining {
//     Settings() : TrajectoryTraining{.train_count = 256, ..., .lr_step = 1000} {}
//     long hidden = 64;  // the driver's own
//   };
//   tools::add_trajectory_training_options(cli, s, "trajectories", "samples per trajectory", ...);
//   cli.parse_or_exit(argc, argv);
//   tools::check_trajectory_training_options(cli, s);
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tools/common/cli.h"

namespace mech::tools {

struct TrajectoryTraining {
  long train_count = 1;  // training trajectories
  long test_count = 1;   // held-out trajectories (test_seed)
  long length = 1;       // samples per trajectory
  double dt = 0.1;
  double noise = 0.0;
  unsigned long long seed = 0;  // of the data, the initial weights and the minibatches
  long iterations = 0;          // Adam steps in all
  long batch = 1;
  double lr = 1e-3;
  long lr_step = 1;  // StepLR: multiply the learning rate by 0.3 every lr_step steps

  // The held-out set's seed: other trajectories than any trained on.
  std::uint64_t test_seed() const { return seed + 0x9e3779b9ULL; }
  // The settings a checkpoint must share to be resumed (option name -> value): the training
  // data and its sampling.
  std::map<std::string, std::string> identity() const;
};

// --train-count --test-count --length --dt --noise --seed --iterations --batch --lr --lr-step.
// `items` names a trajectory in the help ("trajectories", "orbits"), `length_help`, `noise_help`
// and `batch_help` say what a sample, the noise and a minibatch element are.
void add_trajectory_training_options(CommandLine& cli, TrajectoryTraining& training, const std::string& items,
                                     const std::string& length_help, const std::string& noise_help,
                                     const std::string& batch_help);
// Exits 2 with one line on a count, step, rate or noise out of range.
void check_trajectory_training_options(const CommandLine& cli, const TrajectoryTraining& training);

}  // namespace mech::tools
