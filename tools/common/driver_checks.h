// Checks the training drivers share so that bad input ends the program with exit status 2 and one
// line naming the problem before any training time is spent: an output folder that cannot be
// created or written, a checkpoint that cannot be loaded (missing, truncated, corrupt, from a run
// with other shapes) or holds non-finite parameters; an error during the run ends it with exit
// status 1 and one line. Also the gradient-norm report of the progress bar.
//
//   mech::tools::prepare_output_directory(cli, "--out-dir", s.out_dir);     // before training
//   mech::tools::load_checkpoint_or_exit(cli, checkpoint, state);          // for --resume
//   loss_log = mech::tools::resume_or_exit(cli, checkpoint, state, identity, loss_log);
//   return mech::tools::run_reporting_errors(cli, [&] { return run(s); });  // main's last line
//   bar.update(step, loss, fmt::format("|g| {:.3g}", mech::tools::gradient_norm(model.parameters())));
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/checkpoint.h"
#include "tools/common/cli.h"

namespace mech::tools {

// Creates `directory` (and its parents) and proves it writable by creating and removing a small
// file in it; on failure exits 2 with "program: <option> <directory>: <why>". An empty name is
// refused too.
void prepare_output_directory(const CommandLine& cli, const std::string& option, const std::string& directory);

// nn::load_checkpoint, but any failure (and a parameter holding NaN or Inf after loading) exits
// 2 with one line naming the file and the problem.
void load_checkpoint_or_exit(const CommandLine& cli, const std::string& path, nn::TrainingState& state);

// --resume for a driver: the checkpoint must exist and load (load_checkpoint_or_exit), and every
// setting in `identity` (option name without "--" -> value) must equal the one saved in its
// metadata, else exit 2 with one line naming the file and the setting. Prints "resumed from
// <path> at iteration N" and returns the saved "loss-log" metadata, or `loss_log` when none.
std::string resume_or_exit(const CommandLine& cli, const std::string& path, nn::TrainingState& state,
                           const std::map<std::string, std::string>& identity, const std::string& loss_log);

// The total L2 norm of the parameters' gradients (those without one ignored), in float64; the
// gradients are not changed. NaN or Inf when a gradient holds one.
double gradient_norm(const std::vector<Tensor>& parameters);

// For main(): runs `body` and returns its exit status; an exception it throws ends the program
// with one line "program: what" on stderr and exit status 1 (bad options have exited 2 before).
int run_reporting_errors(const CommandLine& cli, const std::function<int()>& body);

// `text` with line breaks replaced by spaces: error messages end up on one stderr line.
std::string one_line(std::string text);

}  // namespace mech::tools
