// mech-solve: the command-line face of the NeuRLP solver for users who live in NumPy. Reads the
// problem from .npy files, solves it (and, with --grad-u, differentiates it), writes .npy files.
//
//   mech-solve --coeffs C.npy --rhs R.npy --steps H.npy [--iv V.npy] [--gamma 0.5] [--alpha 0.1]
//              [--variant mnn|scalable] [--dtype float64|float32] --out U.npy [--eps-out E.npy]
//              [--grad-u GU.npy [--grad-eps GE.npy] --grads-out DIR] [--repeat N]
//
// Shapes: C (B,E,T,D,K), R (B,E,T), H (B,T-1,D), V (B,S,D,n_iv), U (B,T,D,K), E (B); GU like U,
// GE like E. With --grad-u the gradients of sum(U*GU) + sum(E*GE) are written to
// DIR/{coeffs,rhs,iv,steps}.npy. Inputs may be float32 or float64; the solve and the outputs use
// --dtype. --repeat N runs the solve (and backward) N more times and prints "median_ms <value>"
// on standard error. Exit status: 0 on success, 2 for bad options, unreadable files or wrong
// shapes (one line naming the file and the expected shape), 1 when the solver fails (non-finite
// input, non-positive step, singular system; the message names the batch element).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/tensor.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_batch.h"
#include "tools/common/cli.h"

