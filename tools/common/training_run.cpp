// The run options and training-loop bookkeeping shared by the training drivers (training_run.h).
#include "tools/common/training_run.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/parallel.h"
#include "cuda/backend.h"
#include "nn/optimizer.h"
#include "nn/scheduler.h"
#include "tools/common/driver_checks.h"

namespace mech::tools {

void add_run_options(CommandLine& cli, RunOptions& run, const std::string& outputs) {
  cli.begin_section("Run options (the same in every training driver)");
  cli.add_choice("device", &run.device, {"cpu", "cuda"}, "where the model runs, NeuRLP solves included");
  cli.add("threads", &run.threads, "CPU threads (0: all cores; small models run fastest on one)");
  cli.add("checkpoint-every", &run.checkpoint_every, "save <out-dir>/checkpoint.safetensors every this many steps");
  cli.add("anomaly", &run.anomaly,
          "check every op's outputs and gradients for NaN/Inf and name the first op producing one (slower)");
  cli.add("resume", &run.resume, "continue from <out-dir>/checkpoint.safetensors");
  cli.add("quiet", &run.quiet, "no progress bar, only its final line");
  cli.add("out-dir", &run.out_dir, fmt::format("directory for {} and the checkpoint", outputs));
}

void check_run_options(const CommandLine& cli, const RunOptions& run) {
  if (run.threads < 0) cli.fail(fmt::format("--threads {} must be >= 0", run.threads));
  if (run.checkpoint_every <= 0)
    cli.fail(fmt::format("--checkpoint-every {} must be positive", run.checkpoint_every));
  if (run.device == "cuda" && !cuda::is_available())
    cli.fail(fmt::format("--device cuda: no CUDA device is available ({}); use --device cpu", cuda::availability()));
  prepare_output_directory(cli, "--out-dir", run.out_dir);
}

namespace {

Device set_up(const RunOptions& run) {
  if (run.threads > 0) set_num_threads(run.threads);
  return Device::parse(run.device);
}

}  // namespace

RunScope::RunScope(const RunOptions& run) : device(set_up(run)) {
  if (run.anomaly) anomaly_mode_.emplace();
}

TrainingLog::TrainingLog(const CommandLine& cli, const RunOptions& run, nn::TrainingState& state,
                         std::map<std::string, std::string> identity, std::int64_t iterations,
                         const std::string& label, std::string csv_header)
    : run_(run), state_(state), identity_(std::move(identity)), iterations_(iterations),
      loss_log_(std::move(csv_header) + "\n") {
  if (run.resume) loss_log_ = resume_or_exit(cli, run.checkpoint_path(), state, identity_, loss_log_);
  first_step_ = state.step;
  const long total = static_cast<long>(std::max<std::int64_t>(0, iterations - first_step_));
  if (run.quiet) {
    bar_.emplace(total, label, stderr, ProgressBar::Mode::Lines);
    bar_->set_min_interval(1e9);  // nothing but the final line
  } else {
    bar_.emplace(total, label);
  }
}

void TrainingLog::step_done(double loss, const std::string& note) {
  loss_log_ += fmt::format("{},{:.9g}\n", state_.step + 1, loss);
  advance(loss, note);
}

void TrainingLog::step_done(double loss, const std::string& note, const std::string& csv_row) {
  loss_log_ += csv_row;
  loss_log_ += '\n';
  advance(loss, note);
}

void TrainingLog::advance(double loss, const std::string& note) {
  ++state_.step;
  if (bar_) bar_->update(static_cast<long>(state_.step - first_step_), loss, note);
  if (state_.step % run_.checkpoint_every == 0 || state_.step == iterations_) save_checkpoint();
}

void TrainingLog::save_checkpoint() {
  state_.metadata = identity_;
  state_.metadata["loss-log"] = loss_log_;
  nn::save_checkpoint(run_.checkpoint_path(), state_);
}

void TrainingLog::train_step(nn::Optimizer& optimizer, nn::StepLR* scheduler,
                             const std::vector<Tensor>& parameters, const std::function<Tensor()>& compute_loss) {
  optimizer.zero_grad();
  Tensor loss = compute_loss();
  loss.backward();
  const double norm = gradient_norm(parameters);
  optimizer.step();
  if (scheduler == nullptr) {
    step_done(loss.item(), fmt::format("|grad| {:.3g}", norm));
    return;
  }
  scheduler->step();
  step_done(loss.item(), fmt::format("lr {:.2g} |grad| {:.3g}", optimizer.lr(), norm));
}

}  // namespace mech::tools
