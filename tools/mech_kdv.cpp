// mech-kdv: the paper's PDE experiment, forecasting the Korteweg-de Vries equation
// u_t + u u_x + u_xxx = 0 on a periodic domain. Two commands:
//
//   mech-kdv generate --count N --seed S --out-dir DIR [--set easy|default]
//       writes DIR/u.npy (N,140,256) float64, DIR/t.npy (N,140) the stored times and DIR/x.npy
//       (N,256) the grid (models/kdv_data.h has the recipe).
//   mech-kdv train --model mnn|resnet|fno --seed S --out-dir DIR [--preset demo|paper] [--device cpu|cuda]
//       generates the three splits (or reuses them from --data-dir), trains on windows of 10 input
//       and 9 target frames (L1 loss, Adam, ReduceLROnPlateau on the validation loss, gradient
//       clipping), then rolls the model out autoregressively from the first 10 frames of every test
//       trajectory and writes to --out-dir:
//         metrics.csv             model,frames,nmse for the model and for persistence at 10, 40, 100 frames
//         trajectories.csv        per test trajectory: its largest |u| and both NMSEs at 10, 40, 100 frames
//         rollout.svg             truth, prediction and error over space and time, first test trajectory
//         loss.csv                iteration,loss,validation_loss,lr
//         checkpoint.safetensors  model + optimizer + scheduler + step (continue with --resume)
//
// Under `mpirun -np N` the same command trains data-parallel: --batch stays the global batch and
// each rank computes its share; rank 0 makes the data cache, evaluates and writes.
//
// Exit status 0 on success, 1 on an error during the run, 2 on a bad option or a corrupt data
// file (one line on stderr).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "core/parallel.h"
#include "models/kdv_data.h"
#include "models/kdv_fno.h"
#include "models/kdv_mnn.h"
#include "models/kdv_model.h"
#include "models/kdv_resnet.h"
#include "nn/nn.h"
#include "tools/common/cli.h"
#include "tools/common/driver_checks.h"
#include "tools/common/heatmap.h"
#include "tools/common/progress.h"
#include "tools/common/training_run.h"

