// mech-mlp: the smallest training driver. Fits an MLP to noisy samples of sin(3x) on [-1, 1] with
// Adam and a StepLR schedule on random minibatches, on the drivers' shared kit (run options,
// progress bar, checkpoints and bit-for-bit --resume: tools/common/training_run.h), and finally
// reports the mean squared error against the clean function on a grid, with the threshold it must
// beat (exit status 1 if it does not). Writes to --out-dir:
//   loss.csv, summary.txt    training loss; the errors as key=value lines
//   checkpoint.safetensors   model + optimizer + scheduler + sampler state (continue with --resume)
//
//   mech-mlp --iterations 2000                # train, saving every 500 steps
//   mech-mlp --iterations 3000 --resume       # continue the same run
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "nn/nn.h"
#include "tools/common/cli.h"
#include "tools/common/driver_checks.h"
#include "tools/common/training_run.h"

namespace {

using namespace mech;

struct Settings {
  long iterations = 3000;
  double lr = 1e-2;
  long lr_step = 1000;  // StepLR: halve the learning rate every lr_step steps
  long hidden = 32;
  long layers = 2;
  std::string activation = "tanh";
  long batch = 64;
  long points = 512;
  double noise = 0.1;
  unsigned long long seed = 1;
  double threshold = 5e-3;
  tools::RunOptions run{.checkpoint_every = 500, .out_dir = "out/mlp"};
};

double target_function(double x) { return std::sin(3.0 * x); }

// The noisy training set: x uniform on [-1, 1], y = sin(3x) + noise * N(0, 1). It depends only on
// the seed, points and noise, so a resumed run regenerates the same data.
struct Dataset {
  std::vector<float> x;
  std::vector<float> y;
};

Dataset make_dataset(const Settings& settings) {
  Generator generator(settings.seed ^ 0xda7a5e7ULL);
  Dataset data;
  for (long i = 0; i < settings.points; ++i) {
    const double x = -1.0 + 2.0 * generator.uniform();
    data.x.push_back(static_cast<float>(x));
    data.y.push_back(static_cast<float>(target_function(x) + settings.noise * generator.normal()));
  }
  return data;
}

// A random minibatch (with replacement) drawn from `generator`, whose state the checkpoint keeps.
std::pair<Tensor, Tensor> sample_batch(const Dataset& data, long batch, Generator& generator, Device device) {
  std::vector<float> x(static_cast<std::size_t>(batch));
  std::vector<float> y(static_cast<std::size_t>(batch));
  for (long i = 0; i < batch; ++i) {
    const auto index = static_cast<std::size_t>(generator.next_u64() % data.x.size());
    x[static_cast<std::size_t>(i)] = data.x[index];
    y[static_cast<std::size_t>(i)] = data.y[index];
  }
  return {from_vector(x, {batch, 1}).to(device), from_vector(y, {batch, 1}).to(device)};
}

// Mean squared error against the clean function on 201 evenly spaced points of [-1, 1].
double clean_error(nn::Module& model, Device device) {
  NoGradGuard no_grad;
  const long count = 201;
  Tensor grid = linspace(-1.0, 1.0, count).reshape({count, 1});
  std::vector<float> truth;
  for (float x : grid.to_vector<float>()) truth.push_back(static_cast<float>(target_function(x)));
  return mse_loss(model.forward(grid.to(device)), from_vector(truth, {count, 1}).to(device)).item();
}

// Mean squared error on the whole (noisy) training set: about noise^2 at best.
double training_error(nn::Module& model, const Dataset& data, Device device) {
  NoGradGuard no_grad;
  const auto count = static_cast<std::int64_t>(data.x.size());
  return mse_loss(model.forward(from_vector(data.x, {count, 1}).to(device)), from_vector(data.y, {count, 1}).to(device))
      .item();
}

int run(const Settings& s, const tools::CommandLine& cli) {
  const tools::RunScope scope(s.run);
  const Dataset data = make_dataset(s);

  Generator generator(s.seed);
  std::vector<std::int64_t> sizes{1};
  for (long i = 0; i < s.layers; ++i) sizes.push_back(s.hidden);
  sizes.push_back(1);
  auto model = nn::make_mlp(nn::MLPOptions(sizes).activation(nn::parse_activation(s.activation)), &generator);
  model->to(scope.device);
  nn::Adam optimizer(model->parameters(), nn::AdamOptions(s.lr));
  nn::StepLR schedule(optimizer, s.lr_step, 0.5);

  // What identifies the run: a resume with other data or architecture settings is refused.
  const std::map<std::string, std::string> identity{
      {"seed", std::to_string(s.seed)},       {"points", std::to_string(s.points)},
      {"noise", fmt::format("{}", s.noise)},  {"hidden", std::to_string(s.hidden)},
      {"layers", std::to_string(s.layers)},   {"activation", s.activation},
      {"batch", std::to_string(s.batch)},     {"lr-step", std::to_string(s.lr_step)}};
  nn::TrainingState state{
      .model = model.get(), .optimizer = &optimizer, .scheduler = &schedule, .generator = &generator, .metadata = {}};
  tools::TrainingLog log(cli, s.run, state, identity, s.iterations, "train");

  std::printf("mech-mlp: %s, %lld parameters, %ld noisy points of sin(3x) (noise %.3g), steps %lld..%ld on %s\n",
              s.activation.c_str(), static_cast<long long>(model->parameter_count()), s.points, s.noise,
              static_cast<long long>(state.step), s.iterations, scope.device.str().c_str());
  std::fflush(stdout);
  while (state.step < s.iterations) {
    log.train_step(optimizer, &schedule, model->parameters(), [&] {
      auto [x, y] = sample_batch(data, s.batch, generator, scope.device);
      return mse_loss(model->forward(x), y);
    });
  }
  log.finish();

  const double train_mse = training_error(*model, data, scope.device);
  const double clean_mse = clean_error(*model, scope.device);
  const bool pass = clean_mse < s.threshold;
  std::printf("training MSE (noisy data, floor about noise^2 = %.3g): %.6g\n", s.noise * s.noise, train_mse);
  std::printf("final loss: %.6g (MSE against the clean sin(3x) on 201 grid points; threshold %.3g): %s\n", clean_mse,
              s.threshold, pass ? "PASS" : "FAIL");
  write_file_atomically(s.run.out_dir + "/loss.csv", log.csv());
  write_file_atomically(s.run.out_dir + "/summary.txt",
                        fmt::format("iterations={}\ntraining_mse={:.9g}\nclean_mse={:.9g}\nthreshold={}\npass={}\n",
                                    state.step, train_mse, clean_mse, s.threshold, pass ? "true" : "false"));
  std::printf("wrote %s/loss.csv, summary.txt, checkpoint.safetensors\n", s.run.out_dir.c_str());
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  tools::CommandLine cli("mech-mlp",
                         "Fit an MLP to noisy samples of sin(3x) on [-1, 1], with checkpoints and bit-for-bit resume.\n"
                         "Exit status: 0 if the final error beats --threshold, 1 if not (or on a runtime error), 2 on\n"
                         "bad options.");
  cli.add("iterations", &s.iterations, "Adam steps in all (a resumed run continues up to this count)");
  cli.add("lr", &s.lr, "Adam learning rate");
  cli.add("lr-step", &s.lr_step, "halve the learning rate every this many steps (StepLR)");
  cli.add("hidden", &s.hidden, "width of each hidden layer");
  cli.add("layers", &s.layers, "number of hidden layers");
  cli.add_choice("activation", &s.activation, {"tanh", "relu", "elu", "sigmoid", "softplus"}, "hidden activation");
  cli.add("batch", &s.batch, "minibatch size");
  cli.add("points", &s.points, "training set size");
  cli.add("noise", &s.noise, "standard deviation of the noise added to sin(3x)");
  cli.add("seed", &s.seed, "seed of the data, the initial weights and the minibatch draws");
  cli.add("threshold", &s.threshold, "the final error must be below this (exit status 1 if not)");
  tools::add_run_options(cli, s.run, "loss.csv, summary.txt");
  cli.parse_or_exit(argc, argv);
  if (s.iterations < 0) cli.fail(fmt::format("--iterations {} must be >= 0", s.iterations));
  if (!(s.lr > 0)) cli.fail(fmt::format("--lr {} must be positive", s.lr));
  if (s.lr_step < 1) cli.fail(fmt::format("--lr-step {} must be positive", s.lr_step));
  if (s.hidden < 1 || s.layers < 1)
    cli.fail(fmt::format("--hidden {} and --layers {} must be positive", s.hidden, s.layers));
  if (s.batch < 1 || s.points < 1)
    cli.fail(fmt::format("--batch {} and --points {} must be positive", s.batch, s.points));
  if (!(s.noise >= 0)) cli.fail(fmt::format("--noise {} must be non-negative", s.noise));
  tools::check_run_options(cli, s.run);
  return tools::run_reporting_errors(cli, [&] { return run(s, cli); });
}
