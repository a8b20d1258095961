// Every tool refuses bad input cleanly: a table of cases feeds each program corrupt, truncated,
// wrong-magic, empty and wrong-dtype files, wrong shapes, NaN/Inf inside arrays, bad option values
// (NaN, negative, empty), missing files, output folders that cannot be written and damaged
// checkpoints to --resume. Each must end by exit(2), not by a signal (so no core dump), with exactly
// one line on stderr that starts with the program's name and names the file or option at fault.
// The programs run as child processes (fork + exec, so the real wait status is seen) with an
// alarm that turns a tool which wrongly starts working into a visible failure.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/npy.h"
#include "core/tensor.h"
#include "models/sine_fit.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "tools/common/solve_bytes.h"

namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(MECH_TEST_DATA_DIR) + "/neurlp/order2/";

struct ChildRun {
  bool exited = false;     // ended by exit()
  int status = -1;         // its exit status when exited
  bool signaled = false;   // ended by a signal
  int signal = 0;
  bool core_dumped = false;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Runs MECH_BIN_DIR/program with `arguments` (passed as is: empty strings stay arguments),
// stdout and stderr to files in `scratch`. A child still running after `seconds` gets SIGALRM.
ChildRun run_child(const std::string& program, const std::vector<std::string>& arguments, const fs::path& scratch,
                   unsigned seconds = 120) {
  const std::string executable = std::string(MECH_BIN_DIR) + "/" + program;
  const fs::path out_path = scratch / "child.out", err_path = scratch / "child.err";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(executable.c_str()));
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::alarm(seconds);  // survives exec: a tool that does not stop is killed, and reported as such
    ::execv(executable.c_str(), argv.data());
    ::_exit(127);
  }
  ChildRun run;
  int raw = 0;
  if (pid < 0 || ::waitpid(pid, &raw, 0) != pid) return run;
  run.exited = WIFEXITED(raw);
  run.status = run.exited ? WEXITSTATUS(raw) : -1;
  run.signaled = WIFSIGNALED(raw);
  run.signal = run.signaled ? WTERMSIG(raw) : 0;
#ifdef WCOREDUMP
  run.core_dumped = run.signaled && WCOREDUMP(raw);
#endif
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  return run;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream stream(text);
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

// One bad input. `arguments` is split on spaces; "{empty}" becomes an empty argument. Placeholders:
// {bad} the folder of prepared bad files, {data} a valid mech-solve problem (tests/data/neurlp/order2/),
// {out} a fresh folder for this case, {blocked} a path below a regular file (no folder can be
// created there, not even by root), {ckpt} the path of the checkpoint copied in for this case.
struct Case {
  Case(std::string program_, std::string arguments_, std::vector<std::string> needles_, std::string checkpoint_ = "")
      : program(std::move(program_)), arguments(std::move(arguments_)), needles(std::move(needles_)),
        checkpoint(std::move(checkpoint_)) {}
  std::string program;
  std::string arguments;
  std::vector<std::string> needles;  // each must appear in the one stderr line
  std::string checkpoint;            // a file of {bad} copied to {out}/checkpoint.safetensors first, or ""
};

