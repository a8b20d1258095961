// Grad mode: whether ops record onto the tape. NoGradGuard turns recording off for a scope
// (evaluation, optimizer updates), as torch::NoGradGuard does; the flag is per thread.
//
// The flag lives in core, not in autograd, because core reads it: Tensor's in-place updates
// refuse a tensor that requires grad while grad mode is on, and item()/str() read values with it
// off. The tape itself (autograd/node.h, autograd/engine.cpp) stays above core; PyTorch draws the
// same line (c10 holds GradMode, torch/csrc/autograd the engine). autograd/grad_mode.h includes
// this header, so code written against the autograd path keeps working.
#pragma once

namespace mech {

bool grad_mode_enabled();
void set_grad_mode_enabled(bool enabled);

// Sets grad mode for a scope and restores the previous setting on exit.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_mode_enabled()) { set_grad_mode_enabled(enabled); }
  ~GradModeGuard() { set_grad_mode_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Turns recording back on inside a NoGradGuard scope.
class EnableGradGuard : public GradModeGuard {
 public:
  EnableGradGuard() : GradModeGuard(true) {}
};

}  // namespace mech
