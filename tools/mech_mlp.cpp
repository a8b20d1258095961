// mech-mlp: the demo driver. Fits an MLP to noisy samples of sin(3x) on [-1, 1] with Adam and a
// StepLR schedule on random minibatches, shows a progress bar, optionally checkpoints (and resumes
// with --resume, bit for bit), and finally reports the mean squared error against the clean
// function on a grid, with the threshold it must beat (exit status 1 if it does not).
//
//   mech-mlp --steps 2000 --checkpoint run.safetensors            # train, saving every 500 steps
//   mech-mlp --steps 3000 --checkpoint run.safetensors --resume   # continue the same run
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "autograd/anomaly.h"
#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "nn/nn.h"
#include "tools/common/cli.h"
#include "tools/common/driver_checks.h"
#include "tools/common/progress.h"

namespace {

using namespace mech;

struct Settings {
  long steps = 3000;
  double lr = 1e-2;
  long lr_step = 1000;  // StepLR: halve the learning rate every lr_step steps
  long hidden = 32;
  long layers = 2;
  std::string activation = "tanh";
  long batch = 64;
  long points = 512;
  double noise = 0.1;
  unsigned long long seed = 1;
  std::string checkpoint;
  long checkpoint_every = 500;
  bool resume = false;
  bool anomaly = false;
  int threads = 0;
  double threshold = 5e-3;
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
std::pair<Tensor, Tensor> sample_batch(const Dataset& data, long batch, Generator& generator) {
  std::vector<float> x(static_cast<std::size_t>(batch));
  std::vector<float> y(static_cast<std::size_t>(batch));
  for (long i = 0; i < batch; ++i) {
    const auto index = static_cast<std::size_t>(generator.next_u64() % data.x.size());
    x[static_cast<std::size_t>(i)] = data.x[index];
    y[static_cast<std::size_t>(i)] = data.y[index];
  }
  return {from_vector(x, {batch, 1}), from_vector(y, {batch, 1})};
}

// Mean squared error against the clean function on 201 evenly spaced points of [-1, 1].
double clean_error(nn::Module& model) {
  NoGradGuard no_grad;
  const long count = 201;
  Tensor grid = linspace(-1.0, 1.0, count).reshape({count, 1});
  std::vector<float> truth;
  for (float x : grid.to_vector<float>()) truth.push_back(static_cast<float>(target_function(x)));
  return mse_loss(model.forward(grid), from_vector(truth, {count, 1})).item();
}

// Mean squared error on the whole (noisy) training set: about noise^2 at best.
double training_error(nn::Module& model, const Dataset& data) {
  NoGradGuard no_grad;
  const auto count = static_cast<std::int64_t>(data.x.size());
  return mse_loss(model.forward(from_vector(data.x, {count, 1})), from_vector(data.y, {count, 1})).item();
}

void check_settings(const Settings& s, mech::tools::CommandLine& cli) {
  auto fail = [&](const std::string& message) {
    std::fprintf(stderr, "%s: %s (see --help)\n", cli.program().c_str(), message.c_str());
    std::exit(2);
  };
  if (s.steps < 0) fail("--steps must be >= 0");
  if (s.lr <= 0) fail("--lr must be positive");
  if (s.lr_step <= 0) fail("--lr-step must be positive");
  if (s.hidden <= 0 || s.layers < 1) fail("--hidden must be positive and --layers at least 1");
  if (s.batch <= 0 || s.points <= 0) fail("--batch and --points must be positive");
  if (s.noise < 0) fail("--noise must be >= 0");
  if (s.checkpoint_every <= 0) fail("--checkpoint-every must be positive");
  if (s.threads < 0) fail("--threads must be >= 0");
  if (s.resume && s.checkpoint.empty()) fail("--resume needs --checkpoint PATH");
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  mech::tools::CommandLine cli("mech-mlp",
                               "Fit an MLP to noisy samples of sin(3x) on [-1, 1] (the demo), with checkpoints and "
                               "bit-for-bit resume. Exit status: 0 if the final error beats the threshold, 1 if not "
                               "(or on a runtime error), 2 on bad options.");
  cli.add("steps", &s.steps, "total optimisation steps (a resumed run continues up to this count)");
  cli.add("lr", &s.lr, "Adam learning rate");
  cli.add("lr-step", &s.lr_step, "halve the learning rate every this many steps (StepLR)");
  cli.add("hidden", &s.hidden, "width of each hidden layer");
  cli.add("layers", &s.layers, "number of hidden layers");
  cli.add_choice("activation", &s.activation, {"tanh", "relu", "elu", "sigmoid", "softplus"}, "hidden activation");
  cli.add("batch", &s.batch, "minibatch size");
  cli.add("points", &s.points, "training set size");
  cli.add("noise", &s.noise, "standard deviation of the noise added to sin(3x)");
  cli.add("seed", &s.seed, "seed of the data, the initial weights and the minibatch draws");
  cli.add("checkpoint", &s.checkpoint, "checkpoint file (.safetensors) to save to (and resume from)");
  cli.add("checkpoint-every", &s.checkpoint_every, "save a checkpoint every this many steps");
  cli.add("resume", &s.resume, "continue from --checkpoint instead of starting afresh");
  cli.add("anomaly", &s.anomaly, "check every op's outputs and gradients for NaN/Inf and name the first op producing one (slower)");
  cli.add("threads", &s.threads, "CPU threads (0: all cores)");
  cli.add("threshold", &s.threshold, "the final error must be below this");
  cli.parse_or_exit(argc, argv);
  check_settings(s, cli);
  if (s.resume && !std::filesystem::exists(s.checkpoint))
    cli.fail(fmt::format("--resume: no checkpoint at {}", s.checkpoint));
  if (!s.checkpoint.empty()) {
    // The checkpoint is written every --checkpoint-every steps: find out now if it cannot be.
    const std::string folder = std::filesystem::path(s.checkpoint).parent_path().string();
    mech::tools::prepare_output_directory(cli, "--checkpoint", folder.empty() ? "." : folder);
  }
  // Anomaly mode names the first op whose forward output or gradient holds NaN/Inf.
  std::optional<AnomalyGuard> anomaly_mode;
  if (s.anomaly) anomaly_mode.emplace();

  try {
    if (s.threads > 0) set_num_threads(s.threads);
    const Dataset data = make_dataset(s);

    Generator generator(s.seed);
    std::vector<std::int64_t> sizes{1};
    for (long i = 0; i < s.layers; ++i) sizes.push_back(s.hidden);
    sizes.push_back(1);
    auto model = nn::make_mlp(nn::MLPOptions(sizes).activation(nn::parse_activation(s.activation)), &generator);
    nn::Adam optimizer(model->parameters(), nn::AdamOptions(s.lr));
    nn::StepLR schedule(optimizer, s.lr_step, 0.5);

    // What identifies the run: a resume with other data or architecture settings is refused.
    const std::map<std::string, std::string> identity{
        {"seed", std::to_string(s.seed)},         {"points", std::to_string(s.points)},
        {"noise", fmt::format("{}", s.noise)},    {"hidden", std::to_string(s.hidden)},
        {"layers", std::to_string(s.layers)},     {"activation", s.activation},
        {"batch", std::to_string(s.batch)},       {"lr-step", std::to_string(s.lr_step)}};
    nn::TrainingState state;
    state.model = model.get();
    state.optimizer = &optimizer;
    state.scheduler = &schedule;
    state.generator = &generator;

    if (s.resume) {
      mech::tools::load_checkpoint_or_exit(cli, s.checkpoint, state);
      for (const auto& [key, value] : identity) {
        auto found = state.metadata.find(key);
        if (found == state.metadata.end() || found->second != value) {
          std::fprintf(stderr, "mech-mlp: --resume: %s was saved with --%s %s, this run has %s\n",
                       s.checkpoint.c_str(), key.c_str(),
                       found == state.metadata.end() ? "(unset)" : found->second.c_str(), value.c_str());
          return 2;
        }
      }
      std::printf("resumed from %s at step %lld (lr %.3g)\n", s.checkpoint.c_str(),
                  static_cast<long long>(state.step), optimizer.lr());
    }
    state.metadata = identity;

    const std::int64_t start = state.step;
    std::printf("mech-mlp: %s, %lld parameters, %ld noisy points of sin(3x) (noise %.3g), steps %lld..%ld\n",
                s.activation.c_str(), static_cast<long long>(model->parameter_count()), s.points, s.noise,
                static_cast<long long>(start), s.steps);
    std::fflush(stdout);
    {
      mech::tools::ProgressBar bar(std::max<long>(0, s.steps - static_cast<long>(start)), "train");
      while (state.step < s.steps) {
        auto [x, y] = sample_batch(data, s.batch, generator);
        optimizer.zero_grad();
        Tensor loss = mse_loss(model->forward(x), y);
        loss.backward();
        const double norm = mech::tools::gradient_norm(model->parameters());
        optimizer.step();
        schedule.step();
        ++state.step;
        bar.update(static_cast<long>(state.step - start), loss.item(),
                   fmt::format("lr {:.2g} |grad| {:.3g}", optimizer.lr(), norm));
        if (!s.checkpoint.empty() && (state.step % s.checkpoint_every == 0 || state.step == s.steps)) {
          nn::save_checkpoint(s.checkpoint, state);
        }
      }
      bar.finish();
    }
    if (!s.checkpoint.empty() && start == s.steps && !s.resume) nn::save_checkpoint(s.checkpoint, state);

    const double train_mse = training_error(*model, data);
    const double clean_mse = clean_error(*model);
    std::printf("training MSE (noisy data, floor about noise^2 = %.3g): %.6g\n", s.noise * s.noise, train_mse);
    std::printf("final loss: %.6g (MSE against the clean sin(3x) on 201 grid points; threshold %.3g): %s\n", clean_mse,
                s.threshold, clean_mse < s.threshold ? "PASS" : "FAIL");
    if (!s.checkpoint.empty()) std::printf("checkpoint: %s (step %lld)\n", s.checkpoint.c_str(),
                                           static_cast<long long>(state.step));
    return clean_mse < s.threshold ? 0 : 1;
  } catch (const mech::Error& error) {
    std::fprintf(stderr, "mech-mlp: error: %s\n", mech::tools::one_line(error.what()).c_str());
    return 1;
  }
}
