// The run options and training-loop bookkeeping shared by the training drivers (training_run.h).
#include "tools/common/training_run.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

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
  cli.add("threads", &run.threads, "CPU threads (0: all cores, shared among the ranks on this machine)");
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

// A training loop frees and allocates the same buffers every step. glibc gives the free top of its
// heap back to the kernel once more than 128 KiB of it is free, and serves blocks from 128 KiB
// up with fresh mappings until its adaptive threshold has seen them, so every step faulted its
// buffers in again: 3000 steps of mech-logistic at batch 64 took 156k page faults (0.5-0.6 s of
// system time) as one process and up to 281k per rank under mpirun. A driver owns its process,
// so it keeps freed memory for reuse: blocks up to 32 MiB come from the heap, and the heap shrinks
// only past 512 MiB free (28k faults, 0.12 s; 2 ranks: 1.1-1.5 s of system time, from 2.8-2.9).
// The library itself leaves the allocator alone: an application that embeds it decides.
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

namespace {

std::shared_ptr<ProcessGroup> join_ranks(const RunOptions& run) {
  if (run.threads > 0) set_num_threads(run.threads);
  auto group = init_process_group("auto", Device::parse(run.device));
  set_default_process_group(group);
  // Every rank runs the same program: one copy of its report is enough. Errors stay on stderr.
  if (!group->is_main()) [[maybe_unused]] std::FILE* discarded = std::freopen("/dev/null", "w", stdout);
  return group;
}

Device device_of(const RunOptions& run, const ProcessGroup& group) {
  const Device device = Device::parse(run.device);
  if (device.is_cuda() && group.world_size() > 1 && run.device == "cuda") return Device::cuda(group.local_rank());
  return device;
}

}  // namespace

RunScope::RunScope(const RunOptions& run) : process_group(join_ranks(run)), device(device_of(run, *process_group)) {
  keep_freed_memory();
  if (run.anomaly) anomaly_mode_.emplace();
}

BatchShare RunScope::batch_share(const CommandLine& cli, long batch) const {
  const long ranks = process_group->world_size();
  if (batch % ranks != 0)
    cli.fail(fmt::format("--batch {} cannot be split equally over {} processes: use a multiple of {} (--batch is "
                         "the global batch)",
                         batch, ranks, ranks));
  const long share = batch / ranks;
  return {process_group->rank() * share, (process_group->rank() + 1) * share};
}

TrainingLog::TrainingLog(const CommandLine& cli, const RunOptions& run, nn::TrainingState& state,
                         std::map<std::string, std::string> identity, std::int64_t iterations,
                         const std::string& label, std::string csv_header)
    : run_(run), state_(state), identity_(std::move(identity)), iterations_(iterations),
      loss_log_(std::move(csv_header) + "\n") {
  if (run.resume) loss_log_ = resume_or_exit(cli, run.checkpoint_path(), state, identity_, loss_log_);
  first_step_ = state.step;
  process_group_ = default_process_group();
  if (process_group_->world_size() > 1 && state.model != nullptr)
    data_parallel_ = std::make_unique<nn::DistributedDataParallel>(*state.model, process_group_);
  const long total = static_cast<long>(std::max<std::int64_t>(0, iterations - first_step_));
  if (!process_group_->is_main()) return;  // rank 0 alone shows progress
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

Device TrainingLog::scalar_device() const {
  // NCCL reduces only this rank's GPU tensors; MPI takes host ones.
  return process_group_->backend_name() == "nccl" ? Device::cuda(process_group_->local_rank()) : Device::cpu();
}

double TrainingLog::mean_over_ranks(double value) const {
  if (process_group_->world_size() == 1) return value;
  Tensor mean = full({1}, value, TensorOptions().dtype(DType::Float64).device(scalar_device()));
  process_group_->allreduce(mean, ReduceOp::Average).wait();
  return mean.item();
}

void TrainingLog::save_checkpoint() {
  if (!process_group_->is_main()) return;  // the ranks hold the same state; one writes it
  state_.metadata = identity_;
  state_.metadata["loss-log"] = loss_log_;
  nn::save_checkpoint(run_.checkpoint_path(), state_);
}

void TrainingLog::train_step(nn::Optimizer& optimizer, nn::StepLR* scheduler,
                             const std::vector<Tensor>& parameters, const std::function<Tensor()>& compute_loss) {
  optimizer.zero_grad();
  Tensor loss = compute_loss();
  // The loss's mean over the ranks travels while backward runs: one wait per step, not two.
  Tensor mean = full({1}, loss.item(), TensorOptions().dtype(DType::Float64).device(scalar_device()));
  Work loss_work = process_group_->allreduce(mean, ReduceOp::Average);
  loss.backward();
  const double norm = gradient_norm(parameters);  // of the averaged gradients: the same on every rank
  optimizer.step();
  loss_work.wait();
  const double mean_loss = mean.item();
  if (scheduler == nullptr) {
    step_done(mean_loss, fmt::format("|grad| {:.3g}", norm));
    return;
  }
  scheduler->step();
  step_done(mean_loss, fmt::format("lr {:.2g} |grad| {:.3g}", optimizer.lr(), norm));
}

}  // namespace mech::tools
