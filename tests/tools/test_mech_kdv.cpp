// Runs mech-kdv itself, on its contract: `generate` writes u.npy (N,140,256), t.npy (N,140) and
// x.npy (N,256) in float64, the same bytes for the same seed; `train` writes metrics.csv (model
// and persistence at 10, 40 and 100 frames), trajectories.csv (the same per test trajectory),
// rollout.svg and loss.csv for every model, reuses its data cache, and --resume continues a run
// exactly; bad options, a corrupt cache file and NaN in the data exit 2 with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/npy.h"
#include "core/tensor.h"
#include "tools/program_run.h"

namespace {

using mech::tool_test::ProgramRun;
using mech::tool_test::read_text;
using mech::tool_test::run_program;

std::filesystem::path fresh_directory(const std::string& name) {
  auto directory = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  return directory;
}

void expect_one_line_exit_2(const std::string& arguments) {
  const ProgramRun run = run_program("mech-kdv " + arguments);
  EXPECT_EQ(run.status, 2) << arguments << "\n" << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << arguments << "\n" << run.err;
  EXPECT_EQ(run.err.rfind("mech-kdv", 0), 0u) << run.err;
}

// A train command on a tiny problem: 2 training trajectories, 1 validation and 1 test.
std::string small_training(const std::string& model, const std::filesystem::path& out,
                           const std::filesystem::path& data, long iterations) {
  return "mech-kdv train --model " + model + " --seed 1 --iterations " + std::to_string(iterations) +
         " --batch 4 --train-trajectories 2 --valid-trajectories 1 --test-trajectories 1 --checkpoint-every 2"
         " --threads 1 --quiet --data-dir " + data.string() + " --out-dir " + out.string();
}

TEST(MechKdv, GenerateWritesTheContractedArraysDeterministically) {
  const auto first = fresh_directory("mech_test_kdv_generate_a");
  const auto second = fresh_directory("mech_test_kdv_generate_b");
  const ProgramRun run = run_program("mech-kdv generate --count 2 --seed 7 --threads 1 --out-dir " + first.string());
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run_program("mech-kdv generate --count 2 --seed 7 --threads 2 --out-dir " + second.string()).status, 0);
  const mech::Tensor u = mech::load_npy((first / "u.npy").string());
  const mech::Tensor t = mech::load_npy((first / "t.npy").string());
  const mech::Tensor x = mech::load_npy((first / "x.npy").string());
  EXPECT_EQ(u.shape(), (mech::Shape{2, 140, 256}));
  EXPECT_EQ(t.shape(), (mech::Shape{2, 140}));
  EXPECT_EQ(x.shape(), (mech::Shape{2, 256}));
  EXPECT_EQ(u.dtype(), mech::DType::Float64);
  for (const char* name : {"u.npy", "t.npy", "x.npy"})
    EXPECT_EQ(read_text(first / name), read_text(second / name)) << name << ": the thread count changed the data";
  // The stored times are the last 140 of 250 output times t_n = n T / 249, T ~ U(45, 55).
  const std::vector<double> times = t.to_vector<double>();
  for (int trajectory = 0; trajectory < 2; ++trajectory) {
    const double step = times[static_cast<std::size_t>(trajectory * 140 + 1)] - times[static_cast<std::size_t>(trajectory * 140)];
    const double end = times[static_cast<std::size_t>(trajectory * 140 + 139)];
    EXPECT_NEAR(end / step, 249.0, 1e-6);
    EXPECT_GE(end, 45.0);
    EXPECT_LE(end, 55.0);
  }
  std::filesystem::remove_all(first);
  std::filesystem::remove_all(second);
}

TEST(MechKdv, BadOptionsExitWithStatus2AndOneLine) {
  const auto out = fresh_directory("mech_test_kdv_bad");
  expect_one_line_exit_2("");
  expect_one_line_exit_2("fit");
  expect_one_line_exit_2("generate --count 0 --out-dir " + out.string());
  expect_one_line_exit_2("generate --count 2");
  expect_one_line_exit_2("generate --count 2 --set hard --out-dir " + out.string());
  expect_one_line_exit_2("train --model transformer --out-dir " + out.string());
  expect_one_line_exit_2("train --preset huge --out-dir " + out.string());
  expect_one_line_exit_2("train --iterations -1 --out-dir " + out.string());
  expect_one_line_exit_2("train --lr nan --out-dir " + out.string());
  expect_one_line_exit_2("train --batch 100000 --train-trajectories 2 --out-dir " + out.string());
  expect_one_line_exit_2("train --device tpu --out-dir " + out.string());
  expect_one_line_exit_2("train --resume --data-dir " + out.string() + " --out-dir " + out.string());  // no checkpoint
  expect_one_line_exit_2("train --stop-at -3 --out-dir " + out.string());
  EXPECT_EQ(run_program("mech-kdv --help").status, 0);
  const ProgramRun help = run_program("mech-kdv train --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--preset"), std::string::npos) << help.out;
  std::filesystem::remove_all(out);
}

