// mech-solve: the command-line face of the NeuRLP solver for users who live in NumPy. Reads the
// problem from .npy files, solves it (and, with --grad-u, differentiates it), writes .npy files.
//
//   mech-solve --coeffs C.npy --rhs R.npy --steps H.npy [--iv V.npy] [--gamma 0.5] [--alpha 0.1]
//              [--variant mnn|scalable|hermite4] [--dtype float64|float32] --out U.npy [--eps-out E.npy]
//              [--grad-u GU.npy [--grad-eps GE.npy] --grads-out DIR] [--repeat N] [--device cpu|cuda]
//
// Shapes: C (B,E,T,D,K), R (B,E,T), H (B,T-1,D), V (B,S,D,n_iv), U (B,T,D,K), E (B); GU like U,
// GE like E. With --grad-u the gradients of sum(U*GU) + sum(E*GE) are written to
// DIR/{coeffs,rhs,iv,steps}.npy. Inputs may be float32 or float64; the solve and the outputs use
// --dtype. --repeat N runs the solve (and backward) N more times and prints "median_ms <value>"
// on standard error. Exit status: 0 on success; 2 for bad options, unreadable files, wrong shapes or
// bad values (NaN or Inf anywhere, a step <= 0), in one line naming the file and the expected shape
// or the value's flat index (the checks are tools/common/solve_inputs.h, shared with the fuzz
// target); 1 when a well-formed system is singular (the message names the batch element).
// --variant hermite4 runs the fourth-order formulation (solvers/hermite4_*.h): same files and
// shapes, eps written as zeros; with --dtype float32 a square system (E = D, P initial values at
// the first point) is solved by direct block elimination instead of the float32 normal equations.
// --device cuda solves every variant on the GPU (solvers/neurlp_gpu.h); without a device, or in a build
// without CUDA, it exits 2 saying so.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/npy.h"
#include "cuda/backend.h"
#include "solvers/hermite4_direct.h"
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

// The hermite4 solve of a validated problem (prepare_solve checks files, shapes and values the same
// way for every variant): forward, or with grad_u forward and backward in one pass.
template <class T>
mech::tools::SolveOutputs solve_hermite4_typed(const mech::tools::SolveProblem& problem) {
  namespace h4 = mech::neurlp_core::hermite4;
  const mech::neurlp_core::Sizes& z = problem.sizes;
  const std::int64_t B = problem.batch;
  const mech::TensorOptions options = mech::TensorOptions().dtype(problem.dtype);
  mech::tools::SolveOutputs out;
  out.u = mech::empty({B, z.T, z.D, z.K}, options);
  out.eps = mech::zeros({B}, options);
  const bool has_iv = z.S * z.n_iv > 0;
  const mech::neurlp_core::BatchInputs<T> inputs{problem.coeffs.data_ptr<T>(), problem.rhs.data_ptr<T>(),
                                                 has_iv ? problem.iv.data_ptr<T>() : nullptr,
                                                 problem.steps.data_ptr<T>()};
  const bool direct = std::is_same_v<T, float> && h4::is_square(z);
  if (!problem.grad_u.defined()) {
    if constexpr (std::is_same_v<T, float>)
      if (direct) {
        h4::direct_forward_batch<float>(z, B, inputs, out.u.data_ptr<float>());
        return out;
      }
    mech::neurlp_core::forward_batch<T>(z, B, inputs, out.u.data_ptr<T>(), nullptr, false);
    return out;
  }
  out.d_coeffs = mech::zeros(problem.coeffs.shape(), options);
  out.d_rhs = mech::zeros(problem.rhs.shape(), options);
  out.d_iv = mech::zeros(problem.iv.shape(), options);
  out.d_steps = mech::zeros(problem.steps.shape(), options);
  const mech::neurlp_core::BatchGradients<T> gradients{out.d_coeffs.data_ptr<T>(), out.d_rhs.data_ptr<T>(),
                                                       has_iv ? out.d_iv.data_ptr<T>() : nullptr,
                                                       out.d_steps.data_ptr<T>()};
  if constexpr (std::is_same_v<T, float>)
    if (direct) {
      auto kept = h4::direct_forward_batch<float>(z, B, inputs, out.u.data_ptr<float>());
      h4::direct_backward_batch<float>(*kept, inputs, problem.grad_u.data_ptr<float>(), gradients);
      return out;
    }
  mech::neurlp_core::forward_backward_batch<T>(z, B, inputs, out.u.data_ptr<T>(), nullptr,
                                               problem.grad_u.data_ptr<T>(), nullptr, gradients);
  return out;
}