class ToolRobustness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("mech_tool_robustness_{}", ::getpid());
    fs::remove_all(root_);
    bad_ = root_ / "bad";
    fs::create_directories(bad_);
    prepare_npy_files();
    prepare_checkpoints();
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static void prepare_npy_files() {
    const std::string coeffs = slurp(kData + "coeffs.npy");
    ASSERT_GT(coeffs.size(), 200u);
    write_bytes(bad_ / "junk.npy", "not an npy file at all\n");
    write_bytes(bad_ / "empty.npy", "");
    write_bytes(bad_ / "truncated_coeffs.npy", coeffs.substr(0, coeffs.size() / 2));
    write_bytes(bad_ / "header_only.npy", coeffs.substr(0, 100));
    std::string magic = coeffs;
    magic[1] = 'X';  // "\x93NUMPY" -> "\x93XUMPY"
    write_bytes(bad_ / "wrong_magic.npy", magic);
    std::string header = coeffs;
    const auto shape_at = header.find("'shape'");
    ASSERT_NE(shape_at, std::string::npos);
    header[shape_at + 1] = 'Q';  // a header dict without a shape key
    write_bytes(bad_ / "broken_header.npy", header);
    const mech::Tensor c = mech::load_npy(kData + "coeffs.npy");
    mech::save_npy((bad_ / "int64_coeffs.npy").string(), c.to(mech::DType::Int64));
    mech::save_npy((bad_ / "int64_steps.npy").string(), mech::load_npy(kData + "steps.npy").to(mech::DType::Int64));
    // A right-hand side with T and E swapped, and coefficients missing a dimension.
    mech::save_npy((bad_ / "wrong_shape_rhs.npy").string(), mech::load_npy(kData + "rhs.npy").transpose(1, 2).contiguous());
    mech::save_npy((bad_ / "rank4_coeffs.npy").string(), c.select(1, 0).contiguous());
    auto with_value = [](const std::string& name, double value, std::size_t index) {
      mech::Tensor tensor = mech::load_npy(kData + name + ".npy").clone();
      tensor.data_ptr<double>()[index] = value;
      return tensor;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    mech::save_npy((bad_ / "nan_coeffs.npy").string(), with_value("coeffs", nan, 7));
    mech::save_npy((bad_ / "inf_rhs.npy").string(), with_value("rhs", -inf, 3));
    mech::save_npy((bad_ / "nan_steps.npy").string(), with_value("steps", nan, 5));
    mech::save_npy((bad_ / "nan_iv.npy").string(), with_value("iv", nan, 0));
    mech::save_npy((bad_ / "nan_grad_u.npy").string(), with_value("grad_u", nan, 11));
    // 1e300 is finite in float64 and Inf once the solve converts it to float32.
    mech::save_npy((bad_ / "huge_rhs.npy").string(), with_value("rhs", 1e300, 2));
    fs::create_directories(bad_ / "a_folder.npy");
    write_bytes(bad_ / "plain_file", "a regular file: nothing can be created below it\n");
  }

  // Checkpoints of mech-fit-sine (length 20 and 30), then damaged copies of the first.
  static void prepare_checkpoints() {
    for (int length : {20, 30}) {
      const fs::path directory = root_ / fmt::format("sine{}", length);
      const ChildRun run = run_child("mech-fit-sine",
                                     split_words(fmt::format("--length {} --iterations 2 --threads 1 --out-dir {}",
                                                             length, directory.string())),
                                     root_);
      ASSERT_TRUE(run.exited && run.status == 0) << run.err;
      fs::copy_file(directory / "checkpoint.safetensors", bad_ / fmt::format("sine{}.safetensors", length));
    }
    const std::string good = slurp(bad_ / "sine20.safetensors");
    ASSERT_GT(good.size(), 64u);
    write_bytes(bad_ / "truncated.safetensors", good.substr(0, good.size() / 2));
    write_bytes(bad_ / "empty.safetensors", "");
    write_bytes(bad_ / "junk.safetensors", "this is no checkpoint\n");
    // The first 8 bytes are the header length: an absurd one must not become an allocation.
    std::string magic = good;
    for (int i = 0; i < 8; ++i) magic[i] = static_cast<char>(0x7f);
    write_bytes(bad_ / "wrong_magic.safetensors", magic);
    std::string flipped = good;
    flipped[flipped.size() - 3] = static_cast<char>(flipped[flipped.size() - 3] ^ 0x5a);  // data bytes: the checksum
    write_bytes(bad_ / "corrupt_data.safetensors", flipped);
    // The same bytes declared int64 where float64 parameters are expected.
    std::string retyped = good;
    const auto at = retyped.find("\"F64\"");
    ASSERT_NE(at, std::string::npos);
    retyped.replace(at, 5, "\"I64\"");
    write_bytes(bad_ / "int64.safetensors", retyped);
    // A well-formed checkpoint whose coefficients hold NaN (a run that diverged saves them faithfully).
    mech::Generator generator(1);
    mech::models::SineFitOptions options;
    options.length = 20;
    options.initial_step = 0.05;
    mech::models::SineFitModel model(options, &generator);
    mech::nn::Adam optimizer(model.parameters(), mech::nn::AdamOptions(0.01));
    mech::nn::TrainingState state;
    state.model = &model;
    state.optimizer = &optimizer;
    state.generator = &generator;
    mech::nn::load_checkpoint((bad_ / "sine20.safetensors").string(), state);
    mech::Tensor coefficients = model.named_parameters().front().second;
    ASSERT_EQ(coefficients.dtype(), mech::DType::Float64);
    coefficients.data_ptr<double>()[4] = std::numeric_limits<double>::quiet_NaN();
    mech::nn::save_checkpoint((bad_ / "nan_parameter.safetensors").string(), state);
  }

  void run_case(const Case& c, std::size_t index) {
    const fs::path out = root_ / fmt::format("case{}", index);
    fs::remove_all(out);
    fs::create_directories(out);
    const fs::path scratch = root_ / fmt::format("case{}_io", index);
    fs::create_directories(scratch);
    std::string arguments = c.arguments;
    auto replace_all = [&arguments](const std::string& from, const std::string& to) {
      for (auto at = arguments.find(from); at != std::string::npos; at = arguments.find(from, at + to.size()))
        arguments.replace(at, from.size(), to);
    };
    const fs::path checkpoint = out / "checkpoint.safetensors";
    if (!c.checkpoint.empty()) fs::copy_file(bad_ / c.checkpoint, checkpoint);
    replace_all("{bad}", bad_.string() + "/");
    replace_all("{data}", kData);
    replace_all("{out}", out.string());
    replace_all("{blocked}", (bad_ / "plain_file" / "sub").string());
    replace_all("{ckpt}", checkpoint.string());
    std::vector<std::string> argv = split_words(arguments);
    for (std::string& argument : argv)
      if (argument == "{empty}") argument.clear();

    const ChildRun run = run_child(c.program, argv, scratch);
    const std::string label = c.program + " " + c.arguments + (c.checkpoint.empty() ? "" : " [" + c.checkpoint + "]");
    EXPECT_FALSE(run.signaled) << label << ": killed by signal " << run.signal << " (" << ::strsignal(run.signal)
                               << ")\n" << run.err;
    EXPECT_FALSE(run.core_dumped) << label;
    EXPECT_TRUE(run.exited) << label;
    EXPECT_EQ(run.status, 2) << label << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << label << "\n" << run.err;
    EXPECT_EQ(run.err.rfind(c.program + ": ", 0), 0u) << label << "\n" << run.err;
    for (const std::string& needle : c.needles)
      EXPECT_NE(run.err.find(needle), std::string::npos) << label << ": missing '" << needle << "' in: " << run.err;
    fs::remove_all(out);
    fs::remove_all(scratch);
  }

  void run_table(const std::vector<Case>& cases) {
    for (std::size_t index = 0; index < cases.size(); ++index) {
      SCOPED_TRACE(cases[index].program + " " + cases[index].arguments);
      run_case(cases[index], index);
      if (HasFatalFailure()) return;
    }
  }

  static fs::path root_, bad_;
};

