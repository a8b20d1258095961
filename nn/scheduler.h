// Learning-rate schedulers, as torch::optim::StepLR and ReduceLROnPlateau. Each writes the
// optimizer's lr on step() and exports its counters as named tensors for checkpoints.
//
//   mech::nn::StepLR schedule(optimizer, /*step_size=*/100, /*gamma=*/0.5);   // once per epoch:
//   schedule.step();
//   mech::nn::ReduceLROnPlateau plateau(optimizer, mech::nn::ReduceLROnPlateauOptions().patience(5));
//   plateau.step(validation_loss);
#pragma once

#include <cstdint>

#include "nn/optimizer.h"

namespace mech::nn {

class LRScheduler {
 public:
  LRScheduler(Optimizer& optimizer, std::string type_name);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  double last_lr() const { return optimizer_.lr(); }
  std::int64_t last_epoch() const { return last_epoch_; }
  const std::string& type_name() const { return type_name_; }

  virtual NamedTensors state_dict() const = 0;
  // Restores the counters (and sets nothing else: the optimizer's lr comes from its own state).
  virtual void load_state_dict(const NamedTensors& state) = 0;

 protected:
  // The one-element tensor `key` of `state`, as double; throws naming the scheduler if absent.
  double scalar_of(const NamedTensors& state, const std::string& key) const;
  void check_keys(const NamedTensors& state, std::initializer_list<const char*> keys) const;

  Optimizer& optimizer_;
  std::string type_name_;
  std::int64_t last_epoch_ = 0;  // step() calls so far
};

// lr = base_lr * gamma^floor(epoch / step_size), base_lr being the optimizer's lr at construction.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  void step();

  // "last_epoch" (int64), "base_lr" (float64).
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;

 private:
  std::int64_t step_size_;
  double gamma_;
  double base_lr_;
};

enum class PlateauMode { Min, Max };
enum class ThresholdMode { Relative, Absolute };

struct ReduceLROnPlateauOptions {
  ReduceLROnPlateauOptions& mode(PlateauMode value) { mode_ = value; return *this; }
  ReduceLROnPlateauOptions& factor(double value) { factor_ = value; return *this; }
  ReduceLROnPlateauOptions& patience(std::int64_t value) { patience_ = value; return *this; }
  ReduceLROnPlateauOptions& threshold(double value) { threshold_ = value; return *this; }
  ReduceLROnPlateauOptions& threshold_mode(ThresholdMode value) { threshold_mode_ = value; return *this; }
  ReduceLROnPlateauOptions& cooldown(std::int64_t value) { cooldown_ = value; return *this; }
  ReduceLROnPlateauOptions& min_lr(double value) { min_lr_ = value; return *this; }
  ReduceLROnPlateauOptions& eps(double value) { eps_ = value; return *this; }
  PlateauMode mode() const { return mode_; }
  double factor() const { return factor_; }
  std::int64_t patience() const { return patience_; }
  double threshold() const { return threshold_; }
  ThresholdMode threshold_mode() const { return threshold_mode_; }
  std::int64_t cooldown() const { return cooldown_; }
  double min_lr() const { return min_lr_; }
  double eps() const { return eps_; }

 private:
  PlateauMode mode_ = PlateauMode::Min;
  double factor_ = 0.1;
  std::int64_t patience_ = 10;
  double threshold_ = 1e-4;
  ThresholdMode threshold_mode_ = ThresholdMode::Relative;
  std::int64_t cooldown_ = 0;
  double min_lr_ = 0.0;
  double eps_ = 1e-8;  // reductions smaller than this are skipped
};

// Multiplies lr by `factor` (not below min_lr) once the metric has failed to improve by more than
// `threshold` for more than `patience` steps; then waits `cooldown` steps before counting again.
class ReduceLROnPlateau : public LRScheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  void step(double metric);

  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }

  // "last_epoch", "num_bad_epochs", "cooldown_counter" (int64), "best" (float64).
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;

 private:
  bool is_better(double metric) const;

  ReduceLROnPlateauOptions options_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
};

}  // namespace mech::nn