namespace {

using mech::DType;
using mech::Shape;
using mech::Tensor;

[[noreturn]] void input_error(const std::string& message) {
  std::fprintf(stderr, "mech-solve: %s\n", message.c_str());
  std::exit(2);
}

// Loads an .npy file as a contiguous tensor of `dtype`; any reading problem exits 2.
Tensor load(const std::string& path, const char* role, DType dtype) {
  Tensor tensor;
  try {
    tensor = mech::load_npy(path);
  } catch (const mech::Error& error) {
    input_error(fmt::format("cannot read {} ({}): {}", path, role, error.what()));
  }
  if (!mech::is_floating(tensor.dtype()))
    input_error(fmt::format("{} ({}) holds {} values, expected float32 or float64", path, role,
                            mech::dtype_name(tensor.dtype())));
  return tensor.to(dtype).contiguous();
}

void expect_shape(const Tensor& tensor, const std::string& path, const char* role, const Shape& expected,
                  const char* legend, const std::string& against) {
  if (tensor.shape() != expected)
    input_error(fmt::format("{} ({}) has shape {}, expected {} {}{}", path, role, mech::shape_str(tensor.shape()),
                            legend, mech::shape_str(expected), against));
}

template <class T>
double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <class T>
int run(const mech::neurlp_core::Sizes& sizes, std::int64_t batch, const Tensor& coeffs, const Tensor& rhs,
        const Tensor& iv, const Tensor& steps, const Tensor& grad_u, const Tensor& grad_eps, DType dtype,
        const std::string& out_path, const std::string& eps_path, const std::string& grads_dir, int repeat) {
  using namespace mech::neurlp_core;
  const mech::TensorOptions options = mech::TensorOptions().dtype(dtype);
  Tensor u = mech::empty({batch, sizes.T, sizes.D, sizes.K}, options);
  Tensor eps = mech::empty({batch}, options);
  const bool backward = grad_u.defined();
  Tensor d_coeffs, d_rhs, d_iv, d_steps;
  if (backward) {
    d_coeffs = mech::zeros(coeffs.shape(), options);
    d_rhs = mech::zeros(rhs.shape(), options);
    d_iv = mech::zeros(iv.shape(), options);
    d_steps = mech::zeros(steps.shape(), options);
  }
  const bool has_iv = sizes.S * sizes.n_iv > 0;
  const BatchInputs<T> inputs{coeffs.data_ptr<T>(), rhs.data_ptr<T>(), has_iv ? iv.data_ptr<T>() : nullptr,
                              steps.data_ptr<T>()};
  auto once = [&] {
    if (backward) {
      forward_backward_batch<T>(sizes, batch, inputs, u.data_ptr<T>(), eps.data_ptr<T>(), grad_u.data_ptr<T>(),
                                grad_eps.defined() ? grad_eps.data_ptr<T>() : nullptr,
                                {d_coeffs.data_ptr<T>(), d_rhs.data_ptr<T>(), has_iv ? d_iv.data_ptr<T>() : nullptr,
                                 d_steps.data_ptr<T>()});
    } else {
      forward_batch<T>(sizes, batch, inputs, u.data_ptr<T>(), eps.data_ptr<T>(), false);
    }
  };
  try {
    once();
    std::vector<double> times;
    for (int i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      once();
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    if (repeat > 0) std::fprintf(stderr, "median_ms %.6f\n", median<T>(times));
  } catch (const mech::Error& error) {
    std::fprintf(stderr, "mech-solve: %s\n", error.what());
    return 1;
  }
  try {
    mech::save_npy(out_path, u);
    if (!eps_path.empty()) mech::save_npy(eps_path, eps);
    if (backward) {
      std::filesystem::create_directories(grads_dir);
      mech::save_npy(grads_dir + "/coeffs.npy", d_coeffs);
      mech::save_npy(grads_dir + "/rhs.npy", d_rhs);
      mech::save_npy(grads_dir + "/iv.npy", d_iv);
      mech::save_npy(grads_dir + "/steps.npy", d_steps);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mech-solve: cannot write the outputs: %s\n", error.what());
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string coeffs_path, rhs_path, steps_path, iv_path, out_path, eps_path, grad_u_path, grad_eps_path,
      grads_dir, variant = "mnn", dtype_name = "float64";
  double gamma = 0.5, alpha = 0.1, equation_weight = 1.0, initial_weight = 1.0, smooth_weight = 1.0;
  int repeat = 0;
  mech::tools::CommandLine cli(
      "mech-solve",
      "Solve a batch of linear ODEs with NeuRLP (the MNN solver) from .npy files; optionally differentiate.\n"
      "Shapes: coeffs (B,E,T,D,K), rhs (B,E,T), steps (B,T-1,D), iv (B,S,D,n_iv); out (B,T,D,K), eps (B).\n"
      "Exit status: 0 ok, 2 bad options/files/shapes, 1 solver failure (names the batch element).");
  cli.add("coeffs", &coeffs_path, "coefficients C.npy (B,E,T,D,K), k = u, u', u'', ...");
  cli.add("rhs", &rhs_path, "right-hand side R.npy (B,E,T)");
  cli.add("steps", &steps_path, "step sizes H.npy (B,T-1,D), positive");
  cli.add("iv", &iv_path, "initial values V.npy (B,S,D,n_iv) (optional)");
  cli.add("gamma", &gamma, "relaxation gamma (mnn)");
  cli.add("alpha", &alpha, "relaxation alpha (mnn)");
  cli.add_choice("variant", &variant, {"mnn", "scalable"}, "formulation");
  cli.add_choice("dtype", &dtype_name, {"float64", "float32"},
                 "compute and output dtype (float32: steps below ~0.05 lose accuracy)");
  cli.add("equation-weight", &equation_weight, "weight of the equation rows (scalable)");
  cli.add("initial-weight", &initial_weight, "weight of the initial-value rows (scalable)");
  cli.add("smooth-weight", &smooth_weight, "weight of the smoothness rows (scalable)");
  cli.add("out", &out_path, "where to write u (B,T,D,K)");
  cli.add("eps-out", &eps_path, "where to write eps (B) (optional)");
  cli.add("grad-u", &grad_u_path, "upstream gradient dL/du (B,T,D,K): run backward too");
  cli.add("grad-eps", &grad_eps_path, "upstream gradient dL/deps (B) (with --grad-u)");
  cli.add("grads-out", &grads_dir, "directory for coeffs.npy, rhs.npy, iv.npy, steps.npy (with --grad-u)");
  cli.add("repeat", &repeat, "run N more times and print median_ms on stderr");
  cli.parse_or_exit(argc, argv);
  if (coeffs_path.empty() || rhs_path.empty() || steps_path.empty() || out_path.empty())
    cli.fail("--coeffs, --rhs, --steps and --out are required");
  if (!grad_u_path.empty() && grads_dir.empty()) cli.fail("--grad-u needs --grads-out DIR");
  if (grad_u_path.empty() && (!grads_dir.empty() || !grad_eps_path.empty()))
    cli.fail("--grads-out and --grad-eps need --grad-u");
  if (repeat < 0) cli.fail("--repeat must be >= 0");

  const DType dtype = dtype_name == "float32" ? DType::Float32 : DType::Float64;
  const Tensor coeffs = load(coeffs_path, "coeffs", dtype);
  if (coeffs.dim() != 5)
    input_error(fmt::format("{} (coeffs) has shape {}, expected 5 dimensions (B,E,T,D,K)", coeffs_path,
                            mech::shape_str(coeffs.shape())));
  const Shape& c = coeffs.shape();
  const std::int64_t B = c[0], E = c[1], T = c[2], D = c[3], K = c[4];
  if (B < 1 || E < 1 || T < 2 || D < 1 || K < 2)
    input_error(fmt::format("{} (coeffs) has shape {}, expected (B,E,T,D,K) with B, E, D >= 1, T >= 2, K >= 2",
                            coeffs_path, mech::shape_str(c)));
  const std::string against = fmt::format(" to match {} {}", coeffs_path, mech::shape_str(c));
  const Tensor rhs = load(rhs_path, "rhs", dtype);
  expect_shape(rhs, rhs_path, "rhs", {B, E, T}, "(B,E,T) =", against);
  const Tensor steps = load(steps_path, "steps", dtype);
  expect_shape(steps, steps_path, "steps", {B, T - 1, D}, "(B,T-1,D) =", against);
  Tensor iv = mech::zeros({B, 0, D, 0}, mech::TensorOptions().dtype(dtype));
  std::int64_t S = 0, n_iv = 0;
  if (!iv_path.empty()) {
    iv = load(iv_path, "iv", dtype);
    const Shape& v = iv.shape();
    if (v.size() != 4 || v[0] != B || v[2] != D || v[1] > T || v[3] >= K)
      input_error(fmt::format("{} (iv) has shape {}, expected (B,S,D,n_iv) = [{}, S, {}, n_iv] with S <= {} and "
                              "n_iv < {}{}",
                              iv_path, mech::shape_str(v), B, D, T, K, against));
    S = v[1];
    n_iv = v[3];
  }
  Tensor grad_u, grad_eps;
  if (!grad_u_path.empty()) {
    grad_u = load(grad_u_path, "grad-u", dtype);
    expect_shape(grad_u, grad_u_path, "grad-u", {B, T, D, K}, "like u (B,T,D,K) =", against);
    if (!grad_eps_path.empty()) {
      grad_eps = load(grad_eps_path, "grad-eps", dtype);
      expect_shape(grad_eps, grad_eps_path, "grad-eps", {B}, "like eps (B) =", against);
    }
  }

  mech::neurlp_core::Sizes sizes;
  sizes.T = static_cast<int>(T);
  sizes.D = static_cast<int>(D);
  sizes.K = static_cast<int>(K);
  sizes.E = static_cast<int>(E);
  sizes.S = static_cast<int>(S * n_iv > 0 ? S : 0);
  sizes.n_iv = static_cast<int>(S * n_iv > 0 ? n_iv : 0);
  sizes.formulation = mech::parse_formulation(variant);
  sizes.gamma_alpha = gamma * alpha;
  sizes.equation_weight = equation_weight;
  sizes.initial_weight = initial_weight;
  sizes.smooth_weight = smooth_weight;
  try {
    mech::neurlp_core::check_sizes(sizes, "mech-solve");
  } catch (const mech::Error& error) {
    input_error(error.what());
  }
  if (dtype == DType::Float32)
    return run<float>(sizes, B, coeffs, rhs, iv, steps, grad_u, grad_eps, dtype, out_path, eps_path, grads_dir,
                      repeat);
  return run<double>(sizes, B, coeffs, rhs, iv, steps, grad_u, grad_eps, dtype, out_path, eps_path, grads_dir,
                     repeat);
}
