// What the training drivers (mech-fit-sine, mech-logistic, mech-two-body, mech-lorenz, mech-mlp)
// share around the loop each of them writes out itself: the run options they all take (--device
// --threads --checkpoint-every --anomaly --resume --quiet --out-dir) with their checks, and the
// bookkeeping of an optimiser step (the loss log for loss.csv, the progress bar, a checkpoint every
// --checkpoint-every steps and at the last one).
//
//   tools::add_run_options(cli, s.run, "fit.svg, loss.csv, summary.txt");
//   cli.parse_or_exit(argc, argv);
//   ... the driver's own checks ...
//   tools::check_run_options(cli, s.run);          // exit 2 on a bad value; creates --out-dir
//   return tools::run_reporting_errors(cli, [&] { return run(s, cli); });
//
//   tools::RunScope scope(s.run);                  // threads, anomaly mode; scope.device
//   tools::TrainingLog log(cli, s.run, state, identity, s.iterations, "train");  // resumes
//   while (state.step < s.iterations)
//     log.train_step(optimizer, &scheduler, model.parameters(), [&] { return model.loss(batch()); });
//   log.finish();
//   write_file_atomically(s.run.out_dir + "/loss.csv", log.csv());
//
// Under mpirun -np N the same driver trains data-parallel (tools/README.md): RunScope joins the
// ranks (init_process_group("auto"), the default group), TrainingLog wraps the model in
// nn::DistributedDataParallel after --resume has loaded it, and the driver computes only its
// scope.batch_share(batch) of each global batch. Rank 0 alone shows progress, saves checkpoints
// and writes outputs (the other ranks' stdout is discarded); the loss logged is the mean over
// the ranks, i.e. the global batch's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "autograd/anomaly.h"
#include "core/dtype.h"
#include "core/process_group.h"
#include "core/tensor.h"
#include "nn/checkpoint.h"
#include "nn/distributed.h"
#include "nn/scheduler.h"
#include "tools/common/cli.h"
#include "tools/common/progress.h"

namespace mech::tools {

struct RunOptions {
  std::string device = "cpu";
  // One thread: the drivers' models are small (per step, all threads on a busy 2-core machine
  // measured 50-90x slower).
  int threads = 1;
  long checkpoint_every = 500;
  bool resume = false;
  bool anomaly = false;
  bool quiet = false;  // no progress bar, only its final line
  std::string out_dir;

  std::string checkpoint_path() const { return out_dir + "/checkpoint.safetensors"; }
};

// Registers --device --threads --checkpoint-every --anomaly --resume --quiet --out-dir under the
// "Run options" heading of --help; `outputs` names what the driver writes besides the checkpoint
// (for --out-dir's help).
void add_run_options(CommandLine& cli, RunOptions& run, const std::string& outputs);

// After parsing: exits 2 with one line on a bad value or an unavailable device, and creates
// --out-dir (proving it writable) before any training time is spent.
void check_run_options(const CommandLine& cli, const RunOptions& run);

// Keeps freed memory in the process for reuse (glibc's mmap and trim thresholds raised), as a
// training loop wants: RunScope calls it; so do the benchmarks of whole training steps.
void keep_freed_memory();

// Rows [begin, end) of a global batch: what this rank computes.
struct BatchShare {
  long begin = 0;
  long end = 0;
  long size() const { return end - begin; }
  bool contains(long row) const { return row >= begin && row < end; }
};

// For the length of a run: the thread count and anomaly mode of `run`, its ranks and its device.
// It also keeps freed memory in the process for reuse (glibc's trim and mmap thresholds raised).
class RunScope {
 public:
  explicit RunScope(const RunOptions& run);
  // One rank without mpirun; the group is also the default process group while the scope lives.
  const std::shared_ptr<ProcessGroup> process_group;
  // With several ranks on CUDA: this rank's GPU (its local rank).
  const Device device;

  bool is_main() const { return process_group->is_main(); }
  // This rank's equal share of a global batch of `batch` items, in rank order; a batch the ranks
  // cannot split equally exits 2 with one line naming --batch (equal shares make the mean of the
  // ranks' mean losses the mean loss of the whole batch).
  BatchShare batch_share(const CommandLine& cli, long batch) const;

 private:
  std::optional<AnomalyGuard> anomaly_mode_;  // names the first op whose output or gradient holds NaN/Inf
};

// The bookkeeping of a training loop; `state` (model, optimizer, ...) is the driver's. With
// --resume the checkpoint is loaded first (tools::resume_or_exit: the settings in `identity` must
// match), and the loss log continues from the saved one. `csv_header` names loss.csv's columns:
// the default rows are "iteration,loss"; a driver with other columns writes its own rows
// (step_done's `csv_row`).
class TrainingLog {
 public:
  TrainingLog(const CommandLine& cli, const RunOptions& run, nn::TrainingState& state,
              std::map<std::string, std::string> identity, std::int64_t iterations, const std::string& label,
              std::string csv_header = "iteration,loss");

  // After an optimiser step: counts it, appends `loss` to the log, updates the bar (with `note`)
  // and saves the checkpoint when it is due.
  void step_done(double loss, const std::string& note);
  // The same with the driver's own loss.csv row (without the line break).
  void step_done(double loss, const std::string& note, const std::string& csv_row);
  // One whole step: zero_grad, `compute_loss`, backward, optimizer.step(), scheduler->step() (when
  // there is one), then step_done with the gradient norm (and the learning rate when scheduled) as
  // the bar's note. A scheduler with another step() signature (ReduceLROnPlateau) takes the
  // separate calls.
  void train_step(nn::Optimizer& optimizer, nn::StepLR* scheduler, const std::vector<Tensor>& parameters,
                  const std::function<Tensor()>& compute_loss);
  // Saves the checkpoint now (a run that stops before `iterations`, e.g. mech-lorenz --stop-at).
  void save_checkpoint();
  // Ends the progress bar: the driver prints its results after this.
  void finish() { bar_.reset(); }
  // The mean of `value` over the ranks (itself on one process): a loss computed on this rank's
  // share, for a driver that logs through step_done itself.
  double mean_over_ranks(double value) const;
  // The data-parallel wrapper of state.model when the run has several ranks (null otherwise).
  const nn::DistributedDataParallel* data_parallel() const { return data_parallel_.get(); }

  std::int64_t first_step() const { return first_step_; }
  // The header and the rows of every step, resumed ones included.
  const std::string& csv() const { return loss_log_; }

 private:
  void advance(double loss, const std::string& note);
  Device scalar_device() const;  // where a scalar for the process group lives

  const RunOptions& run_;
  nn::TrainingState& state_;
  std::map<std::string, std::string> identity_;
  std::int64_t iterations_;
  std::string loss_log_;
  std::int64_t first_step_ = 0;
  std::optional<ProgressBar> bar_;
  std::shared_ptr<ProcessGroup> process_group_;
  std::unique_ptr<nn::DistributedDataParallel> data_parallel_;
};

}  // namespace mech::tools
