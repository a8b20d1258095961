// Grad mode (NoGradGuard, EnableGradGuard, grad_mode_enabled), as autograd's users know it. The
// flag is defined in core/grad_mode.h, where core's in-place updates can read it; this header is
// the autograd-facing name for it, so `#include "autograd/grad_mode.h"` keeps working.
#pragma once

#include "core/grad_mode.h"
