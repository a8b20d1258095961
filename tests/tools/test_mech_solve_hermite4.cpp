// mech-solve --variant hermite4, run as a program: the solution of a damped oscillator written from
// .npy files matches the exact one at hermite4's accuracy, eps is written as zeros, --grad-u
// gradients match the library's, float32 uses the direct solve, and a singular system exits 1
// naming the batch element.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/npy.h"
#include "core/tensor.h"
#include "mech_solve_test_util.h"
#include "solvers/neurlp_batch.h"

namespace {

namespace fs = std::filesystem;

using RunResult = mech::tools::testing::MechSolveRun;

class MechSolveHermite4 : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 fmt::format("mech_solve_hermite4_{}_{}", ::getpid(),
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }
  std::string path(const std::string& name) const { return (directory_ / name).string(); }
  RunResult run(const std::string& arguments) const {
    return mech::tools::testing::run_mech_solve(arguments, path("stderr.txt"));
  }
  // Two damped oscillators (B = 2) with h = 0.01 on [0, 10]; the second damps twice as hard.
  std::string write_oscillators(bool singular = false) const {
    const int T = 1001;
    std::vector<double> c, r(2 * T, 0.0), iv = {1.0, 0.0, 1.0, 0.0}, h(2 * (T - 1), 0.01);
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < T; ++t) {
        // singular: element 1 has no equation at t = 500 (all its coefficients zero there)
        const double scale = singular && b == 1 && t == 500 ? 0.0 : 1.0;
        c.insert(c.end(), {4.0 * scale, 0.4 * (b + 1) * scale, scale});
      }
    const mech::TensorOptions f64 = mech::TensorOptions().dtype(mech::DType::Float64);
    mech::save_npy(path("coeffs.npy"), mech::from_vector(c, {2, 1, T, 1, 3}, f64));
    mech::save_npy(path("rhs.npy"), mech::from_vector(r, {2, 1, T}, f64));
    mech::save_npy(path("iv.npy"), mech::from_vector(iv, {2, 1, 1, 2}, f64));
    mech::save_npy(path("steps.npy"), mech::from_vector(h, {2, T - 1, 1}, f64));
    return fmt::format("--coeffs {0} --rhs {1} --iv {2} --steps {3} --variant hermite4", path("coeffs.npy"),
                       path("rhs.npy"), path("iv.npy"), path("steps.npy"));
  }
  fs::path directory_;
};

double max_error(const mech::Tensor& u, int b, double damping) {
  const auto values = u.to(mech::DType::Float64).to_vector<double>();
  const double zeta_w = damping / 2, wd = std::sqrt(4.0 - zeta_w * zeta_w);
  double error = 0.0;
  for (int t = 0; t < 1001; ++t) {
    const double x = t * 0.01;
    const double exact = std::exp(-zeta_w * x) * (std::cos(wd * x) + zeta_w / wd * std::sin(wd * x));
    error = std::max(error, std::abs(values[(b * 1001 + t) * 3] - exact));
  }
  return error;
}

TEST_F(MechSolveHermite4, SolvesToFourthOrderAccuracy) {
  const RunResult result = run(write_oscillators() + " --out " + path("u.npy") + " --eps-out " + path("eps.npy"));
  ASSERT_EQ(result.status, 0) << result.errors;
  const mech::Tensor u = mech::load_npy(path("u.npy"));
  EXPECT_EQ(u.shape(), mech::Shape({2, 1001, 1, 3}));
  EXPECT_LE(max_error(u, 0, 0.4), 1e-7);
  EXPECT_LE(max_error(u, 1, 0.8), 1e-7);
  for (double value : mech::load_npy(path("eps.npy")).to_vector<double>()) EXPECT_EQ(value, 0.0);
}

TEST_F(MechSolveHermite4, Float32UsesTheDirectSolve) {
  const RunResult result = run(write_oscillators() + " --dtype float32 --out " + path("u.npy"));
  ASSERT_EQ(result.status, 0) << result.errors;
  const mech::Tensor u = mech::load_npy(path("u.npy"));
  EXPECT_EQ(u.dtype(), mech::DType::Float32);
  EXPECT_LE(max_error(u, 0, 0.4), 1e-4);
}

TEST_F(MechSolveHermite4, GradientsMatchTheLibrary) {
  const std::string inputs = write_oscillators();
  std::vector<double> grad_u(2 * 1001 * 3);
  for (std::size_t i = 0; i < grad_u.size(); ++i) grad_u[i] = std::cos(0.01 * i);
  mech::save_npy(path("grad_u.npy"),
                 mech::from_vector(grad_u, {2, 1001, 1, 3}, mech::TensorOptions().dtype(mech::DType::Float64)));
  const RunResult result = run(inputs + " --out " + path("u.npy") + " --grad-u " + path("grad_u.npy") +
                               " --grads-out " + path("grads"));
  ASSERT_EQ(result.status, 0) << result.errors;
  using namespace mech::neurlp_core;
  Sizes z;
  z.T = 1001;
  z.K = 3;
  z.S = 1;
  z.n_iv = 2;
  z.formulation = Formulation::Hermite4;
  const auto c = mech::load_npy(path("coeffs.npy")).to_vector<double>(), r = mech::load_npy(path("rhs.npy")).to_vector<double>(),
             v = mech::load_npy(path("iv.npy")).to_vector<double>(), h = mech::load_npy(path("steps.npy")).to_vector<double>();
  std::vector<double> u(grad_u.size()), dc(c.size()), dr(r.size()), dv(v.size()), dh(h.size());
  forward_backward_batch<double>(z, 2, {c.data(), r.data(), v.data(), h.data()}, u.data(), nullptr, grad_u.data(),
                                 nullptr, {dc.data(), dr.data(), dv.data(), dh.data()});
  const std::vector<std::pair<const char*, const std::vector<double>*>> expected = {
      {"coeffs", &dc}, {"rhs", &dr}, {"iv", &dv}, {"steps", &dh}};
  for (const auto& [name, values] : expected) {
    const auto got = mech::load_npy(path("grads/") + name + ".npy").to_vector<double>();
    ASSERT_EQ(got.size(), values->size()) << name;
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], (*values)[i]) << name << " " << i;
  }
}

TEST_F(MechSolveHermite4, SingularSystemExitsOneNamingTheElement) {
  const RunResult result = run(write_oscillators(true) + " --out " + path("u.npy"));
  EXPECT_EQ(result.status, 1) << result.errors;
  EXPECT_NE(result.errors.find("batch element 1"), std::string::npos) << result.errors;
}

}  // namespace