namespace {

using namespace mech;
using models::KdvData;
using models::KdvTrainingPreset;

constexpr std::int64_t kRolloutFrames = 100;
constexpr std::int64_t kValidationWindows = 256;  // evenly spaced over the validation split
const std::vector<std::int64_t> kScoredFrames = {10, 40, 100};

// The data's seed for a split: the three splits never share a trajectory.
std::uint64_t split_seed(unsigned long long data_seed, int split) { return data_seed * 3 + static_cast<unsigned>(split); }

// Generation with a progress bar on stderr (quiet: only its last line).
KdvData generate_with_progress(std::int64_t count, std::uint64_t seed, const models::KdvRecipe& recipe,
                               const std::string& label) {
  tools::ProgressBar bar(static_cast<long>(count), label);
  KdvData data = models::generate_kdv(count, seed, recipe, [&](std::int64_t done) { bar.update(static_cast<long>(done)); });
  bar.finish();
  return data;
}

// ---------------------------------------------------------------------------------------------
// mech-kdv generate

int generate_main(int argc, char** argv) {
  long count = 16;
  unsigned long long seed = 0;
  std::string out_dir;
  std::string set = "easy";
  int threads = 0;
  tools::CommandLine cli("mech-kdv generate",
                         "Generate KdV trajectories (u_t + u u_x + u_xxx = 0, periodic, pseudo-spectral ETDRK4) and\n"
                         "write u.npy (N,140,256), t.npy (N,140) and x.npy (N,256) to --out-dir.");
  cli.add("count", &count, "trajectories to generate");
  cli.add("seed", &seed, "random seed (the same seed gives the same bytes on any thread count)");
  cli.add("out-dir", &out_dir, "folder for u.npy, t.npy and x.npy (created)");
  cli.add_choice("set", &set, {"easy", "default"}, "easy: T ~ U(45, 55) (dt ~ 0.2); default: T ~ U(90, 110) (dt ~ 0.4)");
  cli.add("threads", &threads, "CPU threads (0: all)");
  cli.parse_or_exit(argc, argv);
  if (count < 1) cli.fail(fmt::format("--count {} must be at least 1", count));
  if (threads < 0) cli.fail(fmt::format("--threads {} must be >= 0", threads));
  if (!cli.was_set("out-dir")) cli.fail("--out-dir is required");
  tools::prepare_output_directory(cli, "--out-dir", out_dir);
  return tools::run_reporting_errors(cli, [&] {
    if (threads > 0) set_num_threads(threads);
    models::KdvRecipe recipe;
    recipe.set = models::parse_kdv_set(set);
    const auto started = std::chrono::steady_clock::now();
    const KdvData data = generate_with_progress(count, seed, recipe, "generate");
    models::save_kdv(data, out_dir);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("mech-kdv: %ld %s trajectories (seed %llu) in %.1f s; wrote %s/u.npy, t.npy, x.npy\n", count,
                set.c_str(), seed, seconds, out_dir.c_str());
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// mech-kdv train

struct TrainSettings {
  std::string model = "mnn";
  std::string preset = "demo";
  std::string set = "easy";
  unsigned long long seed = 0;       // initial weights and minibatch order
  unsigned long long data_seed = 0;  // the splits: data_seed * 3 + {0 train, 1 valid, 2 test}
  std::string data_dir = "out/kdv-data";
  // Overrides of the preset (0: the preset's value).
  long iterations = 0, batch = 0, train_trajectories = 0, valid_trajectories = 0, test_trajectories = 0;
  double lr = 0;
  long stop_at = 0;  // stop (with a checkpoint) after this many iterations; 0: train to the end
  tools::RunOptions run{.threads = 0, .checkpoint_every = 500, .out_dir = "out/kdv"};
};

KdvTrainingPreset resolve_preset(const TrainSettings& s) {
  KdvTrainingPreset preset = s.preset == "paper" ? KdvTrainingPreset::paper() : KdvTrainingPreset::demo(s.model);
  if (s.iterations > 0) preset.iterations = s.iterations;
  if (s.batch > 0) preset.batch = s.batch;
  if (s.train_trajectories > 0) preset.train_trajectories = s.train_trajectories;
  if (s.valid_trajectories > 0) preset.valid_trajectories = s.valid_trajectories;
  if (s.test_trajectories > 0) preset.test_trajectories = s.test_trajectories;
  if (s.lr > 0) preset.lr = s.lr;
  return preset;
}

std::shared_ptr<models::KdvModel> make_model(const TrainSettings& s, Generator* generator) {
  const bool paper = s.preset == "paper";
  if (s.model == "mnn")
    return std::make_shared<models::KdvMnn>(paper ? models::KdvMnnOptions::paper() : models::KdvMnnOptions::demo(),
                                            generator);
  if (s.model == "resnet")
    return std::make_shared<models::KdvResNet>(
        paper ? models::KdvResNetOptions::paper() : models::KdvResNetOptions::demo(), generator);
  return std::make_shared<models::KdvFno>(paper ? models::KdvFnoOptions::paper() : models::KdvFnoOptions::demo(),
                                          generator);
}

// A split from the cache folder, generated and saved on first use. A damaged cache file is a bad
// input (exit 2), with the folder to delete named.
KdvData cached_split(const tools::CommandLine& cli, const TrainSettings& s, const std::string& split, int index,
                     long count) {
  models::KdvRecipe recipe;
  recipe.set = models::parse_kdv_set(s.set);
  const std::uint64_t seed = split_seed(s.data_seed, index);
  const std::string dir = fmt::format("{}/{}-{}-n{}-seed{}", s.data_dir, s.set, split, count, seed);
  if (std::filesystem::exists(dir + "/u.npy")) {
    try {
      KdvData data = models::load_kdv(dir);
      if (data.u.shape()[0] != count)
        throw Error(fmt::format("holds {} trajectories, expected {}", data.u.shape()[0], count));
      return data;
    } catch (const Error& error) {
      cli.fail(fmt::format("cached {} data in {} cannot be used: {} (delete the folder to regenerate it)", split, dir,
                           tools::one_line(error.what())));
    }
  }
  KdvData data = generate_with_progress(count, seed, recipe, split + " data");
  std::filesystem::create_directories(dir);
  models::save_kdv(data, dir);
  return data;
}

// The windows of one epoch in a shuffled order that depends only on (seed, epoch), so a resumed
// run sees the same minibatches as an uninterrupted one.
std::vector<std::int64_t> epoch_order(std::int64_t windows, unsigned long long seed, std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(windows));
  for (std::int64_t i = 0; i < windows; ++i) order[static_cast<std::size_t>(i)] = i;
  Generator shuffle(seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(epoch) + 1);
  for (std::int64_t i = windows - 1; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(shuffle.next_u64() % static_cast<std::uint64_t>(i + 1))]);
  return order;
}

// Mean L1 loss over evenly spaced validation windows, without gradients.
double validation_loss(models::KdvModel& model, const KdvData& valid, std::int64_t windows, std::int64_t batch,
                       Device device) {
  NoGradGuard no_grad;
  model.eval();
  const std::int64_t total = models::kdv_window_count(valid);
  const std::int64_t count = std::min(windows, total);
  double sum = 0;
  std::int64_t seen = 0;
  for (std::int64_t begin = 0; begin < count; begin += batch) {
    std::vector<std::int64_t> ids;
    for (std::int64_t i = begin; i < std::min(count, begin + batch); ++i) ids.push_back(i * total / count);
    const Tensor window = models::kdv_windows(valid, ids, DType::Float32).to(device);
    sum += model.loss(window).item() * static_cast<double>(ids.size());
    seen += static_cast<std::int64_t>(ids.size());
  }
  model.train();
  return sum / static_cast<double>(seen);
}

std::vector<double> frames_of(const Tensor& frames, std::int64_t trajectory) {
  return frames.select(0, trajectory).to(DType::Float64).contiguous().to_vector<double>();
}

int train(const TrainSettings& s, const tools::CommandLine& cli) {
  const KdvTrainingPreset preset = resolve_preset(s);
  const tools::RunScope scope(s.run);
  const Device device = scope.device;
  // Under mpirun each rank computes its share of every global batch (tools/README.md).
  const tools::BatchShare share = scope.batch_share(cli, preset.batch);
  // Rank 0 makes the cache; the other ranks read it once it is complete.
  if (!scope.is_main()) scope.process_group->barrier();
  const KdvData train_data = cached_split(cli, s, "train", 0, preset.train_trajectories);
  const KdvData valid_data = cached_split(cli, s, "valid", 1, preset.valid_trajectories);
  const KdvData test_data = cached_split(cli, s, "test", 2, preset.test_trajectories);
  if (scope.is_main()) scope.process_group->barrier();
  Generator generator(s.seed + 1);
  std::shared_ptr<models::KdvModel> model = make_model(s, &generator);
  model->to(device);
  nn::Adam optimizer(model->parameters(), nn::AdamOptions(preset.lr).betas({0.9, preset.adam_beta2}));
  nn::ReduceLROnPlateau plateau(
      optimizer, nn::ReduceLROnPlateauOptions().factor(preset.plateau_factor).patience(preset.plateau_patience));
  const bool on_plateau = preset.schedule == models::KdvLrSchedule::Plateau;
  // The cosine schedule's lr is a function of the step alone, so only the plateau has a state to save.
  nn::TrainingState state{.model = model.get(), .optimizer = &optimizer, .scheduler = on_plateau ? &plateau : nullptr,
                          .generator = &generator, .metadata = {}};
  // Validation: at every plateau check, or 20 times in a cosine run (loss.csv's validation_loss).
  const std::int64_t validate_every =
      on_plateau ? std::max<std::int64_t>(1, preset.plateau_every) : std::max<std::int64_t>(1, preset.iterations / 20);
  const std::map<std::string, std::string> identity = {
      {"model", s.model},
      {"preset", s.preset},
      {"set", s.set},
      {"seed", std::to_string(s.seed)},
      {"data-seed", std::to_string(s.data_seed)},
      {"iterations", std::to_string(preset.iterations)},
      {"batch", std::to_string(preset.batch)},
      {"lr", fmt::format("{}", preset.lr)},
      {"train-trajectories", std::to_string(preset.train_trajectories)},
  };

  const std::int64_t windows = models::kdv_window_count(train_data);
  const std::int64_t steps_per_epoch = std::max<std::int64_t>(1, windows / preset.batch);
  std::printf("mech-kdv: %s (%s preset), %lld parameters on %s; %ld/%ld/%ld train/valid/test trajectories, "
              "%lld windows, batch %ld, %lld iterations per epoch\n",
              s.model.c_str(), s.preset.c_str(), static_cast<long long>(model->parameter_count()), device.str().c_str(),
              preset.train_trajectories, preset.valid_trajectories, preset.test_trajectories,
              static_cast<long long>(windows), preset.batch, static_cast<long long>(steps_per_epoch));
  std::fflush(stdout);

  tools::TrainingLog log(cli, s.run, state, identity, preset.iterations, "train", "iteration,loss,validation_loss,lr");
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::int64_t> order;
  std::int64_t order_epoch = -1;
  double last_validation = NAN;
  model->train();
  const std::int64_t last_step = s.stop_at > 0 ? std::min<std::int64_t>(s.stop_at, preset.iterations) : preset.iterations;
  while (state.step < last_step) {
    const std::int64_t epoch = state.step / steps_per_epoch, position = state.step % steps_per_epoch;
    if (epoch != order_epoch) order = epoch_order(windows, s.seed, epoch), order_epoch = epoch;
    const auto batch_begin = order.begin() + position * preset.batch;
    const std::vector<std::int64_t> ids(batch_begin + share.begin, batch_begin + share.end);
    const Tensor window = models::kdv_windows(train_data, ids, DType::Float32).to(device);
    if (!on_plateau) optimizer.set_lr(preset.lr_at(state.step));
    optimizer.zero_grad();
    Tensor loss = model->loss(window);
    loss.backward();
    const double norm = preset.clip_norm > 0 ? nn::clip_grad_norm_(model->parameters(), preset.clip_norm)
                                             : tools::gradient_norm(model->parameters());
    optimizer.step();
    const bool validate = (state.step + 1) % validate_every == 0 || state.step + 1 == preset.iterations;
    std::string validation_text;
    if (validate) {
      last_validation = validation_loss(*model, valid_data, kValidationWindows, preset.batch, device);
      if (on_plateau) plateau.step(last_validation);
      validation_text = fmt::format("{:.9g}", last_validation);
    }
    const std::string note = std::isnan(last_validation)
                                 ? fmt::format("lr {:.2g} |grad| {:.3g}", optimizer.lr(), norm)
                                 : fmt::format("lr {:.2g} |grad| {:.3g} val {:.3g}", optimizer.lr(), norm, last_validation);
    const double mean_loss = log.mean_over_ranks(loss.item());  // the global batch's loss
    log.step_done(mean_loss, note, fmt::format("{},{:.9g},{},{:.6g}", state.step, mean_loss, validation_text, optimizer.lr()));
  }
  if (state.step < preset.iterations) {  // stopped early by --stop-at
    log.save_checkpoint();
    log.finish();
    std::printf("stopped at iteration %lld of %lld by --stop-at; continue with --resume\n",
                static_cast<long long>(state.step), static_cast<long long>(preset.iterations));
    return 0;
  }
  log.finish();
  if (!scope.is_main()) return 0;  // the ranks hold the same model: rank 0 evaluates and writes
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::int64_t trained = state.step - log.first_step();
  const double per_iteration = trained > 0 ? train_seconds / static_cast<double>(trained) : NAN;

  // Rollout from the first 10 true frames of every test trajectory.
  const auto rollout_started = std::chrono::steady_clock::now();
  const Tensor initial = test_data.u.slice(1, 0, models::kKdvInputFrames).to(DType::Float32).to(device);
  const Tensor predicted = models::kdv_rollout(*model, initial, kRolloutFrames).to(Device::cpu()).to(DType::Float64);
  const double rollout_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - rollout_started).count();
  const Tensor truth = test_data.u.slice(1, models::kKdvInputFrames, models::kKdvInputFrames + kRolloutFrames);
  const Tensor last_input = test_data.u.slice(1, models::kKdvInputFrames - 1, models::kKdvInputFrames);
  const Tensor persistence = last_input.expand({-1, kRolloutFrames, -1}).contiguous();

  std::string metrics = "model,frames,nmse\n";
  std::printf("rollout NMSE on %ld test trajectories (%.1f s):\n  frames  %12s  %12s\n", preset.test_trajectories,
              rollout_seconds, s.model.c_str(), "persistence");
  double model_at_100 = NAN;
  for (std::int64_t frames : kScoredFrames) {
    const double model_nmse = models::kdv_nmse(predicted, truth, frames);
    const double persistence_nmse = models::kdv_nmse(persistence, truth, frames);
    metrics += fmt::format("{},{},{:.9g}\n", s.model, frames, model_nmse);
    metrics += fmt::format("persistence,{},{:.9g}\n", frames, persistence_nmse);
    std::printf("  %6lld  %12.4g  %12.4g\n", static_cast<long long>(frames), model_nmse, persistence_nmse);
    if (frames == kRolloutFrames) model_at_100 = model_nmse;
  }
  std::printf("training: %lld iterations in %.1f s (%.3f s/iteration, %.1f s per epoch of %lld iterations)\n",
              static_cast<long long>(trained), train_seconds, per_iteration,
              per_iteration * static_cast<double>(steps_per_epoch), static_cast<long long>(steps_per_epoch));

  // Per trajectory: the mean over trajectories hides which ones carry the error (on the demo data
  // a handful of tall, fast waves carry most of every model's NMSE@100).
  std::string per_trajectory = "trajectory,max_abs_u";
  for (std::int64_t frames : kScoredFrames) per_trajectory += fmt::format(",{}_nmse_{}", s.model, frames);
  for (std::int64_t frames : kScoredFrames) per_trajectory += fmt::format(",persistence_nmse_{}", frames);
  per_trajectory += "\n";
  for (std::int64_t n = 0; n < truth.size(0); ++n) {
    const Tensor truth_n = truth.slice(0, n, n + 1);
    double largest = 0;
    for (double value : truth_n.contiguous().to_vector<double>()) largest = std::max(largest, std::abs(value));
    per_trajectory += fmt::format("{},{:.6g}", n, largest);
    for (const Tensor& forecast : {predicted, persistence})
      for (std::int64_t frames : kScoredFrames)
        per_trajectory += fmt::format(",{:.6g}", models::kdv_nmse(forecast.slice(0, n, n + 1), truth_n, frames));
    per_trajectory += "\n";
  }
  write_file_atomically(s.run.out_dir + "/metrics.csv", metrics);
  write_file_atomically(s.run.out_dir + "/trajectories.csv", per_trajectory);
  write_file_atomically(s.run.out_dir + "/loss.csv", log.csv());
  const std::vector<double> truth_frames = frames_of(truth, 0), predicted_frames = frames_of(predicted, 0);
  std::vector<double> error(truth_frames.size());
  for (std::size_t i = 0; i < error.size(); ++i) error[i] = predicted_frames[i] - truth_frames[i];
  const std::int64_t points = truth.shape()[2];
  double magnitude = 0;
  for (double value : truth_frames) magnitude = std::max(magnitude, std::abs(value));
  tools::save_heatmaps(
      s.run.out_dir + "/rollout.svg",
      fmt::format("mech-kdv {}: rollout of test trajectory 0, frames 10-109 (NMSE@100 over the test split {:.3g})",
                  s.model, model_at_100),
      {{.title = "truth u", .rows = kRolloutFrames, .columns = points, .values = truth_frames, .low = -magnitude, .high = magnitude},
       {.title = "prediction", .rows = kRolloutFrames, .columns = points, .values = predicted_frames, .low = -magnitude, .high = magnitude},
       {.title = "prediction - truth", .rows = kRolloutFrames, .columns = points, .values = error}},
      "x (grid point)", "frame");
  std::printf("wrote %s/metrics.csv, trajectories.csv, rollout.svg, loss.csv, checkpoint.safetensors\n",
              s.run.out_dir.c_str());
  return 0;
}

int train_main(int argc, char** argv) {
  TrainSettings s;
  tools::CommandLine cli("mech-kdv train",
                         "Train a KdV forecaster (mnn: the paper's Mechanistic Neural Network; resnet, fno: direct\n"
                         "baselines) on generated data, roll it out 100 frames on the test split and score it.\n"
                         "Exit status: 0 on success, 1 on an error during the run, 2 on bad options or data.");
  cli.add_choice("model", &s.model, {"mnn", "resnet", "fno"}, "the forecaster");
  cli.add_choice("preset", &s.preset, {"demo", "paper"},
                 "demo: small data and networks, minutes on 2 CPU cores; paper: the paper's configuration (for a GPU)");
  cli.add_choice("set", &s.set, {"easy", "default"}, "the data set (models/README.md)");
  cli.add("seed", &s.seed, "seed of the initial weights and the minibatch order");
  cli.add("data-seed", &s.data_seed, "seed of the data: the splits use data-seed*3 + 0, 1, 2");
  cli.add("data-dir", &s.data_dir, "cache folder for the generated splits (reused when present)");
  cli.add("iterations", &s.iterations, "Adam steps (0: the preset's)");
  cli.add("batch", &s.batch, "windows per minibatch (0: the preset's)");
  cli.add("lr", &s.lr, "initial learning rate (0: the preset's)");
  cli.add("train-trajectories", &s.train_trajectories, "training trajectories (0: the preset's)");
  cli.add("valid-trajectories", &s.valid_trajectories, "validation trajectories (0: the preset's)");
  cli.add("test-trajectories", &s.test_trajectories, "test trajectories (0: the preset's)");
  cli.add("stop-at", &s.stop_at, "stop after this many iterations with a checkpoint, as if interrupted (0: never)");
  tools::add_run_options(cli, s.run, "metrics.csv, trajectories.csv, rollout.svg, loss.csv");
  cli.parse_or_exit(argc, argv);
  for (const auto& [name, value] : std::vector<std::pair<std::string, long>>{
           {"iterations", s.iterations}, {"batch", s.batch}, {"train-trajectories", s.train_trajectories},
           {"valid-trajectories", s.valid_trajectories}, {"test-trajectories", s.test_trajectories},
           {"stop-at", s.stop_at}})
    if (value < 0) cli.fail(fmt::format("--{} {} must be >= 0 (0: the preset's value)", name, value));
  if (s.lr < 0 || !std::isfinite(s.lr)) cli.fail(fmt::format("--lr {} must be a positive number (0: the preset's)", s.lr));
  const KdvTrainingPreset preset = resolve_preset(s);
  const long windows = (models::KdvRecipe{}.stored_times - models::kKdvWindowFrames + 1) * preset.train_trajectories;
  if (preset.batch > windows) cli.fail(fmt::format("--batch {} exceeds the {} training windows", preset.batch, windows));
  tools::check_run_options(cli, s.run);
  // Before any data is generated: a --resume without its checkpoint is a bad option.
  if (s.run.resume && !std::filesystem::exists(s.run.checkpoint_path()))
    cli.fail(fmt::format("--resume: no checkpoint at {}", s.run.checkpoint_path()));
  tools::prepare_output_directory(cli, "--data-dir", s.data_dir);
  return tools::run_reporting_errors(cli, [&] { return train(s, cli); });
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "usage: mech-kdv generate --count N --seed S --out-dir DIR [--set easy|default]\n"
      "       mech-kdv train --model mnn|resnet|fno --seed S --out-dir DIR [--preset demo|paper] [--device cpu|cuda] ...\n"
      "       mech-kdv generate --help | mech-kdv train --help  (every option)\n";
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "generate") return generate_main(argc - 1, argv + 1);
  if (command == "train") return train_main(argc - 1, argv + 1);
  if (command == "--help" || command == "-h") {
    std::printf("%s", usage.c_str());
    return 0;
  }
  std::fprintf(stderr, "mech-kdv: %s (mech-kdv --help shows the usage)\n",
               command.empty() ? "a command is required: generate or train"
                               : fmt::format("unknown command '{}': expected generate or train", command).c_str());
  return 2;
}
