// mech-solve's validation (dtypes, shapes, finite values, settings) and its batch solve.
#include "tools/common/solve_inputs.h"

#include <climits>
#include <cmath>

#include <fmt/format.h>

#include "autograd/anomaly.h"
#include "core/error.h"
#include "core/npy.h"
#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_batch.h"

namespace mech::tools {
namespace {

[[noreturn]] void input_error(const std::string& message) { throw IoError(message); }

// A given input as a contiguous tensor of `dtype`, after checking its dtype.
Tensor converted(const SolveInput& input, const char* role, DType dtype) {
  if (!is_floating(input.tensor.dtype()))
    input_error(fmt::format("{} ({}) holds {} values, expected float32 or float64", input.source, role,
                            dtype_name(input.tensor.dtype())));
  return input.tensor.to(dtype).contiguous();
}

void expect_shape(const Tensor& tensor, const std::string& source, const char* role, const Shape& expected,
                  const char* legend, const std::string& against) {
  if (tensor.shape() != expected)
    input_error(fmt::format("{} ({}) has shape {}, expected {} {}{}", source, role, shape_str(tensor.shape()), legend,
                            shape_str(expected), against));
}

// NaN or Inf anywhere in an input is the caller's data problem, not a solver failure: named here
// with the first offending index so it can be found in the file.
void expect_finite(const Tensor& tensor, const std::string& source, const char* role) {
  if (!tensor.defined() || all_finite(tensor)) return;
  const std::vector<double> values = tensor.to_vector<double>();
  for (std::size_t index = 0; index < values.size(); ++index)
    if (!std::isfinite(values[index]))
      input_error(fmt::format("{} ({}) holds a non-finite value ({}) at flat index {}, expected finite numbers",
                              source, role, values[index], index));
}

// A step of zero or less is a bad input value like NaN (exit 2), not a failure of the solver: the
// problem is not an ODE on a grid. Named like a non-finite value, with its flat index.
void expect_positive_steps(const Tensor& steps, const std::string& source) {
  const std::vector<double> values = steps.to_vector<double>();
  for (std::size_t index = 0; index < values.size(); ++index)
    if (!(values[index] > 0))
      input_error(fmt::format("{} (steps) holds a non-positive step ({}) at flat index {}, expected steps > 0",
                              source, values[index], index));
}

template <class T>
SolveOutputs solve_typed(const SolveProblem& problem) {
  using namespace neurlp_core;
  const Sizes& sizes = problem.sizes;
  const std::int64_t batch = problem.batch;
  const TensorOptions options = TensorOptions().dtype(problem.dtype);
  SolveOutputs outputs;
  outputs.u = empty({batch, sizes.T, sizes.D, sizes.K}, options);
  outputs.eps = zeros({batch}, options);
  const bool has_iv = sizes.S * sizes.n_iv > 0;
  const BatchInputs<T> inputs{problem.coeffs.data_ptr<T>(), problem.rhs.data_ptr<T>(),
                              has_iv ? problem.iv.data_ptr<T>() : nullptr, problem.steps.data_ptr<T>()};
  if (!problem.grad_u.defined()) {
    forward_batch<T>(sizes, batch, inputs, outputs.u.data_ptr<T>(), outputs.eps.data_ptr<T>(), false);
    return outputs;
  }
  outputs.d_coeffs = zeros(problem.coeffs.shape(), options);
  outputs.d_rhs = zeros(problem.rhs.shape(), options);
  outputs.d_iv = zeros(problem.iv.shape(), options);
  outputs.d_steps = zeros(problem.steps.shape(), options);
  forward_backward_batch<T>(sizes, batch, inputs, outputs.u.data_ptr<T>(), outputs.eps.data_ptr<T>(),
                            problem.grad_u.data_ptr<T>(),
                            problem.grad_eps.defined() ? problem.grad_eps.data_ptr<T>() : nullptr,
                            {outputs.d_coeffs.data_ptr<T>(), outputs.d_rhs.data_ptr<T>(),
                             has_iv ? outputs.d_iv.data_ptr<T>() : nullptr, outputs.d_steps.data_ptr<T>()});
  return outputs;
}

// The same on a CUDA device: inputs copied over, the GPU forward (keeping its factors when a
// backward follows) and backward, outputs copied back to the host.
template <class T>
SolveOutputs solve_on_device(const SolveProblem& problem, Device device) {
  using neurlp_core::BatchInputs;
  const neurlp_core::Sizes& sizes = problem.sizes;
  const std::int64_t batch = problem.batch;
  const TensorOptions options = TensorOptions().dtype(problem.dtype).device(device);
  const bool has_iv = sizes.S * sizes.n_iv > 0;
  const Tensor coeffs = problem.coeffs.to(device), rhs = problem.rhs.to(device), steps = problem.steps.to(device);
  const Tensor iv = has_iv ? problem.iv.to(device) : Tensor();
  const BatchInputs<T> inputs{coeffs.data_ptr<T>(), rhs.data_ptr<T>(), has_iv ? iv.data_ptr<T>() : nullptr,
                              steps.data_ptr<T>()};
  Tensor u = empty({batch, sizes.T, sizes.D, sizes.K}, options), eps = zeros({batch}, options);
  const bool backward = problem.grad_u.defined();
  auto factors = neurlp_gpu::forward_batch<T>(sizes, batch, inputs, u.data_ptr<T>(), eps.data_ptr<T>(), backward,
                                                device.index);
  SolveOutputs outputs;
  if (backward) {
    const Tensor grad_u = problem.grad_u.to(device);
    const Tensor grad_eps = problem.grad_eps.defined() ? problem.grad_eps.to(device) : Tensor();
    Tensor d_coeffs = zeros(problem.coeffs.shape(), options), d_rhs = zeros(problem.rhs.shape(), options),
           d_iv = zeros(problem.iv.shape(), options), d_steps = zeros(problem.steps.shape(), options);
    neurlp_gpu::backward_batch<T>(*factors, inputs, u.data_ptr<T>(), eps.data_ptr<T>(), grad_u.data_ptr<T>(),
                                    grad_eps.defined() ? grad_eps.data_ptr<T>() : nullptr,
                                    {d_coeffs.data_ptr<T>(), d_rhs.data_ptr<T>(),
                                     has_iv ? d_iv.data_ptr<T>() : nullptr, d_steps.data_ptr<T>()});
    outputs.d_coeffs = d_coeffs.to(Device::cpu());
    outputs.d_rhs = d_rhs.to(Device::cpu());
    outputs.d_iv = d_iv.to(Device::cpu());
    outputs.d_steps = d_steps.to(Device::cpu());
  }
  outputs.u = u.to(Device::cpu());
  outputs.eps = eps.to(Device::cpu());
  return outputs;
}

}  // namespace

SolveInput read_solve_input(const std::string& path, const std::string& role) {
  try {
    return {load_npy(path), path};
  } catch (const Error& error) {
    throw IoError(fmt::format("cannot read {} ({}): {}", path, role, error.what()));
  }
}

SolveProblem prepare_solve(const SolveInputs& inputs, const SolveSettings& settings) {
  if (settings.dtype != DType::Float32 && settings.dtype != DType::Float64)
    input_error(fmt::format("mech-solve: dtype {} is not float32 or float64", dtype_name(settings.dtype)));
  for (double value : {settings.gamma, settings.alpha, settings.equation_weight, settings.initial_weight,
                       settings.smooth_weight})
    if (!(std::isfinite(value) && value >= 0))
      input_error(fmt::format("mech-solve: gamma, alpha and the weights must be finite and >= 0, got {}", value));
  if (!inputs.coeffs.tensor.defined() || !inputs.rhs.tensor.defined() || !inputs.steps.tensor.defined())
    input_error("mech-solve: coeffs, rhs and steps are required");
  if (inputs.grad_eps.tensor.defined() && !inputs.grad_u.tensor.defined())
    input_error("mech-solve: grad-eps needs grad-u");

  const DType dtype = settings.dtype;
  SolveProblem problem;
  problem.dtype = dtype;
  problem.coeffs = converted(inputs.coeffs, "coeffs", dtype);
  const Shape& c = problem.coeffs.shape();
  const std::string& coeffs_source = inputs.coeffs.source;
  if (c.size() != 5)
    input_error(fmt::format("{} (coeffs) has shape {}, expected 5 dimensions (B,E,T,D,K)", coeffs_source, shape_str(c)));
  const std::int64_t B = c[0], E = c[1], T = c[2], D = c[3], K = c[4];
  if (B < 1 || E < 1 || T < 2 || D < 1 || K < 2 || E > INT_MAX || T > INT_MAX || D > INT_MAX || K > INT_MAX)
    input_error(fmt::format("{} (coeffs) has shape {}, expected (B,E,T,D,K) with B, E, D >= 1, T >= 2, K >= 2",
                            coeffs_source, shape_str(c)));
  const std::string against = fmt::format(" to match {} {}", coeffs_source, shape_str(c));
  problem.rhs = converted(inputs.rhs, "rhs", dtype);
  expect_shape(problem.rhs, inputs.rhs.source, "rhs", {B, E, T}, "(B,E,T) =", against);
  problem.steps = converted(inputs.steps, "steps", dtype);
  expect_shape(problem.steps, inputs.steps.source, "steps", {B, T - 1, D}, "(B,T-1,D) =", against);
  std::int64_t S = 0, n_iv = 0;
  if (inputs.iv.tensor.defined()) {
    problem.iv = converted(inputs.iv, "iv", dtype);
    const Shape& v = problem.iv.shape();
    if (v.size() != 4 || v[0] != B || v[2] != D || v[1] > T || v[3] >= K)
      input_error(fmt::format("{} (iv) has shape {}, expected (B,S,D,n_iv) = [{}, S, {}, n_iv] with S <= {} and "
                              "n_iv < {}{}",
                              inputs.iv.source, shape_str(v), B, D, T, K, against));
    S = v[1];
    n_iv = v[3];
  } else {
    problem.iv = zeros({B, 0, D, 0}, TensorOptions().dtype(dtype));
  }
  if (inputs.grad_u.tensor.defined()) {
    problem.grad_u = converted(inputs.grad_u, "grad-u", dtype);
    expect_shape(problem.grad_u, inputs.grad_u.source, "grad-u", {B, T, D, K}, "like u (B,T,D,K) =", against);
    if (inputs.grad_eps.tensor.defined()) {
      problem.grad_eps = converted(inputs.grad_eps, "grad-eps", dtype);
      expect_shape(problem.grad_eps, inputs.grad_eps.source, "grad-eps", {B}, "like eps (B) =", against);
    }
  }
  // Values are checked after the conversion: a float64 value too large for float32 becomes Inf
  // and is refused here rather than inside the solver.
  expect_finite(problem.coeffs, coeffs_source, "coeffs");
  expect_finite(problem.rhs, inputs.rhs.source, "rhs");
  expect_finite(problem.steps, inputs.steps.source, "steps");
  expect_positive_steps(problem.steps, inputs.steps.source);
  if (inputs.iv.tensor.defined()) expect_finite(problem.iv, inputs.iv.source, "iv");
  expect_finite(problem.grad_u, inputs.grad_u.source, "grad-u");
  expect_finite(problem.grad_eps, inputs.grad_eps.source, "grad-eps");

  neurlp_core::Sizes& sizes = problem.sizes;
  sizes.T = static_cast<int>(T);
  sizes.D = static_cast<int>(D);
  sizes.K = static_cast<int>(K);
  sizes.E = static_cast<int>(E);
  sizes.S = static_cast<int>(S * n_iv > 0 ? S : 0);
  sizes.n_iv = static_cast<int>(S * n_iv > 0 ? n_iv : 0);
  try {
    sizes.formulation = parse_formulation(settings.variant);
  } catch (const Error& error) {
    input_error(error.what());
  }
  sizes.gamma_alpha = settings.gamma * settings.alpha;
  sizes.equation_weight = settings.equation_weight;
  sizes.initial_weight = settings.initial_weight;
  sizes.smooth_weight = settings.smooth_weight;
  try {
    neurlp_core::check_sizes(sizes, "mech-solve");
  } catch (const Error& error) {
    input_error(fmt::format("{}: {}", coeffs_source, error.what()));
  }
  problem.batch = B;
  return problem;
}

SolveOutputs run_solve(const SolveProblem& problem, Device device) {
  if (device.is_cuda())
    return problem.dtype == DType::Float32 ? solve_on_device<float>(problem, device)
                                           : solve_on_device<double>(problem, device);
  return problem.dtype == DType::Float32 ? solve_typed<float>(problem) : solve_typed<double>(problem);
}

}  // namespace mech::tools
