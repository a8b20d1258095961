// LogisticModel: Conv1d encoder -> (a, b, u0) -> NeuRLP solve of u' = a s + b s^2 (see logistic_model.h).
#include "models/logistic_model.h"

#include <cmath>

#include "core/error.h"

namespace mech::models {

namespace {

// The encoder works in units of each trajectory's last sample: a logistic curve scaled by c is
// the logistic curve with capacity cK and the same rate, so r is read from a scale-free input and
// the capacity as a factor on the last sample, which is already within about 15% of K for every
// curve of the data's parameter range. Outputs near zero mean r = 1 and K = the last sample.
constexpr double kStartScale = 0.1;  // the initial value is the first sample plus this times an output

}  // namespace

LogisticModel::LogisticModel(const LogisticModelOptions& options, Generator* generator)
    : Module("LogisticModel"), options_(options) {
  MECH_CHECK(options.length >= 8, "LogisticModel: length {} must be at least 8 samples", options.length);
  MECH_CHECK(options.dt > 0.0, "LogisticModel: dt {} must be positive", options.dt);
  MECH_CHECK(options.channels > 0 && options.hidden > 0, "LogisticModel: channels {} and hidden {} must be positive",
             options.channels, options.hidden);
  // Three stride-2 convolutions (kernel 5, padding 2) halve the length each time, rounding up.
  std::int64_t length = options.length;
  std::int64_t in_channels = 3;  // the trajectory, its finite-difference slope and its logarithm
  for (int layer = 0; layer < 3; ++layer) {
    auto conv = std::make_shared<nn::Conv1d>(
        nn::Conv1dOptions(in_channels, options.channels, 5).stride(2).padding(2).dtype(DType::Float64), generator);
    convolutions_.push_back(register_module("conv" + std::to_string(layer), conv));
    in_channels = options.channels;
    length = (length - 1) / 2 + 1;
  }
  dense_ = register_module("dense", std::make_shared<nn::Linear>(
                                        nn::LinearOptions(options.channels * length, options.hidden).dtype(DType::Float64),
                                        generator));
  head_ = register_module("head",
                          std::make_shared<nn::Linear>(nn::LinearOptions(options.hidden, 3).dtype(DType::Float64), generator));
  block_ = register_module("block", std::make_shared<MechanisticBlock>(MechanisticBlockOptions()
                                                                           .order(1)
                                                                           .iv_points(1)
                                                                           .iv_count(1)
                                                                           .gamma(options.gamma)
                                                                           .alpha(options.alpha)));
}

Tensor LogisticModel::encode(const Tensor& observed) {
  const std::int64_t count = observed.size(0), length = observed.size(1);
  const Tensor trajectories = observed / observed.slice(1, length - 1, length);
  // Central differences inside, one-sided at the two ends: (N, T).
  Tensor inner = (trajectories.slice(1, 2, length) - trajectories.slice(1, 0, length - 2)) / (2.0 * options_.dt);
  Tensor first = (trajectories.slice(1, 1, 2) - trajectories.slice(1, 0, 1)) / options_.dt;
  Tensor last = (trajectories.slice(1, length - 1, length) - trajectories.slice(1, length - 2, length - 1)) / options_.dt;
  Tensor slope = cat({first, inner, last}, 1);
  // log s grows with slope r while s << K, so the rate shows as a slope a convolution can read
  // off; the clamp keeps noisy samples near zero finite.
  Tensor logarithm = log(clamp(trajectories, 1e-3, std::nullopt));
  Tensor x = stack({trajectories, slope, logarithm}, 1);  // (N, 3, T)
  for (const auto& conv : convolutions_) x = tanh(conv->forward(x));
  x = tanh(dense_->forward(x.reshape({count, -1})));
  return head_->forward(x);  // (N, 3)
}

LogisticInference LogisticModel::infer(const Tensor& observed) {
  MECH_CHECK(observed.dim() == 2 && observed.size(1) == options_.length,
             "LogisticModel: trajectories have shape {}, expected (N, {})", shape_str(observed.shape()),
             options_.length);
  const Tensor s = observed.to(DType::Float64);
  const std::int64_t count = s.size(0), length = options_.length;
  // The encoder and the loss measure each curve in units of its last sample.
  const std::vector<double> last_samples = s.select(1, length - 1).to_vector<double>();
  for (size_t i = 0; i < last_samples.size(); ++i)
    MECH_CHECK(last_samples[i] > 0.0,
               "LogisticModel: trajectory {} of {} ends at {}, expected a positive last sample (curves are "
               "measured in units of it)",
               i, last_samples.size(), last_samples[i]);
  const Tensor raw = encode(s);
  LogisticInference out;
  out.rate = exp(raw.select(1, 0));
  const Tensor capacity = s.select(1, length - 1) * exp(raw.select(1, 1));
  out.quadratic = -out.rate / capacity;
  out.start = s.select(1, 0) + kStartScale * raw.select(1, 2);

  // u' = a s + b s^2: coefficient 0 on u and 1 on u', the known nonlinearity in the right-hand side.
  // Everything stays on the trajectories' device: on a CUDA device NeuRLP runs its GPU solver.
  const auto float64 = TensorOptions().dtype(DType::Float64).device(s.device());
  // Constant coefficients (B, E, D, K) = (N, 1, 1, 2): 0 on u, 1 on u'.
  Tensor coefficients = cat({zeros({count, 1, 1, 1}, float64), ones({count, 1, 1, 1}, float64)}, 3);
  Tensor rhs = (out.rate.unsqueeze(1) * s + out.quadratic.unsqueeze(1) * s * s).unsqueeze(1);  // (N, 1, T)
  Tensor initial = out.start.reshape({count, 1, 1, 1});
  Tensor steps = full({count, length - 1, 1}, options_.dt, float64);
  out.solution = block_->forward_with_steps(coefficients, rhs, initial, steps).value().select(2, 0);  // (N, T)
  return out;
}

Tensor LogisticModel::loss(const Tensor& trajectories) {
  LogisticInference inferred = infer(trajectories);
  // In units of each curve's last sample, like the encoder's input: otherwise curves with a large
  // capacity (K = 2) would weigh 16 times as much as those with a small one (K = 0.5), although
  // their rates are equally hard to infer.
  const Tensor observed = trajectories.to(DType::Float64);
  const Tensor scale = observed.slice(1, options_.length - 1, options_.length);
  return mse_loss(inferred.solution / scale, observed / scale);
}

double mean_relative_error(const std::vector<double>& estimate, const std::vector<double>& truth) {
  MECH_CHECK(estimate.size() == truth.size() && !truth.empty(),
             "mean_relative_error: {} estimates for {} true values (expected equal, non-zero counts)", estimate.size(),
             truth.size());
  double total = 0.0;
  for (size_t i = 0; i < truth.size(); ++i) total += std::abs(estimate[i] - truth[i]) / std::abs(truth[i]);
  return total / static_cast<double>(truth.size());
}

}  // namespace mech::models
