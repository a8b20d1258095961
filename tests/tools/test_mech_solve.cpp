// mech-solve, run as a program: outputs and gradients against the published solver's frozen
// outputs (tests/data/neurlp), float32 inputs, --repeat timing, and the error paths (exit status
// and a one-line message naming the file and the expected shape).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/npy.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "mech_solve_test_util.h"

namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(MECH_TEST_DATA_DIR) + "/neurlp/";

using RunResult = mech::tools::testing::MechSolveRun;

RunResult run(const std::string& arguments) {
  const fs::path log = fs::temp_directory_path() / fmt::format("mech_solve_stderr_{}.txt", ::getpid());
  RunResult result = mech::tools::testing::run_mech_solve(arguments, log);
  fs::remove(log);
  return result;
}

class MechSolve : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() / fmt::format("mech_solve_test_{}_{}", ::getpid(),
                                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }
  std::string path(const std::string& name) const { return (directory_ / name).string(); }
  fs::path directory_;
};

double relative_error(const mech::Tensor& a, const mech::Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return INFINITY;
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double difference = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    difference = std::max(difference, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return scale == 0.0 ? difference : difference / scale;
}

std::string inputs_of(const std::string& dir) {
  return fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {0}steps.npy --iv {0}iv.npy", dir);
}

TEST_F(MechSolve, MatchesPublishedSolverWithGradients) {
  for (const char* name : {"order2", "order3_coupled", "order4", "multi_iv_steps", "long_order2"}) {
    const std::string dir = kData + name + "/";
    const RunResult result =
        run(inputs_of(dir) + fmt::format(" --out {} --eps-out {} --grad-u {}grad_u.npy --grad-eps {}grad_eps.npy "
                                         "--grads-out {}",
                                         path("u.npy"), path("eps.npy"), dir, dir, path("grads")));
    ASSERT_EQ(result.status, 0) << name << ": " << result.errors;
    EXPECT_LT(relative_error(mech::load_npy(path("u.npy")), mech::load_npy(dir + "u.npy")), 1e-8) << name;
    EXPECT_LT(relative_error(mech::load_npy(path("eps.npy")), mech::load_npy(dir + "eps.npy")), 1e-8) << name;
    for (const char* input : {"coeffs", "rhs", "iv", "steps"})
      EXPECT_LT(relative_error(mech::load_npy(path(std::string("grads/") + input + ".npy")),
                               mech::load_npy(dir + "grads/" + input + ".npy")),
                1e-8)
          << name << ": grads/" << input;
  }
}

// --device cuda: on a GPU machine the GPU solver's outputs and gradients match the published
// solver's like the CPU's; without a device (or built without CUDA) one line and exit 2.
TEST_F(MechSolve, DeviceCudaSolvesOnTheGpuOrSaysWhyNot) {
  const std::string dir = kData + "order2/";
  const RunResult result =
      run(inputs_of(dir) + fmt::format(" --device cuda --out {} --eps-out {} --grad-u {}grad_u.npy "
                                       "--grad-eps {}grad_eps.npy --grads-out {}",
                                       path("u.npy"), path("eps.npy"), dir, dir, path("grads")));
  if (!mech::cuda::is_available()) {
    EXPECT_EQ(result.status, 2) << result.errors;
    EXPECT_NE(result.errors.find("--device cuda: no CUDA device is available"), std::string::npos) << result.errors;
    EXPECT_EQ(std::count(result.errors.begin(), result.errors.end(), '\n'), 1) << result.errors;
    EXPECT_FALSE(fs::exists(path("u.npy")));
    return;
  }
  ASSERT_EQ(result.status, 0) << result.errors;
  EXPECT_LT(relative_error(mech::load_npy(path("u.npy")), mech::load_npy(dir + "u.npy")), 1e-8);
  EXPECT_LT(relative_error(mech::load_npy(path("eps.npy")), mech::load_npy(dir + "eps.npy")), 1e-8);
  for (const char* input : {"coeffs", "rhs", "iv", "steps"})
    EXPECT_LT(relative_error(mech::load_npy(path(std::string("grads/") + input + ".npy")),
                             mech::load_npy(dir + "grads/" + input + ".npy")),
              1e-8)
        << input;
}

TEST_F(MechSolve, AcceptsFloat32InputsAndTimesRepeats) {
  const std::string dir = kData + "order2/";
  for (const char* input : {"coeffs", "rhs", "iv", "steps"})
    mech::save_npy(path(std::string(input) + ".npy"), mech::load_npy(dir + input + ".npy").to(mech::DType::Float32));
  const RunResult result = run(fmt::format("--coeffs {} --rhs {} --steps {} --iv {} --out {} --repeat 3",
                                           path("coeffs.npy"), path("rhs.npy"), path("steps.npy"), path("iv.npy"),
                                           path("u.npy")));
  ASSERT_EQ(result.status, 0) << result.errors;
  EXPECT_NE(result.errors.find("median_ms "), std::string::npos) << result.errors;
  const mech::Tensor u = mech::load_npy(path("u.npy"));
  EXPECT_EQ(u.dtype(), mech::DType::Float64);
  // Inputs rounded to float32, solved in float64: agree to about float32 precision.
  EXPECT_LT(relative_error(u, mech::load_npy(dir + "u.npy")), 1e-5);
  // --dtype float32 computes and writes float32.
  const RunResult single = run(fmt::format("--coeffs {} --rhs {} --steps {} --iv {} --out {} --dtype float32",
                                           path("coeffs.npy"), path("rhs.npy"), path("steps.npy"), path("iv.npy"),
                                           path("u32.npy")));
  ASSERT_EQ(single.status, 0) << single.errors;
  const mech::Tensor u32 = mech::load_npy(path("u32.npy"));
  EXPECT_EQ(u32.dtype(), mech::DType::Float32);
  EXPECT_LT(relative_error(u32.to(mech::DType::Float64), mech::load_npy(dir + "u.npy")), 1e-2);
}

TEST_F(MechSolve, ScalableVariantRuns) {
  const std::string dir = kData + "order2/";
  const RunResult result = run(inputs_of(dir) + " --variant scalable --out " + path("u.npy") + " --eps-out " +
                               path("eps.npy"));
  ASSERT_EQ(result.status, 0) << result.errors;
  const auto eps = mech::load_npy(path("eps.npy")).to_vector<double>();
  for (double value : eps) EXPECT_EQ(value, 0.0);   // no eps column in the scalable formulation
}

TEST_F(MechSolve, ErrorPathsExitTwoWithOneLine) {
  const std::string dir = kData + "order2/";
  auto expect_error = [&](const std::string& arguments, int status, std::vector<std::string> needles) {
    const RunResult result = run(arguments);
    EXPECT_EQ(result.status, status) << arguments << "\n" << result.errors;
    EXPECT_EQ(std::count(result.errors.begin(), result.errors.end(), '\n'), 1) << result.errors;
    for (const std::string& needle : needles)
      EXPECT_NE(result.errors.find(needle), std::string::npos) << "missing '" << needle << "' in: " << result.errors;
  };
  // A right-hand side of the wrong shape: names the file and the expected shape.
  mech::save_npy(path("bad_rhs.npy"), mech::zeros({4, 1, 15}, mech::TensorOptions().dtype(mech::DType::Float64)));
  expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {1} --steps {0}steps.npy --iv {0}iv.npy --out {2}", dir,
                           path("bad_rhs.npy"), path("u.npy")),
               2, {"bad_rhs.npy", "[4, 1, 16]"});
  mech::save_npy(path("bad_steps.npy"), mech::zeros({4, 16, 1}, mech::TensorOptions().dtype(mech::DType::Float64)));
  expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {1} --out {2}", dir,
                           path("bad_steps.npy"), path("u.npy")),
               2, {"bad_steps.npy", "[4, 15, 1]"});
  mech::save_npy(path("bad_iv.npy"), mech::zeros({4, 1, 1, 3}, mech::TensorOptions().dtype(mech::DType::Float64)));
  expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {0}steps.npy --iv {1} --out {2}", dir,
                           path("bad_iv.npy"), path("u.npy")),
               2, {"bad_iv.npy", "n_iv"});
  expect_error(fmt::format("--coeffs {0}rhs.npy --rhs {0}rhs.npy --steps {0}steps.npy --out {1}", dir, path("u.npy")),
               2, {"rhs.npy", "(B,E,T,D,K)"});
  expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {0}steps.npy --iv {0}iv.npy --out {1} "
                           "--grad-u {0}rhs.npy --grads-out {2}",
                           dir, path("u.npy"), path("g")),
               2, {"rhs.npy", "[4, 16, 1, 3]"});
  // Missing and corrupt files.
  expect_error(fmt::format("--coeffs {0}missing.npy --rhs {0}rhs.npy --steps {0}steps.npy --out {1}", dir,
                           path("u.npy")),
               2, {"missing.npy"});
  std::ofstream(path("junk.npy")) << "not an npy file";
  expect_error(fmt::format("--coeffs {} --rhs {}rhs.npy --steps {}steps.npy --out {}", path("junk.npy"), dir, dir,
                           path("u.npy")),
               2, {"junk.npy"});
  // Options.
  expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {0}steps.npy", dir), 2, {"--out"});
  expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {0}steps.npy --out {1} --grad-u "
                           "{0}grad_u.npy",
                           dir, path("u.npy")),
               2, {"--grads-out"});
  // Bad values: a NaN, a negative or a zero step is the caller's data, not a solver failure: exit 2
  // naming the file and where the value is, for every variant. (A singular system, a well-formed
  // problem the solver cannot solve, exits 1: test_mech_solve_hermite4.cpp.)
  const mech::Tensor steps = mech::load_npy(dir + "steps.npy");
  for (const double bad_step : {std::nan(""), -0.5, 0.0, -0.0}) {
    mech::Tensor bad = steps.clone();
    bad.data_ptr<double>()[2 * 15 + 4] = bad_step;
    mech::save_npy(path("bad_steps.npy"), bad);
    for (const char* variant : {"mnn", "scalable", "hermite4"}) {
      SCOPED_TRACE(fmt::format("step {} --variant {}", bad_step, variant));
      expect_error(fmt::format("--coeffs {0}coeffs.npy --rhs {0}rhs.npy --steps {1} --iv {0}iv.npy --out {2} "
                               "--variant {3}",
                               dir, path("bad_steps.npy"), path("u.npy"), variant),
                   2, {"bad_steps.npy", "(steps)", "flat index 34"});
      EXPECT_FALSE(fs::exists(path("u.npy")));
    }
  }
}

}  // namespace
