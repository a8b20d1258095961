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

class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_mode_enabled()) { set_grad_mode_enabled(false); }
  ~NoGradGuard() { set_grad_mode_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording back on inside a NoGradGuard scope.
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(grad_mode_enabled()) { set_grad_mode_enabled(true); }
  ~EnableGradGuard() { set_grad_mode_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace mech
