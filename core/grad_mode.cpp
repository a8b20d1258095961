// The per-thread grad-mode flag (core/grad_mode.h).
#include "core/grad_mode.h"

namespace mech {

namespace {
thread_local bool grad_mode = true;
}

bool grad_mode_enabled() { return grad_mode; }
void set_grad_mode_enabled(bool enabled) { grad_mode = enabled; }

}  // namespace mech
