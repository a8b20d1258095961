// MechanisticBlock: encoder outputs -> step sizes and full coefficient grid -> NeuRLP solve.
#include "models/mechanistic_block.h"

#include <fmt/format.h>

#include "core/error.h"

namespace mech::models {

namespace {
constexpr const char* kOp = "MechanisticBlock";
}

NeurlpOptions MechanisticBlockOptions::solver_options() const {
  NeurlpOptions solver;
  solver.formulation = formulation_;
  solver.gamma = gamma_;
  solver.alpha = alpha_;
  solver.equation_weight = equation_weight_;
  solver.initial_weight = initial_weight_;
  solver.smooth_weight = smooth_weight_;
  return solver;
}

MechanisticBlock::MechanisticBlock(const MechanisticBlockOptions& options)
    : Module("MechanisticBlock"), options_(options) {
  MECH_CHECK(options.order() >= 1, "{}: expected order >= 1, got {}", kOp, options.order());
  MECH_CHECK(options.dimensions() >= 1 && options.equations() >= 1,
             "{}: expected at least one dimension and one equation, got D = {}, E = {}", kOp,
             options.dimensions(), options.equations());
  MECH_CHECK(options.iv_points() >= 0 && options.iv_count() >= 0 && options.iv_count() <= options.order(),
             "{}: expected S >= 0 and 0 <= n_iv <= order = {}, got S = {}, n_iv = {}", kOp, options.order(),
             options.iv_points(), options.iv_count());
  MECH_CHECK(options.min_step() > 0 && options.max_step() > options.min_step(),
             "{}: expected 0 < min_step < max_step, got min_step {} and max_step {}", kOp, options.min_step(),
             options.max_step());
}

Tensor MechanisticBlock::steps_from_logits(const Tensor& step_logits) const {
  check_defined(kOp, step_logits, "step_logits");
  // Clipping below keeps the normal equations well conditioned (their condition grows as h shrinks);
  // below the clip the gradient is zero, as for any clamp.
  return clamp(sigmoid(step_logits) * options_.max_step(), options_.min_step(), std::nullopt);
}

Tensor MechanisticBlock::expand_coefficients(const Tensor& coefficients, std::int64_t grid_points) const {
  check_defined(kOp, coefficients, "coefficients");
  const std::int64_t E = options_.equations(), D = options_.dimensions(), K = options_.order() + 1;
  const Shape& shape = coefficients.shape();
  if (shape.size() == 4) {
    MECH_CHECK(shape[1] == E && shape[2] == D && shape[3] == K,
               "{}: expected constant coefficients of shape (B,{},{},{}) (B,E,D,K), got {}", kOp, E, D, K,
               shape_str(shape));
    return coefficients.unsqueeze(2).expand({shape[0], E, grid_points, D, K});
  }
  MECH_CHECK(shape.size() == 5 && shape[1] == E && shape[2] == grid_points && shape[3] == D && shape[4] == K,
             "{}: expected time-varying coefficients of shape (B,{},{},{},{}) (B,E,T,D,K), got {}", kOp, E,
             grid_points, D, K, shape_str(shape));
  return coefficients;
}

MechanisticSolution MechanisticBlock::forward(const Tensor& coefficients, const Tensor& rhs, const Tensor& iv,
                                              const Tensor& step_logits) {
  return forward_with_steps(coefficients, rhs, iv, steps_from_logits(step_logits));
}

MechanisticSolution MechanisticBlock::forward_with_steps(const Tensor& coefficients, const Tensor& rhs,
                                                         const Tensor& iv, const Tensor& steps) {
  check_defined(kOp, rhs, "rhs");
  check_defined(kOp, steps, "steps");
  const std::int64_t E = options_.equations(), D = options_.dimensions();
  MECH_CHECK(rhs.dim() == 3 && rhs.size(1) == E && rhs.size(2) >= 2,
             "{}: expected rhs of shape (B,{},T) (B,E,T) with T >= 2, got {}", kOp, E, shape_str(rhs.shape()));
  const std::int64_t B = rhs.size(0), T = rhs.size(2);
  MECH_CHECK(steps.shape() == Shape({B, T - 1, D}), "{}: expected steps of shape [{}, {}, {}] (B,T-1,D), got {}",
             kOp, B, T - 1, D, shape_str(steps.shape()));
  Tensor grid = expand_coefficients(coefficients, T);
  MECH_CHECK(grid.size(0) == B, "{}: coefficients batch {} differs from rhs batch {}", kOp, grid.size(0), B);
  Tensor initial = iv;
  if (options_.iv_count() == 0 || options_.iv_points() == 0) {
    initial = Tensor();
  } else {
    check_defined(kOp, iv, "iv");
    MECH_CHECK(iv.shape() == Shape({B, options_.iv_points(), D, options_.iv_count()}),
               "{}: expected iv of shape [{}, {}, {}, {}] (B,S,D,n_iv), got {}", kOp, B, options_.iv_points(), D,
               options_.iv_count(), shape_str(iv.shape()));
  }
  NeurlpResult result = neurlp(grid, rhs, initial, steps, options_.solver_options());
  return MechanisticSolution{result.u, result.eps, steps};
}

std::string MechanisticBlock::extra_repr() const {
  return fmt::format("order={}, D={}, E={}, S={}, n_iv={}, formulation={}, gamma={}, alpha={}, step=[{}, {}]",
                     options_.order(), options_.dimensions(), options_.equations(), options_.iv_points(),
                     options_.iv_count(), formulation_name(options_.formulation()), options_.gamma(),
                     options_.alpha(), options_.min_step(), options_.max_step());
}

}  // namespace mech::models
