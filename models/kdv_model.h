// The interface every KdV forecaster shares (the MNN of the paper and the ResNet and FNO
// baselines), and what the experiment measures with it: the autoregressive rollout and its NMSE.
// Frames are (B, F, P): B samples, F consecutive time frames, P = 256 spatial points.
//
//   auto next = model->predict(window.slice(1, 0, 10));        // (B, 9, P): the 9 frames after
//   auto loss = model->loss(window);                           // window (B, 19, P)
//   auto predicted = kdv_rollout(*model, truth.slice(1, 0, 10), 100);   // (N, 100, P), no grad
//   double nmse = kdv_nmse(predicted, truth.slice(1, 10, 110), 100);
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/tensor.h"
#include "nn/module.h"

namespace mech::models {

constexpr std::int64_t kKdvInputFrames = 10;   // a model reads 10 consecutive frames
constexpr std::int64_t kKdvAdvance = 9;        // and predicts the 9 after them
constexpr std::int64_t kKdvWindowFrames = 19;  // a training window: 10 in, 9 out

class KdvModel : public nn::Module {
 public:
  explicit KdvModel(std::string type_name = "KdvModel") : nn::Module(std::move(type_name)) {}
  // frames (B, 10, P) float32 -> (B, 9, P) float32: the 9 frames after the last input frame.
  virtual Tensor predict(const Tensor& frames) = 0;
  // window (B, 19, P): L1 between predict(frames 0..9) and frames 10..18, summed over space,
  // averaged over batch and frames (the paper's loss).
  virtual Tensor loss(const Tensor& window);
  Tensor forward(const Tensor& frames) override { return predict(frames); }
  virtual std::string kind() const = 0;  // "mnn", "resnet", "fno"
};

// Autoregressive rollout without gradients: from `initial` (N, 10, P), calls predict on the last
// 10 frames (true or predicted) until `frames` frames after them exist; returns (N, frames, P) in
// initial's dtype. Runs `batch` trajectories per call.
Tensor kdv_rollout(KdvModel& model, const Tensor& initial, std::int64_t frames, std::int64_t batch = 64);

// The paper's metric: per trajectory, the mean over the first `frames` frames of
// mean_x (predicted - truth)^2 / mean_x truth^2, then the mean over trajectories.
// predicted and truth (N, >= frames, P). A truth frame that is zero everywhere or not finite is
// an error; a prediction that is not finite (a diverged rollout) scores +infinity.
double kdv_nmse(const Tensor& predicted, const Tensor& truth, std::int64_t frames);

// The models' input check: frames (B, 10, P) of a floating dtype, returned as float32 (the
// encoders' dtype); anything else is a mech::Error naming `op` and the shape.
Tensor kdv_input_frames(const char* op, const Tensor& frames);

}  // namespace mech::models
