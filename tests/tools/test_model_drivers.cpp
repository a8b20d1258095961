// Runs the model drivers themselves (mech-fit-sine, mech-logistic, mech-two-body, mech-mlp): bad
// options exit 2 with one line, --help lists the options, short runs write well-formed SVGs and summaries, the
// same seed gives the same numbers, and --resume continues a run exactly where a longer run would be.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "cuda/backend.h"
#include "tools/program_run.h"

namespace {

using DriverRun = mech::tool_test::ProgramRun;
const auto slurp = mech::tool_test::read_text;
const auto run_driver = mech::tool_test::run_program;

std::filesystem::path fresh_directory(const std::string& name) {
  std::filesystem::path directory = std::filesystem::temp_directory_path() / (std::string(name) + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  return directory;
}

// key=value lines of a summary.txt.
std::map<std::string, std::string> summary(const std::filesystem::path& directory) {
  std::map<std::string, std::string> values;
  std::istringstream lines(slurp(directory / "summary.txt"));
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find('=');
    if (at != std::string::npos) values[line.substr(0, at)] = line.substr(at + 1);
  }
  return values;
}

// A well-formed picture: the XML prolog, one <svg> root closed at the end, balanced tags.
void expect_svg(const std::filesystem::path& path) {
  std::string text = slurp(path);
  ASSERT_FALSE(text.empty()) << path;
  EXPECT_EQ(text.rfind("<?xml", 0), 0u) << path;
  EXPECT_NE(text.find("<svg"), std::string::npos) << path;
  auto end = text.find_last_not_of(" \n");
  EXPECT_EQ(text.substr(end - 5, 6), "</svg>") << path;
  size_t opened = 0, closed = 0;
  for (size_t at = text.find('<'); at != std::string::npos; at = text.find('<', at + 1)) {
    if (text.compare(at, 2, "<?") == 0 || text.compare(at, 4, "<!--") == 0) continue;
    if (text[at + 1] == '/') {
      ++closed;
    } else if (text[text.find('>', at) - 1] != '/') {
      ++opened;
    }
  }
  EXPECT_EQ(opened, closed) << path;
}

void expect_bad_options_exit_2(const std::string& program, const std::vector<std::string>& arguments) {
  for (const std::string& argument : arguments) {
    DriverRun run = run_driver(program + " " + argument);
    EXPECT_EQ(run.status, 2) << program << " " << argument << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << argument << "\n" << run.err;
    EXPECT_EQ(run.err.rfind(program + ": ", 0), 0u) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
}

TEST(ModelDrivers, BadOptionsExitWithStatus2AndOneLine) {
  expect_bad_options_exit_2("mech-fit-sine", {"--bogus 1", "--noise -1", "--dt 2", "--length 3", "--iterations x",
                                              "--device tpu"});
  // Asking for CUDA where there is none is a bad option too (on a GPU machine it is a valid one).
  if (!mech::cuda::is_available())
    for (const std::string program : {"mech-fit-sine", "mech-logistic", "mech-two-body", "mech-mlp", "mech-lorenz"})
      expect_bad_options_exit_2(program, {"--device cuda"});
  expect_bad_options_exit_2("mech-logistic", {"--bogus", "--batch 0", "--length 5", "--threshold 0", "--dt -1",
                                              "--device tpu"});
  expect_bad_options_exit_2("mech-two-body", {"--window 1", "--horizon 500", "--segment 0", "--noise=-0.1",
                                              "--lr 0", "--device gpu"});
  expect_bad_options_exit_2("mech-mlp", {"--steps 10", "--checkpoint run.safetensors", "--layers 0",
                                         "--activation swish", "--checkpoint-every 0", "--threads -1"});
}

// One option style: every training driver lists its own options, then the same run options under
// one heading, spelled the same way.
TEST(ModelDrivers, HelpExitsZeroAndListsTheOptions) {
  for (const std::string program : {"mech-fit-sine", "mech-logistic", "mech-two-body", "mech-mlp", "mech-lorenz"}) {
    DriverRun run = run_driver(program + " --help");
    EXPECT_EQ(run.status, 0) << program;
    for (const char* fragment : {"--seed", "--lr"})
      EXPECT_NE(run.out.find(fragment), std::string::npos) << program << " lacks " << fragment;
    const auto shared = run.out.find("\nRun options (the same in every training driver):\n");
    ASSERT_NE(shared, std::string::npos) << program << "\n" << run.out;
    for (const char* fragment : {"--device cpu|cuda", "--threads <int>", "--checkpoint-every <int>", "--anomaly",
                                 "--resume", "--quiet", "--out-dir <text>"})
      EXPECT_NE(run.out.find(fragment, shared), std::string::npos) << program << " lacks " << fragment;
  }
}

TEST(ModelDrivers, MlpResumesExactly) {
  auto direct = fresh_directory("mech_test_mlp_direct");
  auto split = fresh_directory("mech_test_mlp_split");
  const std::string common = "mech-mlp --points 64 --batch 16 --checkpoint-every 20 --threads 1 --threshold 10 ";
  ASSERT_EQ(run_driver(common + "--iterations 60 --out-dir " + direct.string()).status, 0);
  ASSERT_EQ(run_driver(common + "--iterations 30 --out-dir " + split.string()).status, 0);
  DriverRun resumed = run_driver(common + "--iterations 60 --resume --out-dir " + split.string());
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resumed from"), std::string::npos);
  EXPECT_EQ(summary(split), summary(direct));
  EXPECT_EQ(slurp(split / "loss.csv"), slurp(direct / "loss.csv"));
  // Another architecture is refused.
  EXPECT_EQ(run_driver(common + "--iterations 70 --hidden 8 --resume --out-dir " + split.string()).status, 2);
  std::filesystem::remove_all(direct);
  std::filesystem::remove_all(split);
}

TEST(ModelDrivers, FitSineWritesItsPictureAndResumesExactly) {
  auto direct = fresh_directory("mech_test_fit_sine_direct");
  auto split = fresh_directory("mech_test_fit_sine_split");
  const std::string common = "mech-fit-sine --length 60 --checkpoint-every 20 --threads 1 ";
  DriverRun run = run_driver(common + "--iterations 80 --out-dir " + direct.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("RMS error of the fit against the clean signal"), std::string::npos) << run.out;
  expect_svg(direct / "fit.svg");
  auto whole = summary(direct);
  ASSERT_TRUE(whole.count("rms_error_clean"));
  // The loss falls: the last logged loss is below the first.
  std::istringstream log(slurp(direct / "loss.csv"));
  std::vector<double> losses;
  std::string line;
  std::getline(log, line);
  EXPECT_EQ(line, "iteration,loss");
  while (std::getline(log, line)) losses.push_back(std::stod(line.substr(line.find(',') + 1)));
  ASSERT_EQ(losses.size(), 80u);
  EXPECT_LT(losses.back(), losses.front() / 2);

  ASSERT_EQ(run_driver(common + "--iterations 40 --out-dir " + split.string()).status, 0);
  DriverRun resumed = run_driver(common + "--iterations 80 --resume --out-dir " + split.string());
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resumed from"), std::string::npos);
  EXPECT_EQ(summary(split), whole);
  EXPECT_EQ(slurp(split / "loss.csv"), slurp(direct / "loss.csv"));
  // A resume with other data settings is refused.
  EXPECT_EQ(run_driver(common + "--iterations 90 --noise 0.2 --resume --out-dir " + split.string()).status, 2);
  std::filesystem::remove_all(direct);
  std::filesystem::remove_all(split);
}

TEST(ModelDrivers, LogisticReportsHeldOutErrorsDeterministically) {
  auto directory = fresh_directory("mech_test_logistic");
  // Too short to reach the 5% acceptance bound; --threshold 1 keeps the exit status about the run.
  const std::string arguments = "mech-logistic --train-count 32 --test-count 8 --iterations 30 --batch 8 "
                                "--threshold 1 --threads 1 --out-dir " + directory.string();
  DriverRun run = run_driver(arguments);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("mean relative error on 8 held-out trajectories"), std::string::npos) << run.out;
  expect_svg(directory / "inference.svg");
  std::string csv = slurp(directory / "inferred.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "true_r,inferred_r,true_quadratic,inferred_quadratic");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 9);
  auto first = summary(directory);
  ASSERT_TRUE(first.count("rate_mean_relative_error"));
  ASSERT_EQ(run_driver(arguments).status, 0);
  EXPECT_EQ(summary(directory), first);
  EXPECT_EQ(slurp(directory / "inferred.csv"), csv);
  // The exit status carries the acceptance check: an impossible threshold fails with status 1.
  EXPECT_EQ(run_driver("mech-logistic --train-count 32 --test-count 8 --iterations 2 --batch 8 --threshold 1e-9 "
                       "--threads 1 --out-dir " + directory.string()).status, 1);
  std::filesystem::remove_all(directory);
}

TEST(ModelDrivers, TwoBodyRollsOutAndResumesExactly) {
  auto direct = fresh_directory("mech_test_two_body_direct");
  auto split = fresh_directory("mech_test_two_body_split");
  const std::string common = "mech-two-body --train-count 8 --test-count 4 --length 100 --horizon 50 --hidden 32 "
                             "--batch 16 --checkpoint-every 10 --threads 1 ";
  DriverRun run = run_driver(common + "--iterations 20 --out-dir " + direct.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("mean over the 50-step horizon"), std::string::npos) << run.out;
  expect_svg(direct / "orbit.svg");
  std::string csv = slurp(direct / "error.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,time,mech_error,constant_velocity_error");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 51);
  ASSERT_EQ(run_driver(common + "--iterations 10 --out-dir " + split.string()).status, 0);
  DriverRun resumed = run_driver(common + "--iterations 20 --resume --out-dir " + split.string());
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resumed from"), std::string::npos);
  EXPECT_EQ(summary(split), summary(direct));
  EXPECT_EQ(slurp(split / "error.csv"), csv);
  EXPECT_EQ(slurp(split / "loss.csv"), slurp(direct / "loss.csv"));
  std::filesystem::remove_all(direct);
  std::filesystem::remove_all(split);
}

}  // namespace
