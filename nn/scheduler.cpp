// StepLR and ReduceLROnPlateau: lr updates and their saved counters.
#include "nn/scheduler.h"

#include <cmath>
#include <limits>
#include <set>

namespace mech::nn {

namespace {
Tensor int_scalar(std::int64_t value) {
  return from_vector<std::int64_t>({value}, {}, TensorOptions().dtype(DType::Int64));
}
Tensor double_scalar(double value) { return scalar_tensor(value, TensorOptions().dtype(DType::Float64)); }
}  // namespace

LRScheduler::LRScheduler(Optimizer& optimizer, std::string type_name)
    : optimizer_(optimizer), type_name_(std::move(type_name)) {}

double LRScheduler::scalar_of(const NamedTensors& state, const std::string& key) const {
  for (const auto& [name, value] : state) {
    if (name != key) continue;
    MECH_CHECK(value.defined() && value.numel() == 1, "{}::load_state_dict: '{}' must be a one-element tensor",
               type_name_, key);
    return value.item();
  }
  throw Error(fmt::format("{}::load_state_dict: the state has no '{}'", type_name_, key));
}

void LRScheduler::check_keys(const NamedTensors& state, std::initializer_list<const char*> keys) const {
  std::set<std::string> known(keys.begin(), keys.end());
  for (const auto& entry : state)
    MECH_CHECK(known.count(entry.first), "{}::load_state_dict: unexpected key '{}'", type_name_, entry.first);
}

// ---- StepLR -----------------------------------------------------------------------------------
StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma), base_lr_(optimizer.lr()) {
  MECH_CHECK(step_size > 0, "StepLR: expected step_size > 0, got {}", step_size);
  MECH_CHECK(gamma > 0.0, "StepLR: expected gamma > 0, got {}", gamma);
}

void StepLR::step() {
  ++last_epoch_;
  // Closed form from base_lr rather than repeated multiplication: no drift, and a resumed run
  // computes the very same double.
  optimizer_.set_lr(base_lr_ * std::pow(gamma_, static_cast<double>(last_epoch_ / step_size_)));
}

NamedTensors StepLR::state_dict() const {
  return {{"last_epoch", int_scalar(last_epoch_)}, {"base_lr", double_scalar(base_lr_)}};
}

void StepLR::load_state_dict(const NamedTensors& state) {
  check_keys(state, {"last_epoch", "base_lr"});
  const double epoch = scalar_of(state, "last_epoch");
  const double base_lr = scalar_of(state, "base_lr");
  MECH_CHECK(epoch >= 0, "StepLR::load_state_dict: last_epoch is {}, expected >= 0", epoch);
  last_epoch_ = static_cast<std::int64_t>(epoch);
  base_lr_ = base_lr;
}

// ---- ReduceLROnPlateau ------------------------------------------------------------------------
ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : LRScheduler(optimizer, "ReduceLROnPlateau"), options_(options) {
  MECH_CHECK(options.factor() > 0.0 && options.factor() < 1.0, "ReduceLROnPlateau: expected 0 < factor < 1, got {}",
             options.factor());
  MECH_CHECK(options.patience() >= 0 && options.cooldown() >= 0,
             "ReduceLROnPlateau: expected patience >= 0 and cooldown >= 0, got {} and {}", options.patience(),
             options.cooldown());
  MECH_CHECK(options.threshold() >= 0.0 && options.min_lr() >= 0.0,
             "ReduceLROnPlateau: expected threshold >= 0 and min_lr >= 0, got {} and {}", options.threshold(),
             options.min_lr());
  best_ = options.mode() == PlateauMode::Min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double metric) const {
  const double t = options_.threshold();
  const bool relative = options_.threshold_mode() == ThresholdMode::Relative;
  if (options_.mode() == PlateauMode::Min) return metric < (relative ? best_ * (1.0 - t) : best_ - t);
  return metric > (relative ? best_ * (1.0 + t) : best_ + t);
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  // A NaN metric never improves, so it counts as a bad epoch.
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience()) {
    const double old_lr = optimizer_.lr();
    const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
    if (old_lr - new_lr > options_.eps()) optimizer_.set_lr(new_lr);
    cooldown_counter_ = options_.cooldown();
    num_bad_epochs_ = 0;
  }
}

NamedTensors ReduceLROnPlateau::state_dict() const {
  return {{"last_epoch", int_scalar(last_epoch_)},
          {"num_bad_epochs", int_scalar(num_bad_epochs_)},
          {"cooldown_counter", int_scalar(cooldown_counter_)},
          {"best", double_scalar(best_)}};
}

void ReduceLROnPlateau::load_state_dict(const NamedTensors& state) {
  check_keys(state, {"last_epoch", "num_bad_epochs", "cooldown_counter", "best"});
  const double epoch = scalar_of(state, "last_epoch");
  const double bad = scalar_of(state, "num_bad_epochs");
  const double cooldown = scalar_of(state, "cooldown_counter");
  const double best = scalar_of(state, "best");
  MECH_CHECK(epoch >= 0 && bad >= 0 && cooldown >= 0,
             "ReduceLROnPlateau::load_state_dict: negative counter (last_epoch {}, num_bad_epochs {}, cooldown {})",
             epoch, bad, cooldown);
  last_epoch_ = static_cast<std::int64_t>(epoch);
  num_bad_epochs_ = static_cast<std::int64_t>(bad);
  cooldown_counter_ = static_cast<std::int64_t>(cooldown);
  best_ = best;
}

}  // namespace mech::nn
