// Output-folder and checkpoint checks of the training drivers (exit status 2 on bad input) and the
// gradient-norm report.
#include "tools/common/driver_checks.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>

#include <fmt/format.h>

#include "autograd/anomaly.h"
#include "core/error.h"
#include "nn/clip_grad.h"

namespace mech::tools {

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  for (char& character : text)
    if (character == '\n' || character == '\r') character = ' ';
  return text;
}

void prepare_output_directory(const CommandLine& cli, const std::string& option, const std::string& directory) {
  if (directory.empty()) cli.fail(fmt::format("{} must name a folder, got an empty value", option));
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) cli.fail(fmt::format("{} {}: cannot create the folder: {}", option, directory, error.message()));
  if (!std::filesystem::is_directory(directory, error))
    cli.fail(fmt::format("{} {}: exists and is not a folder", option, directory));
  // Creating the folder can succeed where writing in it fails (read-only mounts, permissions):
  // a probe file finds out now rather than after the training run.
  const std::filesystem::path probe =
      std::filesystem::path(directory) / fmt::format(".mech-write-probe-{}", static_cast<long>(::getpid()));
  {
    std::ofstream file(probe);
    file << "probe\n";
    file.flush();
    if (!file) cli.fail(fmt::format("{} {}: the folder is not writable", option, directory));
  }
  std::filesystem::remove(probe, error);
}

void load_checkpoint_or_exit(const CommandLine& cli, const std::string& path, nn::TrainingState& state) {
  auto refuse = [&](const std::string& why) {
    std::fprintf(stderr, "%s: --resume: cannot load the checkpoint %s: %s\n", cli.program().c_str(), path.c_str(),
                 one_line(why).c_str());
    std::exit(2);
  };
  try {
    nn::load_checkpoint(path, state);
  } catch (const std::exception& error) {
    refuse(error.what());
  }
  // A checksum only proves the bytes are the ones saved; a run that diverged saves NaN weights
  // faithfully, and continuing from them would only produce NaN losses.
  if (state.model != nullptr)
    for (const auto& [name, parameter] : state.model->named_parameters())
      if (!all_finite(parameter)) refuse(fmt::format("parameter '{}' holds NaN or Inf", name));
}

std::string resume_or_exit(const CommandLine& cli, const std::string& path, nn::TrainingState& state,
                           const std::map<std::string, std::string>& identity, const std::string& loss_log) {
  const char* program = cli.program().c_str();
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "%s: --resume: no checkpoint at %s\n", program, path.c_str());
    std::exit(2);
  }
  load_checkpoint_or_exit(cli, path, state);
  for (const auto& [key, value] : identity) {
    auto found = state.metadata.find(key);
    if (found == state.metadata.end() || found->second != value) {
      std::fprintf(stderr, "%s: --resume: %s was saved with --%s %s, this run has %s\n", program, path.c_str(),
                   key.c_str(), found == state.metadata.end() ? "(unset)" : found->second.c_str(), value.c_str());
      std::exit(2);
    }
  }
  std::printf("resumed from %s at iteration %lld\n", path.c_str(), static_cast<long long>(state.step));
  auto saved_log = state.metadata.find("loss-log");
  return saved_log != state.metadata.end() ? saved_log->second : loss_log;
}

int run_reporting_errors(const CommandLine& cli, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", cli.program().c_str(), one_line(error.what()).c_str());
    return 1;
  }
}

double gradient_norm(const std::vector<Tensor>& parameters) {
  // An infinite max_norm never rescales, so clip_grad_norm_ only measures.
  return nn::clip_grad_norm_(parameters, std::numeric_limits<double>::infinity());
}

}  // namespace mech::tools
