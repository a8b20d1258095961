// The training drivers under mpiexec (built with MPI only): two ranks train what one process
// trains (same loss curve to rounding, same held-out figures), rank 0 alone writes, a checkpoint
// resumes with another rank count, and a global batch the ranks cannot share is a bad option.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "tools/program_run.h"

namespace {

#ifdef MECH_MPIEXEC
using mech::tool_test::read_text;
using mech::tool_test::run_program;

// `ranks` copies of `command_line` (a program in MECH_BIN_DIR and its arguments) under mpiexec.
// OpenMPI's own allocations leak at exit: leak reports are off for these runs alone.
int run_ranks(int ranks, const std::string& command_line, std::string* output = nullptr) {
  const auto log = std::filesystem::temp_directory_path() / ("mech_test_mpiexec_" + std::to_string(::getpid()));
  const std::string command = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 " +
                              std::string(MECH_MPIEXEC) + " -n " + std::to_string(ranks) + " --oversubscribe " +
                              MECH_BIN_DIR + "/" + command_line + " >" + log.string() + " 2>&1";
  const int raw = std::system(command.c_str());
  if (output != nullptr) *output = read_text(log);
  std::filesystem::remove(log);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

std::vector<double> losses(const std::filesystem::path& directory) {
  std::istringstream lines(read_text(directory / "loss.csv"));
  std::string line;
  std::getline(lines, line);  // header
  std::vector<double> values;
  while (std::getline(lines, line)) values.push_back(std::stod(line.substr(line.find(',') + 1)));
  return values;
}

void expect_same_curve(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  // float32 models: the ranks' partial sums round differently from one process's whole sum.
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(b[i])) << "step " << i + 1;
}

std::filesystem::path fresh(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  return path;
}

TEST(DistributedDrivers, TwoRanksTrainTheLogisticModelAsOneProcessAndResumeWithEither) {
  const auto single = fresh("mech_test_ddp_single"), ranks = fresh("mech_test_ddp_ranks");
  const std::string common = "mech-logistic --train-count 32 --test-count 8 --batch 8 --threshold 1 --threads 1 "
                             "--checkpoint-every 6 --quiet ";
  ASSERT_EQ(run_program(common + "--iterations 12 --out-dir " + single.string()).status, 0);
  std::string output;
  ASSERT_EQ(run_ranks(2, common + "--iterations 12 --out-dir " + ranks.string(), &output), 0) << output;
  // Rank 0 alone reports: one copy of the result line.
  const std::string line = "mean relative error on 8 held-out trajectories";
  EXPECT_EQ(output.find(line), output.rfind(line)) << output;
  expect_same_curve(losses(ranks), losses(single));
  // Two ranks for 6 steps, then one process resumes to 12: the same curve again.
  const auto resumed = fresh("mech_test_ddp_resumed");
  ASSERT_EQ(run_ranks(2, common + "--iterations 6 --out-dir " + resumed.string(), &output), 0) << output;
  ASSERT_EQ(run_program(common + "--iterations 12 --resume --out-dir " + resumed.string()).status, 0);
  expect_same_curve(losses(resumed), losses(single));
  for (const auto& path : {single, ranks, resumed}) std::filesystem::remove_all(path);
}

TEST(DistributedDrivers, AGlobalBatchTheRanksCannotShareIsABadOption) {
  const auto directory = fresh("mech_test_ddp_batch");
  std::string output;
  EXPECT_NE(run_ranks(3, "mech-logistic --batch 8 --iterations 1 --out-dir " + directory.string(), &output), 0);
  EXPECT_NE(output.find("--batch 8 cannot be split equally over 3 processes"), std::string::npos) << output;
  std::filesystem::remove_all(directory);
}
#else
TEST(DistributedDrivers, NeedMpi) { GTEST_SKIP() << "mech was built without MPI (MECH_MPI=OFF)"; }
#endif

}  // namespace
