// Grad mode: whether ops record onto the tape. NoGradGuard turns recording off for a scope
// (evaluation, optimizer updates), as torch::NoGradGuard does; the flag is per thread.
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
