// The paper's damped-sine fit: one observed trajectory explained by an order-2 linear ODE whose
// coefficients are FREE at every grid point, with a learned right-hand side, learned initial values
// and learned step sizes (sigmoid of a logit, clipped below), all solved by NeuRLP and trained on
// the squared distance between the solution u and the data.
//
//   mech::models::SineFitModel model(mech::models::SineFitOptions{.length = 200, .initial_step = 0.05});
//   mech::nn::Adam optimizer(model.parameters(), mech::nn::AdamOptions(1e-2));
//   for (...) { optimizer.zero_grad(); auto loss = model.loss(data); loss.backward(); optimizer.step(); }
//
// Nothing ties the learned ODE to a damped oscillator: with T free coefficient triples it can fit
// almost any smooth curve, which is the point of the example (the solver is a layer that can
// represent and fit a trajectory); the learned steps show where it needs a finer or coarser grid.
#pragma once

#include <cstdint>
#include <vector>

#include "core/generator.h"
#include <memory>

#include "models/mechanistic_block.h"
#include "nn/module.h"

namespace mech::models {

struct SineFitOptions {
  std::int64_t length = 200;   // T, grid points (one per observation)
  double initial_step = 0.05;  // every step starts here (the data's sampling interval)
  double min_step = 1e-3;      // steps are sigmoid(logit) clipped below at this
  double gamma = 0.5, alpha = 0.1;
  // Initial coefficients (of u, u', u'') before the small random perturbation; the unit
  // oscillator u'' + u = 0 is a neutral start that is far from the data's ODE.
  double initial_stiffness = 1.0, initial_damping = 0.0;
  double initial_noise = 0.01;  // standard deviation of the perturbation of the coefficients
};

// What one solve produces, each a 1-D tensor over the grid.
struct SineFitSolution {
  Tensor value;       // u (T)
  Tensor velocity;    // u' (T)
  Tensor curvature;   // u'' (T)
  Tensor steps;       // (T - 1) the step sizes used
  Tensor times;       // (T) cumulative sum of the steps from 0
};

class SineFitModel : public nn::Module {
 public:
  explicit SineFitModel(const SineFitOptions& options = {}, Generator* generator = nullptr);

  // Solves the learned ODE (no input: the model is the trajectory).
  SineFitSolution solve() const;
  // Mean squared error of u against `target` (T values, any float dtype).
  Tensor loss(const Tensor& target) const;
  // The step sizes actually used: max(sigmoid(logits), min_step), shape (T - 1).
  Tensor steps() const;

  const SineFitOptions& options() const { return options_; }
  Tensor coefficients() const { return coefficients_; }  // (1, 1, T, 1, 3)

 private:
  SineFitOptions options_;
  Tensor coefficients_;  // (B=1, E=1, T, D=1, K=3)
  Tensor rhs_;           // (1, 1, T)
  Tensor initial_;       // (1, S=1, D=1, 2): u(0), u'(0)
  Tensor step_logits_;   // (1, T-1, 1)
  std::shared_ptr<MechanisticBlock> block_;  // order 2, D = E = 1, u(0) and u'(0) given
};

// Root mean squared difference of two equally long series.
double rms_difference(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace mech::models
