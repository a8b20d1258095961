// Umbrella header for training: optimizers, schedulers and gradient clipping.
#pragma once

#include "nn/adam.h"
#include "nn/clip_grad.h"
#include "nn/optimizer.h"
#include "nn/scheduler.h"
#include "nn/sgd.h"
