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
// shapes or non-finite values (one line naming the file and the expected shape; the checks are
// tools/common/solve_inputs.h, shared with the fuzz target), 1 when the solver fails
// (non-positive step, singular system; the message names the batch element).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/npy.h"
#include "tools/common/cli.h"
#include "tools/common/driver_checks.h"
#include "tools/common/solve_inputs.h"

namespace {

using mech::Tensor;

[[noreturn]] void input_error(const std::string& message) {
  std::fprintf(stderr, "mech-solve: %s\n", mech::tools::one_line(message).c_str());
  std::exit(2);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int run(const mech::tools::SolveProblem& problem, const std::string& out_path, const std::string& eps_path,
        const std::string& grads_dir, int repeat) {
  mech::tools::SolveOutputs outputs;
  try {
    outputs = mech::tools::run_solve(problem);
    std::vector<double> times;
    for (int i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      mech::tools::run_solve(problem);
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    if (repeat > 0) std::fprintf(stderr, "median_ms %.6f\n", median(times));
  } catch (const mech::Error& error) {
    std::fprintf(stderr, "mech-solve: %s\n", mech::tools::one_line(error.what()).c_str());
    return 1;
  }
  try {
    mech::save_npy(out_path, outputs.u);
    if (!eps_path.empty()) mech::save_npy(eps_path, outputs.eps);
    if (problem.grad_u.defined()) {
      std::filesystem::create_directories(grads_dir);
      mech::save_npy(grads_dir + "/coeffs.npy", outputs.d_coeffs);
      mech::save_npy(grads_dir + "/rhs.npy", outputs.d_rhs);
      mech::save_npy(grads_dir + "/iv.npy", outputs.d_iv);
      mech::save_npy(grads_dir + "/steps.npy", outputs.d_steps);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mech-solve: cannot write the outputs: %s\n", mech::tools::one_line(error.what()).c_str());
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

  mech::tools::SolveSettings settings;
  settings.variant = variant;
  settings.dtype = dtype_name == "float32" ? mech::DType::Float32 : mech::DType::Float64;
  settings.gamma = gamma;
  settings.alpha = alpha;
  settings.equation_weight = equation_weight;
  settings.initial_weight = initial_weight;
  settings.smooth_weight = smooth_weight;
  mech::tools::SolveProblem problem;
  try {
    mech::tools::SolveInputs inputs;
    inputs.coeffs = mech::tools::read_solve_input(coeffs_path, "coeffs");
    inputs.rhs = mech::tools::read_solve_input(rhs_path, "rhs");
    inputs.steps = mech::tools::read_solve_input(steps_path, "steps");
    if (!iv_path.empty()) inputs.iv = mech::tools::read_solve_input(iv_path, "iv");
    if (!grad_u_path.empty()) inputs.grad_u = mech::tools::read_solve_input(grad_u_path, "grad-u");
    if (!grad_eps_path.empty()) inputs.grad_eps = mech::tools::read_solve_input(grad_eps_path, "grad-eps");
    problem = mech::tools::prepare_solve(inputs, settings);
  } catch (const mech::Error& error) {
    input_error(error.what());
  }
  return run(problem, out_path, eps_path, grads_dir, repeat);
}
