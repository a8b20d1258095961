// Umbrella header for the nn layer: modules, initialisation, optimizers, schedulers, checkpoints.
#pragma once

#include "nn/activation.h"
#include "nn/checkpoint.h"
#include "nn/conv1d.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/sequential.h"
#include "nn/spectral_conv1d.h"
