// MechanisticBlock: the layer that turns an encoder's outputs into the solution of a linear ODE
// (models/README.md, "The Mechanistic Block"). The encoder proposes, per batch element, the ODE's coefficients
// (constant in time or time-varying), its right-hand side, initial values and step sizes (as
// logits); the block solves the ODE with the differentiable NeuRLP op and returns u and its
// derivatives, so a loss on the solution trains the encoder through the solver.
//
//   auto block = std::make_shared<MechanisticBlock>(MechanisticBlockOptions().order(2).dimensions(1));
//   auto out = block->forward(coeffs, rhs, iv, step_logits);   // out.value(): u (B,T,D)
//
// Shapes (B batch, E equations, T grid points, D dimensions, K = order+1, S initial grid points):
//   coefficients (B,E,D,K) constant, repeated over T; or (B,E,T,D,K) time-varying
//   rhs          (B,E,T)
//   iv           (B,S,D,n_iv), or undefined when n_iv is 0
//   step_logits  (B,T-1,D): h = max(max_step * sigmoid(logit), min_step)
// The solution is (B,T,D,K): u, u', ..., u^(order) at every grid point.
#pragma once

#include <cstdint>
#include <string>

#include "nn/module.h"
#include "solvers/neurlp.h"

namespace mech::models {

struct MechanisticBlockOptions {
  MechanisticBlockOptions& order(int value) { order_ = value; return *this; }
  MechanisticBlockOptions& dimensions(std::int64_t value) { dimensions_ = value; return *this; }  // D
  MechanisticBlockOptions& equations(std::int64_t value) { equations_ = value; return *this; }    // E
  MechanisticBlockOptions& iv_points(std::int64_t value) { iv_points_ = value; return *this; }    // S
  MechanisticBlockOptions& iv_count(std::int64_t value) { iv_count_ = value; return *this; }      // n_iv
  MechanisticBlockOptions& formulation(Formulation value) { formulation_ = value; return *this; }
  MechanisticBlockOptions& gamma(double value) { gamma_ = value; return *this; }
  MechanisticBlockOptions& alpha(double value) { alpha_ = value; return *this; }
  MechanisticBlockOptions& min_step(double value) { min_step_ = value; return *this; }
  MechanisticBlockOptions& max_step(double value) { max_step_ = value; return *this; }
  // Row-group weights of the scalable formulation (ignored by mnn).
  MechanisticBlockOptions& equation_weight(double value) { equation_weight_ = value; return *this; }
  MechanisticBlockOptions& initial_weight(double value) { initial_weight_ = value; return *this; }
  MechanisticBlockOptions& smooth_weight(double value) { smooth_weight_ = value; return *this; }

  int order() const { return order_; }
  std::int64_t dimensions() const { return dimensions_; }
  std::int64_t equations() const { return equations_; }
  std::int64_t iv_points() const { return iv_points_; }
  std::int64_t iv_count() const { return iv_count_; }
  Formulation formulation() const { return formulation_; }
  double gamma() const { return gamma_; }
  double alpha() const { return alpha_; }
  double min_step() const { return min_step_; }
  double max_step() const { return max_step_; }
  double equation_weight() const { return equation_weight_; }
  double initial_weight() const { return initial_weight_; }
  double smooth_weight() const { return smooth_weight_; }

  // The solver options these settings stand for.
  NeurlpOptions solver_options() const;

 private:
  int order_ = 2;
  std::int64_t dimensions_ = 1;
  std::int64_t equations_ = 1;
  std::int64_t iv_points_ = 1;
  std::int64_t iv_count_ = 2;
  Formulation formulation_ = Formulation::Mnn;
  double gamma_ = 0.5, alpha_ = 0.1;
  double min_step_ = 1e-3, max_step_ = 0.1;
  double equation_weight_ = 1.0, initial_weight_ = 1.0, smooth_weight_ = 1.0;
};

// The block's output: the solution with its derivatives, and the solver's slack.
struct MechanisticSolution {
  Tensor u;      // (B,T,D,K)
  Tensor eps;    // (B)
  Tensor steps;  // (B,T-1,D): the step sizes used
  // u^(k) at every grid point, (B,T,D).
  Tensor derivative(std::int64_t k) const { return u.select(-1, k); }
  Tensor value() const { return derivative(0); }
};

class MechanisticBlock : public nn::Module {
 public:
  explicit MechanisticBlock(const MechanisticBlockOptions& options = {});

  // Steps from logits: h = max(max_step * sigmoid(logits), min_step).
  MechanisticSolution forward(const Tensor& coefficients, const Tensor& rhs, const Tensor& iv,
                              const Tensor& step_logits);
  // The same with step sizes given directly (a known sampling grid), (B,T-1,D), positive.
  MechanisticSolution forward_with_steps(const Tensor& coefficients, const Tensor& rhs, const Tensor& iv,
                                         const Tensor& steps);

  Tensor steps_from_logits(const Tensor& step_logits) const;
  // Constant (B,E,D,K) coefficients repeated over T grid points to (B,E,T,D,K); time-varying
  // ones are checked and returned as they are.
  Tensor expand_coefficients(const Tensor& coefficients, std::int64_t grid_points) const;

  const MechanisticBlockOptions& options() const { return options_; }

 protected:
  std::string extra_repr() const override;

 private:
  MechanisticBlockOptions options_;
};

}  // namespace mech::models