fs::path ToolRobustness::root_;
fs::path ToolRobustness::bad_;

// The valid problem with one input replaced.
std::string solve_with(const std::string& role, const std::string& file) {
  std::string arguments;
  for (const char* input : {"coeffs", "rhs", "steps", "iv"})
    arguments += fmt::format("--{} {} ", input, role == input ? file : kData + input + ".npy");
  return arguments + "--out {out}/u.npy";
}

TEST_F(ToolRobustness, MechSolveRefusesBadFilesAndOptions) {
  std::vector<Case> cases = {
      {"mech-solve", solve_with("coeffs", "{bad}junk.npy"), {"junk.npy", "coeffs"}},
      {"mech-solve", solve_with("coeffs", "{bad}empty.npy"), {"empty.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}truncated_coeffs.npy"), {"truncated_coeffs.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}header_only.npy"), {"header_only.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}wrong_magic.npy"), {"wrong_magic.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}broken_header.npy"), {"broken_header.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}int64_coeffs.npy"), {"int64_coeffs.npy", "int64"}},
      {"mech-solve", solve_with("steps", "{bad}int64_steps.npy"), {"int64_steps.npy", "int64"}},
      {"mech-solve", solve_with("coeffs", "{bad}rank4_coeffs.npy"), {"rank4_coeffs.npy", "(B,E,T,D,K)"}},
      {"mech-solve", solve_with("rhs", "{bad}wrong_shape_rhs.npy"), {"wrong_shape_rhs.npy", "[4, 1, 16]"}},
      {"mech-solve", solve_with("coeffs", "{bad}missing.npy"), {"missing.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}a_folder.npy"), {"a_folder.npy"}},
      {"mech-solve", solve_with("coeffs", "{bad}nan_coeffs.npy"), {"nan_coeffs.npy", "non-finite"}},
      {"mech-solve", solve_with("rhs", "{bad}inf_rhs.npy"), {"inf_rhs.npy", "non-finite"}},
      {"mech-solve", solve_with("steps", "{bad}nan_steps.npy"), {"nan_steps.npy", "non-finite"}},
      {"mech-solve", solve_with("iv", "{bad}nan_iv.npy"), {"nan_iv.npy", "non-finite"}},
      {"mech-solve", solve_with("rhs", "{bad}huge_rhs.npy") + " --dtype float32", {"huge_rhs.npy", "non-finite"}},
      {"mech-solve", solve_with("", "") + " --grad-u {bad}nan_grad_u.npy --grads-out {out}/g",
       {"nan_grad_u.npy", "non-finite"}},
      {"mech-solve", solve_with("", "") + " --grad-u {bad}int64_coeffs.npy --grads-out {out}/g", {"int64_coeffs.npy"}},
      {"mech-solve", "--coeffs {empty} --rhs {data}rhs.npy --steps {data}steps.npy --out {out}/u.npy", {"--coeffs"}},
      {"mech-solve", solve_with("", "") + " --gamma nan", {"--gamma"}},
      {"mech-solve", solve_with("", "") + " --alpha inf", {"--alpha"}},
      {"mech-solve", solve_with("", "") + " --repeat -1", {"--repeat"}},
      {"mech-solve", solve_with("", "") + " --dtype float16", {"--dtype"}},
      {"mech-solve", solve_with("", "") + " --variant {empty}", {"--variant"}},
      {"mech-solve", solve_with("", "") + " --out {blocked}/u.npy", {"plain_file"}},
  };
  run_table(cases);
}

