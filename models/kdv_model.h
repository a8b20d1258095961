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

// How a run trains, shared by every model so that the comparison is on the same data, loss and
// budget (the drivers read it; models/README.md, "KdV", says how the demo was tuned).
enum class KdvLrSchedule {
  Cosine,   // lr -> final_lr along half a cosine over `iterations` (the demo)
  Plateau,  // ReduceLROnPlateau on the validation loss (the paper's)
};

struct KdvTrainingPreset {
  std::int64_t train_trajectories = 0, valid_trajectories = 0, test_trajectories = 0;
  std::int64_t batch = 32;       // windows per step, drawn uniformly from every training window
  std::int64_t iterations = 0;   // optimizer steps in all
  double lr = 1e-3;              // Adam
  double adam_beta2 = 0.999;     // Adam's second-moment decay (PyTorch's default)
  double final_lr = 2e-5;        // Cosine: the lr at the last step
  KdvLrSchedule schedule = KdvLrSchedule::Cosine;
  // Plateau: multiply lr by plateau_factor when the validation loss, checked every
  // plateau_every iterations, has not improved for plateau_patience checks.
  double plateau_factor = 0.5;
  std::int64_t plateau_patience = 2;
  std::int64_t plateau_every = 0;
  double clip_norm = 1.0;        // gradient clipping by total norm (0: none)

  // The lr of step `iteration` (0-based) under Cosine; lr under Plateau (the scheduler moves it).
  double lr_at(std::int64_t iteration) const;

  // The 2-core CPU demo for `model` ("mnn", "resnet", "fno"): the same data, lr schedule and
  // clipping for all; batch and iterations fill about 7 minutes of training at each model's speed
  // (models/README.md, "KdV forecasters"). Any other name gets the MNN's.
  static KdvTrainingPreset demo(const std::string& model = "mnn");
  // The paper's: 512/512/512 trajectories, batch 32, Adam 1e-4, ReduceLROnPlateau (0.5, patience
  // 2, every 5 epochs of 1952 steps), 800 epochs, no clipping.
  static KdvTrainingPreset paper();
};

// The models' input check: frames (B, 10, P) of a floating dtype, returned as float32 (the
// encoders' dtype); anything else is a mech::Error naming `op` and the shape.
Tensor kdv_input_frames(const char* op, const Tensor& frames);

}  // namespace mech::models