// Every model trains, rolls out and writes the contracted files; a second run reuses the cache.
TEST(MechKdv, TrainWritesMetricsRolloutAndLossForEveryModel) {
  const auto data = fresh_directory("mech_test_kdv_data");
  for (const std::string model : {"mnn", "resnet", "fno"}) {
    const auto out = fresh_directory("mech_test_kdv_train_" + model);
    const ProgramRun run = run_program(small_training(model, out, data, 2));
    ASSERT_EQ(run.status, 0) << model << "\n" << run.err;
    EXPECT_NE(run.out.find("s/iteration"), std::string::npos) << run.out;
    std::istringstream metrics(read_text(out / "metrics.csv"));
    std::string line;
    std::getline(metrics, line);
    EXPECT_EQ(line, "model,frames,nmse");
    std::vector<std::string> rows;
    while (std::getline(metrics, line)) rows.push_back(line.substr(0, line.rfind(',')));
    EXPECT_EQ(rows, (std::vector<std::string>{model + ",10", "persistence,10", model + ",40", "persistence,40",
                                              model + ",100", "persistence,100"}));
    std::istringstream values(read_text(out / "metrics.csv"));
    std::getline(values, line);
    while (std::getline(values, line)) {
      const double nmse = std::stod(line.substr(line.rfind(',') + 1));
      EXPECT_TRUE(std::isfinite(nmse) && nmse >= 0) << line;
    }
    // trajectories.csv: one row per test trajectory (one here), whose NMSEs are then metrics.csv's.
    std::istringstream trajectories(read_text(out / "trajectories.csv"));
    std::getline(trajectories, line);
    EXPECT_EQ(line, "trajectory,max_abs_u," + model + "_nmse_10," + model + "_nmse_40," + model +
                        "_nmse_100,persistence_nmse_10,persistence_nmse_40,persistence_nmse_100");
    std::vector<double> fields;
    ASSERT_TRUE(std::getline(trajectories, line));
    for (std::istringstream row(line); std::getline(row, line, ',');) fields.push_back(std::stod(line));
    EXPECT_FALSE(std::getline(trajectories, line)) << "one test trajectory, one row";
    ASSERT_EQ(fields.size(), 8u);
    EXPECT_EQ(fields[0], 0);
    EXPECT_GT(fields[1], 0);
    std::istringstream again(read_text(out / "metrics.csv"));
    std::getline(again, line);
    // metrics.csv's rows in order: model and persistence at 10, 40, 100 frames.
    for (const std::size_t column : {2, 5, 3, 6, 4, 7}) {
      ASSERT_TRUE(std::getline(again, line));
      const double nmse = std::stod(line.substr(line.rfind(',') + 1));
      EXPECT_NEAR(fields[column], nmse, 1e-5 * nmse) << line;
    }
    const std::string svg = read_text(out / "rollout.svg");
    EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 3, true);
    EXPECT_NE(svg.find("data:image/png;base64,"), std::string::npos);
    const std::string loss = read_text(out / "loss.csv");
    EXPECT_EQ(loss.substr(0, loss.find('\n')), "iteration,loss,validation_loss,lr");
    EXPECT_EQ(std::count(loss.begin(), loss.end(), '\n'), 3) << loss;
    std::filesystem::remove_all(out);
  }
  // Three splits cached once, used by all three models.
  std::size_t splits = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data)) splits += entry.is_directory();
  EXPECT_EQ(splits, 3u);
  std::filesystem::remove_all(data);
}

TEST(MechKdv, ResumeContinuesExactly) {
  const auto data = fresh_directory("mech_test_kdv_resume_data");
  const auto direct = fresh_directory("mech_test_kdv_resume_direct");
  const auto split = fresh_directory("mech_test_kdv_resume_split");
  ASSERT_EQ(run_program(small_training("resnet", direct, data, 4)).status, 0);
  // Interrupted after 2 of 4 iterations (the cosine schedule depends on the total), then resumed.
  const ProgramRun stopped = run_program(small_training("resnet", split, data, 4) + " --stop-at 2");
  ASSERT_EQ(stopped.status, 0) << stopped.err;
  EXPECT_FALSE(std::filesystem::exists(split / "metrics.csv"));
  const ProgramRun resumed = run_program(small_training("resnet", split, data, 4) + " --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(read_text(split / "loss.csv"), read_text(direct / "loss.csv"));
  EXPECT_EQ(read_text(split / "metrics.csv"), read_text(direct / "metrics.csv"));
  for (const auto& directory : {data, direct, split}) std::filesystem::remove_all(directory);
}

TEST(MechKdv, CorruptOrNonFiniteCachedDataExits2) {
  const auto data = fresh_directory("mech_test_kdv_corrupt_data");
  const auto out = fresh_directory("mech_test_kdv_corrupt_out");
  ASSERT_EQ(run_program(small_training("resnet", out, data, 1)).status, 0);
  std::filesystem::path train_dir;
  for (const auto& entry : std::filesystem::directory_iterator(data))
    if (entry.path().filename().string().find("train") != std::string::npos) train_dir = entry.path();
  ASSERT_FALSE(train_dir.empty());
  const std::string bytes = read_text(train_dir / "u.npy");

  // Truncated.
  std::ofstream(train_dir / "u.npy", std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  ProgramRun run = run_program(small_training("resnet", out, data, 1));
  EXPECT_EQ(run.status, 2) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_NE(run.err.find("u.npy"), std::string::npos) << run.err;

  // A NaN in the middle of the data.
  mech::Tensor u = mech::load_npy_from_bytes(bytes);
  std::vector<double> values = u.to_vector<double>();
  values[values.size() / 2] = NAN;
  mech::save_npy((train_dir / "u.npy").string(), mech::from_vector(values, u.shape()));
  run = run_program(small_training("resnet", out, data, 1));
  EXPECT_EQ(run.status, 2) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_NE(run.err.find("nan"), std::string::npos) << run.err;
  std::filesystem::remove_all(data);
  std::filesystem::remove_all(out);
}

}  // namespace