// Cases every training driver shares: checkpoints handed to --resume and output folders.
// The cases every training driver shares (its run options are tools/common/training_run.h's);
// `steps` is the option that counts its optimiser steps.
std::vector<Case> driver_cases(const std::string& program, const std::string& small,
                               const std::string& steps = "--iterations") {
  const std::string resume = small + " --out-dir {out} --resume";
  std::vector<Case> cases = {
      {program, resume, {"checkpoint.safetensors"}, "truncated.safetensors"},
      {program, resume, {"checkpoint.safetensors"}, "empty.safetensors"},
      {program, resume, {"checkpoint.safetensors"}, "junk.safetensors"},
      {program, resume, {"checkpoint.safetensors"}, "wrong_magic.safetensors"},
      {program, resume, {"checkpoint.safetensors"}, "corrupt_data.safetensors"},
      {program, resume, {"checkpoint.safetensors"}, "int64.safetensors"},
      {program, resume, {"checkpoint.safetensors"}, "sine30.safetensors"},   // other shapes or another model
      {program, resume, {"checkpoint.safetensors"}, "nan_parameter.safetensors"},
      {program, resume, {"no checkpoint"}},
      {program, small + " --out-dir {blocked}", {"--out-dir", "plain_file"}},
      {program, small + " --out-dir {bad}plain_file", {"--out-dir", "plain_file"}},
      {program, small + " --out-dir {empty}", {"--out-dir"}},
      {program, small + " --out-dir {out} --lr -1", {"--lr"}},
      {program, small + " --out-dir {out} --lr nan", {"--lr"}},
      {program, small + " --out-dir {out} --dt nan", {"--dt"}},
      {program, small + " --out-dir {out} --dt -0.1", {"--dt"}},
      {program, small + " --out-dir {out} --noise inf", {"--noise"}},
      {program, small + " --out-dir {out} " + steps + " -1", {steps}},
      {program, small + " --out-dir {out} --threads {empty}", {"--threads"}},
      {program, small + " --out-dir {out} --device {empty}", {"--device"}},
  };
  return cases;
}

