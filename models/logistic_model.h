// Per-trajectory parameter inference for logistic growth x' = r x - (r/K) x^2 with a Conv1d
// encoder and NeuRLP. The encoder reads one observed trajectory s(t) (divided by its last sample,
// as three channels: s, its finite-difference slope and log s)
// and outputs a rate a = exp(o0), a capacity s(T-1) exp(o1), hence the quadratic coefficient
// b = -a / capacity, and a correction to the initial value; the ODE is made linear by
// evaluating the nonlinearity on the observation,
//     u' = a s(t) + b s(t)^2,   u(0) = s(0) + correction,
// which NeuRLP solves on the observation grid; training minimises |u - s|^2 only (reconstruction),
// so a and b are never shown the true (r, -r/K): they are what makes the solution reproduce the
// data, and for a logistic curve that is the true pair.
//
//   mech::models::LogisticModel model(mech::models::LogisticModelOptions{.length = 100, .dt = 0.1});
//   auto inferred = model.infer(batch);          // batch (N, T) observed trajectories
//   auto loss = model.loss(batch);               // mean squared reconstruction error
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "models/mechanistic_block.h"
#include "nn/conv1d.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace mech::models {

struct LogisticModelOptions {
  std::int64_t length = 100;  // T, samples per trajectory
  double dt = 0.1;            // sampling interval (the solver's fixed step)
  std::int64_t channels = 16; // of each Conv1d layer
  std::int64_t hidden = 64;   // of the dense layer after the convolutions
  double gamma = 0.5, alpha = 0.1;
};

// Inferred per trajectory, each (N).
struct LogisticInference {
  Tensor rate;       // a, estimating r
  Tensor quadratic;  // b, estimating -r/K
  Tensor start;      // u(0)
  Tensor solution;   // (N, T) u on the grid
};

class LogisticModel : public nn::Module {
 public:
  explicit LogisticModel(const LogisticModelOptions& options = {}, Generator* generator = nullptr);

  // trajectories (N, T) in float32 or float64, each ending at a positive value; results in float64.
  LogisticInference infer(const Tensor& trajectories);
  // Mean squared error between the solution and the observed trajectories, each divided by its
  // last sample.
  Tensor loss(const Tensor& trajectories);

  const LogisticModelOptions& options() const { return options_; }

 private:
  Tensor encode(const Tensor& observed);  // (N, 3) raw encoder outputs

  LogisticModelOptions options_;
  std::vector<std::shared_ptr<nn::Conv1d>> convolutions_;
  std::shared_ptr<nn::Linear> dense_;
  std::shared_ptr<nn::Linear> head_;
  std::shared_ptr<MechanisticBlock> block_;  // order 1, D = E = 1, u(0) given
};

// Mean over i of |estimate_i - truth_i| / |truth_i|.
double mean_relative_error(const std::vector<double>& estimate, const std::vector<double>& truth);

}  // namespace mech::models
