// SineFitModel: free per-grid-point order-2 ODE, learned rhs, initial values and steps, solved by
// NeuRLP (see sine_fit.h).
#include "models/sine_fit.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/error.h"

namespace mech::models {

namespace {

// The logit whose sigmoid is `step`; steps must lie in (0, 1) for the sigmoid parametrisation.
double step_logit(double step) { return std::log(step / (1.0 - step)); }

}  // namespace

SineFitModel::SineFitModel(const SineFitOptions& options, Generator* generator)
    : Module("SineFitModel"), options_(options) {
  MECH_CHECK(options.length >= 3, "SineFitModel: length {} must be at least 3 grid points", options.length);
  MECH_CHECK(options.initial_step > options.min_step && options.initial_step < 1.0,
             "SineFitModel: initial_step {} must lie in (min_step = {}, 1): steps are sigmoid(logit) clipped "
             "below at min_step",
             options.initial_step, options.min_step);
  MECH_CHECK(options.min_step > 0.0, "SineFitModel: min_step {} must be positive", options.min_step);
  const std::int64_t length = options.length;
  const auto float64 = TensorOptions().dtype(DType::Float64);
  Generator& source = generator != nullptr ? *generator : default_generator();

  std::vector<double> coefficients(static_cast<size_t>(length * 3));
  for (std::int64_t t = 0; t < length; ++t) {
    coefficients[static_cast<size_t>(t * 3 + 0)] = options.initial_stiffness + options.initial_noise * source.normal();
    coefficients[static_cast<size_t>(t * 3 + 1)] = options.initial_damping + options.initial_noise * source.normal();
    coefficients[static_cast<size_t>(t * 3 + 2)] = 1.0 + options.initial_noise * source.normal();
  }
  coefficients_ = register_parameter("coefficients", from_vector(coefficients, {1, 1, length, 1, 3}));
  rhs_ = register_parameter("rhs", zeros({1, 1, length}, float64));
  initial_ = register_parameter("initial", zeros({1, 1, 1, 2}, float64));
  step_logits_ = register_parameter("step_logits", full({1, length - 1, 1}, step_logit(options.initial_step), float64));
  // max_step 1: the steps are the plain sigmoid of the logits, clipped below.
  block_ = register_module("block", std::make_shared<MechanisticBlock>(MechanisticBlockOptions()
                                                                           .order(2)
                                                                           .iv_points(1)
                                                                           .iv_count(2)
                                                                           .gamma(options.gamma)
                                                                           .alpha(options.alpha)
                                                                           .min_step(options.min_step)
                                                                           .max_step(1.0)));
}

Tensor SineFitModel::steps() const {
  return block_->steps_from_logits(step_logits_).reshape({options_.length - 1});
}

SineFitSolution SineFitModel::solve() const {
  // Everything stays on the parameters' device: on a CUDA device NeuRLP runs its GPU solver.
  const Device device = coefficients_.device();
  MechanisticSolution result = block_->forward(coefficients_, rhs_, initial_, step_logits_);
  Tensor step_sizes = result.steps;
  // u is (1, T, 1, 3): value, first and second derivative.
  Tensor u = result.u.select(0, 0).select(1, 0);
  SineFitSolution solution;
  solution.value = u.select(1, 0);
  solution.velocity = u.select(1, 1);
  solution.curvature = u.select(1, 2);
  solution.steps = step_sizes.reshape({options_.length - 1});
  {
    NoGradGuard no_grad;
    std::vector<double> steps = solution.steps.to_vector<double>();  // copies to the host
    std::vector<double> times(steps.size() + 1, 0.0);
    for (size_t i = 0; i < steps.size(); ++i) times[i + 1] = times[i] + steps[i];
    solution.times = from_vector(times, {options_.length}, TensorOptions().device(device));
  }
  return solution;
}

Tensor SineFitModel::loss(const Tensor& target) const {
  MECH_CHECK(target.dim() == 1 && target.size(0) == options_.length,
             "SineFitModel::loss: target has shape {}, expected ({}) (one value per grid point)",
             shape_str(target.shape()), options_.length);
  return mse_loss(solve().value, target.to(DType::Float64));
}

double rms_difference(const std::vector<double>& a, const std::vector<double>& b) {
  MECH_CHECK(a.size() == b.size() && !a.empty(), "rms_difference: lengths {} and {} must be equal and non-zero",
             a.size(), b.size());
  double total = 0.0;
  for (size_t i = 0; i < a.size(); ++i) total += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(total / static_cast<double>(a.size()));
}

}  // namespace mech::models