mech::tools::SolveOutputs solve(const mech::tools::SolveProblem& problem, mech::Device device) {
  // On the GPU every formulation runs the one GPU driver; on the CPU hermite4 has its direct
  // float32 solve for square systems, so it keeps its own path there.
  if (problem.sizes.formulation != mech::neurlp_core::Formulation::Hermite4 || device.is_cuda())
    return mech::tools::run_solve(problem, device);
  return problem.dtype == mech::DType::Float32 ? solve_hermite4_typed<float>(problem)
                                               : solve_hermite4_typed<double>(problem);
}

int run(const mech::tools::SolveProblem& problem, mech::Device device, const std::string& out_path,
        const std::string& eps_path, const std::string& grads_dir, int repeat) {
  mech::tools::SolveOutputs outputs;
  try {
    outputs = solve(problem, device);
    std::vector<double> times;
    for (int i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      solve(problem, device);
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
      grads_dir, variant = "mnn", dtype_name = "float64", device_name = "cpu";
  double gamma = 0.5, alpha = 0.1, equation_weight = 1.0, initial_weight = 1.0, smooth_weight = 1.0;
  int repeat = 0;
  mech::tools::CommandLine cli(
      "mech-solve",
      "Solve a batch of linear ODEs with NeuRLP (the MNN solver) from .npy files; optionally differentiate.\n"
      "Shapes: coeffs (B,E,T,D,K), rhs (B,E,T), steps (B,T-1,D), iv (B,S,D,n_iv); out (B,T,D,K), eps (B).\n"
      "Exit status: 0 ok, 2 bad options/files/shapes/values (NaN, Inf, step <= 0), 1 singular system (names the\n"
      "batch element).");
  cli.add("coeffs", &coeffs_path, "coefficients C.npy (B,E,T,D,K), k = u, u', u'', ...");
  cli.add("rhs", &rhs_path, "right-hand side R.npy (B,E,T)");
  cli.add("steps", &steps_path, "step sizes H.npy (B,T-1,D), each > 0");
  cli.add("iv", &iv_path, "initial values V.npy (B,S,D,n_iv) (optional)");
  cli.add("gamma", &gamma, "relaxation gamma (mnn)");
  cli.add("alpha", &alpha, "relaxation alpha (mnn)");
  cli.add_choice("variant", &variant, {"mnn", "scalable", "hermite4"},
                 "formulation (hermite4: fourth order, eps written as zeros)");
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
  cli.add("repeat", &repeat, "run N more times and print median_ms on stderr (with --device cuda: copies included)");
  cli.add_choice("device", &device_name, {"cpu", "cuda"}, "where to solve");
  cli.parse_or_exit(argc, argv);
  if (coeffs_path.empty() || rhs_path.empty() || steps_path.empty() || out_path.empty())
    cli.fail("--coeffs, --rhs, --steps and --out are required");
  if (!grad_u_path.empty() && grads_dir.empty()) cli.fail("--grad-u needs --grads-out DIR");
  if (grad_u_path.empty() && (!grads_dir.empty() || !grad_eps_path.empty()))
    cli.fail("--grads-out and --grad-eps need --grad-u");
  if (repeat < 0) cli.fail("--repeat must be >= 0");
  if (device_name == "cuda" && !mech::cuda::is_available())
    cli.fail(fmt::format("--device cuda: no CUDA device is available ({}); use --device cpu",
                         mech::cuda::availability()));
  const mech::Device device = mech::Device::parse(device_name);

  mech::tools::SolveSettings settings;
  // hermite4's files and shapes are checked like the other variants' (scalable: no eps, same
  // weights); its own size rules are checked after.
  const bool hermite4 = variant == "hermite4";
  settings.variant = hermite4 ? "scalable" : variant;
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
  if (hermite4) {
    problem.sizes.formulation = mech::neurlp_core::Formulation::Hermite4;
    try {
      mech::neurlp_core::check_sizes(problem.sizes, "mech-solve");
    } catch (const mech::SolverError& error) {   // fewer rows than unknowns: a singular system
      std::fprintf(stderr, "mech-solve: %s\n", mech::tools::one_line(error.what()).c_str());
      return 1;
    } catch (const mech::Error& error) {
      input_error(error.what());
    }
  }
  return run(problem, device, out_path, eps_path, grads_dir, repeat);
}