TEST_F(ToolRobustness, MechFitSineRefusesBadCheckpointsFoldersAndOptions) {
  std::vector<Case> cases = driver_cases("mech-fit-sine", "--length 20 --iterations 2 --threads 1");
  // The right shapes but NaN coefficients: named by parameter.
  cases.push_back({"mech-fit-sine", "--length 20 --iterations 2 --threads 1 --out-dir {out} --resume",
                   {"coefficients", "NaN"}, "nan_parameter.safetensors"});
  run_table(cases);
}

TEST_F(ToolRobustness, MechLogisticRefusesBadCheckpointsFoldersAndOptions) {
  run_table(driver_cases("mech-logistic",
                         "--train-count 4 --test-count 2 --length 20 --iterations 2 --batch 2 --threads 1 --threshold 1"));
}

TEST_F(ToolRobustness, MechTwoBodyRefusesBadCheckpointsFoldersAndOptions) {
  run_table(driver_cases("mech-two-body", "--train-count 2 --test-count 2 --length 80 --horizon 20 --hidden 8 "
                                          "--batch 2 --iterations 2 --threads 1"));
}

TEST_F(ToolRobustness, MechMlpRefusesBadCheckpointsFoldersAndOptions) {
  const std::string small = "--iterations 2 --points 16 --batch 4 --threads 1 --threshold 1";
  std::vector<Case> cases;
  for (const char* damaged : {"truncated.safetensors", "empty.safetensors", "junk.safetensors",
                              "wrong_magic.safetensors", "corrupt_data.safetensors", "int64.safetensors",
                              "sine20.safetensors", "nan_parameter.safetensors"})
    cases.push_back({"mech-mlp", small + " --out-dir {out} --resume", {"checkpoint.safetensors"}, damaged});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --resume", {"no checkpoint"}});
  cases.push_back({"mech-mlp", small + " --out-dir {blocked}", {"--out-dir", "plain_file"}});
  cases.push_back({"mech-mlp", small + " --out-dir {empty}", {"--out-dir"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --lr -1", {"--lr"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --lr nan", {"--lr"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --noise -1", {"--noise"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --iterations -1", {"--iterations"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --batch 0", {"--batch"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --activation {empty}", {"--activation"}});
  cases.push_back({"mech-mlp", small + " --out-dir {out} --threads {empty}", {"--threads"}});
  run_table(cases);
}

TEST_F(ToolRobustness, MechSindyRefusesBadFoldersAndOptions) {
  const std::string small = "--length 200";
  run_table({
      {"mech-sindy", small + " --out-dir {blocked}", {"--out-dir", "plain_file"}},
      {"mech-sindy", small + " --out-dir {bad}plain_file", {"--out-dir", "plain_file"}},
      {"mech-sindy", small + " --out-dir {empty}", {"--out-dir"}},
      {"mech-sindy", small + " --out-dir {out} --dt nan", {"--dt"}},
      {"mech-sindy", small + " --out-dir {out} --dt -1", {"--dt"}},
      {"mech-sindy", small + " --out-dir {out} --noise -1", {"--noise"}},
      {"mech-sindy", small + " --out-dir {out} --threshold nan", {"--threshold"}},
      {"mech-sindy", small + " --out-dir {out} --window 4", {"--window"}},
      {"mech-sindy", small + " --out-dir {out} --derivative {empty}", {"--derivative"}},
      {"mech-sindy", "--length {empty} --out-dir {out}", {"--length"}},
  });
}

TEST_F(ToolRobustness, MechLorenzRefusesBadCheckpointsFoldersAndOptions) {
  const std::string small = "--length 200 --epochs 1 --window 41 --quiet";
  std::vector<Case> cases = driver_cases("mech-lorenz", small, "--epochs");
  cases.push_back({"mech-lorenz", small + " --out-dir {out} --epochs 0", {"--epochs"}});
  cases.push_back({"mech-lorenz", small + " --out-dir {out} --formulation {empty}", {"--formulation"}});
  cases.push_back({"mech-lorenz", small + " --out-dir {out} --window 300", {"--window"}});
  run_table(cases);
}

TEST_F(ToolRobustness, MechConvergenceRefusesBadFoldersAndOptions) {
  const std::string small = "--h-max 0.2 --h-min 0.1";
  run_table({
      {"mech-convergence", small + " --out-dir {blocked}", {"plain_file"}},
      {"mech-convergence", small + " --out-dir {empty}", {"--out-dir"}},
      {"mech-convergence", "--h-max nan --out-dir {out}", {"--h-max"}},
      {"mech-convergence", "--h-min -1 --out-dir {out}", {"h-min"}},
      {"mech-convergence", small + " --gamma-alpha -1 --out-dir {out}", {"gamma-alpha"}},
      {"mech-convergence", "--h-min {empty} --out-dir {out}", {"--h-min"}},
  });
}

// The training drivers show the total gradient norm in the progress bar (a finite number after
// "|grad| ") and accept --anomaly, which checks every op and leaves a healthy run unchanged.
TEST_F(ToolRobustness, DriversReportGradientNormsAndRunWithAnomalyMode) {
  const std::vector<std::pair<std::string, std::string>> drivers = {
      {"mech-fit-sine", "--length 20 --iterations 3 --threads 1 --out-dir {out}"},
      {"mech-logistic", "--train-count 4 --test-count 2 --length 20 --iterations 3 --batch 2 --threads 1 "
                        "--threshold 1 --out-dir {out}"},
      {"mech-two-body", "--train-count 2 --test-count 2 --length 80 --horizon 20 --hidden 8 --batch 2 "
                        "--iterations 3 --threads 1 --out-dir {out}"},
      {"mech-mlp", "--iterations 3 --points 16 --batch 4 --threads 1 --threshold 10 --out-dir {out}"},
  };
  for (const auto& [program, arguments] : drivers) {
    for (const bool anomaly : {false, true}) {
      const fs::path out = root_ / "gradient_norm";
      fs::remove_all(out);
      std::string text = arguments;
      if (const auto at = text.find("{out}"); at != std::string::npos) text.replace(at, 5, out.string());
      std::vector<std::string> argv = split_words(text);
      if (anomaly) argv.push_back("--anomaly");
      const ChildRun run = run_child(program, argv, root_);
      ASSERT_TRUE(run.exited && run.status == 0) << program << " " << text << "\n" << run.err;
      const auto at = run.err.rfind("|grad| ");
      ASSERT_NE(at, std::string::npos) << program << ": " << run.err;
      const double norm = std::strtod(run.err.c_str() + at + 7, nullptr);
      EXPECT_TRUE(std::isfinite(norm) && norm > 0) << program << ": " << run.err.substr(at);
      fs::remove_all(out);
    }
  }
}

// tools/fuzz_mech_solve's seeds and findings, replayed through the same path: seeds (valid problems)
// solve; findings (made by hand, tests/fuzz/regressions/README.md, or by tools/fuzz.sh) solve or are
// refused with mech::Error (run_solve_bytes lets anything else escape). An empty folder fails: a
// replay of nothing would check nothing.
TEST(MechSolveFuzzInputs, SeedsSolveAndFindingsAreRefusedCleanly) {
  const fs::path fuzz = fs::path(MECH_SOURCE_DIR) / "tests/fuzz";
  std::size_t seeds = 0;
  for (const auto& entry : fs::directory_iterator(fuzz / "corpus/mech_solve")) {
    EXPECT_TRUE(mech::tools::run_solve_bytes(slurp(entry.path()))) << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 4u);
  std::size_t findings = 0;
  for (const auto& entry : fs::directory_iterator(fuzz / "regressions/mech_solve")) {
    EXPECT_NO_THROW(mech::tools::run_solve_bytes(slurp(entry.path()))) << entry.path();
    ++findings;
  }
  EXPECT_GT(findings, 0u) << "tests/fuzz/regressions/mech_solve holds no files to replay";
  // Truncating a seed anywhere must never escape as anything but a refusal.
  const std::string seed = slurp(fuzz / "corpus/mech_solve/order2_flags28.bin");
  for (std::size_t length = 0; length < seed.size(); length += 97)
    EXPECT_FALSE(mech::tools::run_solve_bytes(seed.substr(0, length))) << length;
}

}  // namespace
