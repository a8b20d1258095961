// mech-solve's input validation and solve, as functions: the program and its fuzz target
// (tools/fuzz_mech_solve.cpp) run exactly the same path.
//
//   mech::tools::SolveInputs inputs;
//   inputs.coeffs = {mech::load_npy("C.npy"), "C.npy"};  ...
//   mech::tools::SolveProblem problem = mech::tools::prepare_solve(inputs, settings);  // IoError: exit 2
//   mech::tools::SolveOutputs outputs = mech::tools::run_solve(problem);               // SolverError: exit 1
//
// Shapes: coeffs (B,E,T,D,K), rhs (B,E,T), steps (B,T-1,D), iv (B,S,D,n_iv), grad_u (B,T,D,K),
// grad_eps (B); outputs u (B,T,D,K), eps (B) and, with grad_u, the gradients of
// sum(u*grad_u) + sum(eps*grad_eps) with respect to each input (its shape).
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "solvers/neurlp_system.h"

namespace mech::tools {

// One input array and where it came from (a file name, used in every message about it). An
// undefined tensor means the input was not given (only iv, grad_u and grad_eps may be absent).
struct SolveInput {
  Tensor tensor;
  std::string source;
};

struct SolveInputs {
  SolveInput coeffs, rhs, steps, iv, grad_u, grad_eps;
};

struct SolveSettings {
  std::string variant = "mnn";  // mnn | scalable
  DType dtype = DType::Float64; // the solve's and the outputs' dtype
  double gamma = 0.5, alpha = 0.1;
  double equation_weight = 1.0, initial_weight = 1.0, smooth_weight = 1.0;
};

// Validated inputs: contiguous, of settings.dtype, shapes consistent, values finite.
struct SolveProblem {
  neurlp_core::Sizes sizes;
  std::int64_t batch = 0;
  DType dtype = DType::Float64;
  Tensor coeffs, rhs, iv, steps, grad_u, grad_eps;  // iv (B,0,D,0) when absent; grads may be undefined
};

struct SolveOutputs {
  Tensor u, eps;                                // (B,T,D,K), (B)
  Tensor d_coeffs, d_rhs, d_iv, d_steps;        // defined only when grad_u was given
};

// Reads one .npy file as an input; any reading problem throws mech::IoError
// "cannot read <path> (<role>): <why>".
SolveInput read_solve_input(const std::string& path, const std::string& role);

// Checks dtypes (float32 or float64), ranks, shapes against coeffs, finiteness of every value,
// steps > 0 and the settings; converts to settings.dtype. Every problem with the inputs throws
// mech::IoError naming the source and, for shapes, the shape expected, for values the flat index.
// Shape checks come before value checks.
SolveProblem prepare_solve(const SolveInputs& inputs, const SolveSettings& settings);

// Solves (and differentiates when grad_u is defined). A system the solver cannot handle (singular)
// throws mech::SolverError naming the batch element. With a CUDA
// device the inputs are copied there, solved by the GPU solver (solvers/neurlp_gpu.h: forward keeping
// the factors, then backward) and the outputs copied back (every formulation; hermite4 writes eps as zeros).
SolveOutputs run_solve(const SolveProblem& problem, Device device = Device::cpu());

}  // namespace mech::tools
