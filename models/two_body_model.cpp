// TwoBodyModel: MLP encoder over the observed window -> time-varying linear second-order ODE for
// the next segment -> NeuRLP; autoregressive rollout (see two_body_model.h).
#include "models/two_body_model.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "models/datasets.h"
#include "nn/activation.h"
#include "nn/linear.h"

namespace mech::models {

namespace {

constexpr std::int64_t kPositions = 4;  // D = E: x1, y1, x2, y2
constexpr std::int64_t kState = static_cast<std::int64_t>(kTwoBodyStateSize);
// Outputs per grid point: the 4 x 4 coupling and 4 forcing values.
constexpr std::int64_t kOutputsPerPoint = kPositions * kPositions + kPositions;

void check_states(const char* op, const Tensor& states, const char* what) {
  MECH_CHECK(states.dim() == 3 && states.size(2) == kState, "{}: {} has shape {}, expected (B, steps, {})", op, what,
             shape_str(states.shape()), kState);
}

}  // namespace

TwoBodyModel::TwoBodyModel(const TwoBodyModelOptions& options, Generator* generator)
    : Module("TwoBodyModel"), options_(options) {
  MECH_CHECK(options.window >= 2 && options.segment >= 1 && options.hidden > 0,
             "TwoBodyModel: window {} (>= 2), segment {} (>= 1) and hidden {} (> 0) out of range", options.window,
             options.segment, options.hidden);
  MECH_CHECK(options.dt > 0.0, "TwoBodyModel: dt {} must be positive", options.dt);
  const std::int64_t points = options.segment + 1;
  auto layer = [&](std::int64_t in, std::int64_t out) {
    return std::make_shared<nn::Linear>(nn::LinearOptions(in, out).dtype(DType::Float64), generator);
  };
  encoder_ = register_module("encoder", std::make_shared<nn::Sequential>());
  encoder_->push_back(layer(options.window * kState, options.hidden));
  encoder_->push_back(std::make_shared<nn::Tanh>());
  encoder_->push_back(layer(options.hidden, options.hidden));
  encoder_->push_back(std::make_shared<nn::Tanh>());
  auto head = layer(options.hidden, points * kOutputsPerPoint);
  // A fresh model starts close to free flight (no coupling, no forcing), the constant-velocity
  // baseline, rather than at a random stiff system.
  {
    NoGradGuard no_grad;
    head->weight().mul_(0.1);
    head->bias().zero_();
  }
  encoder_->push_back(head);
  block_ = register_module("block", std::make_shared<MechanisticBlock>(MechanisticBlockOptions()
                                                                           .order(2)
                                                                           .dimensions(kPositions)
                                                                           .equations(kPositions)
                                                                           .iv_points(1)
                                                                           .iv_count(2)
                                                                           .gamma(options.gamma)
                                                                           .alpha(options.alpha)));
}

Tensor TwoBodyModel::predict_segment(const Tensor& window_in) {
  check_states("TwoBodyModel::predict_segment", window_in, "window");
  MECH_CHECK(window_in.size(1) == options_.window, "TwoBodyModel::predict_segment: window has {} states, expected {}",
             window_in.size(1), options_.window);
  const Tensor window = window_in.to(DType::Float64);
  const std::int64_t batch = window.size(0), points = options_.segment + 1;

  // B batch, T = segment + 1 grid points, E = D = 4 position coordinates, K = 3 (u, u', u'').
  // Everything stays on the window's device: on a CUDA device NeuRLP runs its GPU solver.
  const auto float64 = TensorOptions().dtype(DType::Float64).device(window.device());
  Tensor encoded = encoder_->forward(window.reshape({batch, -1}));  // (B, T * 20)
  Tensor coupling = encoded.slice(1, 0, points * kPositions * kPositions).reshape({batch, points, kPositions, kPositions});
  Tensor forcing = encoded.slice(1, points * kPositions * kPositions, points * kOutputsPerPoint)
                       .reshape({batch, points, kPositions});
  std::vector<double> identity(static_cast<size_t>(kPositions * kPositions), 0.0);
  for (std::int64_t e = 0; e < kPositions; ++e) identity[static_cast<size_t>(e * kPositions + e)] = 1.0;
  Tensor unit = from_vector(identity, {1, kPositions, 1, kPositions}, float64).expand({batch, kPositions, points, kPositions});
  Tensor value_coefficients = coupling.permute({0, 2, 1, 3});  // (B, E, T, D)
  Tensor coefficients = stack({value_coefficients, zeros({batch, kPositions, points, kPositions}, float64), unit}, 4);
  Tensor rhs = forcing.permute({0, 2, 1});  // (B, E, T)
  Tensor last = window.select(1, options_.window - 1);  // (B, 8)
  Tensor initial = stack({last.slice(1, 0, kPositions), last.slice(1, kPositions, kState)}, 2).unsqueeze(1);  // (B,1,D,2)
  Tensor steps = full({batch, points - 1, kPositions}, options_.dt, float64);
  Tensor u = block_->forward_with_steps(coefficients, rhs, initial, steps).u.slice(1, 1, points);  // (B, segment, D, K)
  return cat({u.select(3, 0), u.select(3, 1)}, 2);  // (B, segment, 8)
}

Tensor TwoBodyModel::rollout(const Tensor& window_in, std::int64_t steps) {
  check_states("TwoBodyModel::rollout", window_in, "window");
  MECH_CHECK(steps >= 1, "TwoBodyModel::rollout: steps {} must be positive", steps);
  Tensor window = window_in.to(DType::Float64);
  std::vector<Tensor> pieces;
  std::int64_t predicted = 0;
  while (predicted < steps) {
    Tensor segment = predict_segment(window);
    pieces.push_back(segment);
    predicted += segment.size(1);
    window = cat({window, segment}, 1).slice(1, segment.size(1), window.size(1) + segment.size(1));
  }
  return cat(pieces, 1).slice(1, 0, steps);
}

Tensor TwoBodyModel::loss(const Tensor& window, const Tensor& future) {
  check_states("TwoBodyModel::loss", future, "future");
  MECH_CHECK(future.size(1) >= 1 && future.size(0) == window.size(0),
             "TwoBodyModel::loss: future has shape {} for a window of shape {}, expected (B, n >= 1, 8) with the "
             "window's B",
             shape_str(future.shape()), shape_str(window.shape()));
  return mse_loss(rollout(window, future.size(1)), future.to(DType::Float64));
}

std::vector<double> position_error_by_step(const Tensor& prediction, const Tensor& truth) {
  check_states("position_error_by_step", prediction, "prediction");
  MECH_CHECK(prediction.shape() == truth.shape(), "position_error_by_step: prediction {} and truth {} differ in shape",
             shape_str(prediction.shape()), shape_str(truth.shape()));
  const std::vector<double> p = prediction.to_vector<double>(), q = truth.to_vector<double>();
  const auto batch = static_cast<size_t>(prediction.size(0)), steps = static_cast<size_t>(prediction.size(1));
  std::vector<double> error(steps, 0.0);
  for (size_t b = 0; b < batch; ++b)
    for (size_t t = 0; t < steps; ++t) {
      const size_t at = (b * steps + t) * kTwoBodyStateSize;
      for (size_t body = 0; body < 2; ++body) {
        const double dx = p[at + 2 * body] - q[at + 2 * body], dy = p[at + 2 * body + 1] - q[at + 2 * body + 1];
        error[t] += std::sqrt(dx * dx + dy * dy) / (2.0 * static_cast<double>(batch));
      }
    }
  return error;
}

Tensor constant_velocity_rollout(const Tensor& window, std::int64_t steps, double dt) {
  check_states("constant_velocity_rollout", window, "window");
  Tensor last = window.to(DType::Float64).to(Device::cpu()).select(1, window.size(1) - 1);  // (B, 8)
  Tensor position = last.slice(1, 0, kPositions).unsqueeze(1), velocity = last.slice(1, kPositions, kState).unsqueeze(1);
  Tensor elapsed = arange(1.0, static_cast<double>(steps) + 0.5, 1.0, TensorOptions().dtype(DType::Float64))
                       .reshape({1, steps, 1}) * dt;
  Tensor positions = position + velocity * elapsed;  // (B, steps, 4)
  return cat({positions, velocity.expand({-1, steps, -1})}, 2);
}

}  // namespace mech::models
