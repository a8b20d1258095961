// The per-element arithmetic of the CUDA kernels, written once for host and device so that the
// CPU tests (tests/cuda/test_host_emulation.cpp) compare it with the CPU kernels on machines
// without a GPU: unary math, the activations' derivatives, binary arithmetic and comparisons, and the
// fused SGD and Adam updates. The formulas follow core/cpu_elementwise.cpp and core/cpu_optim
// and core/cpu_optim.cpp exactly (same branches, same order of operations, same dtype of each
// constant) so CPU and GPU agree to rounding (the GPU may fuse multiply-adds).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/kernels.h"
#include "cuda/layout.h"

namespace mech::cuda::math {

// float/double math that resolves to the C library on the host and to CUDA's on the device.
template <class T> MECH_HOST_DEVICE inline T exp_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::expf(v); else return ::exp(v);
}
template <class T> MECH_HOST_DEVICE inline T expm1_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::expm1f(v); else return ::expm1(v);
}
template <class T> MECH_HOST_DEVICE inline T log_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::logf(v); else return ::log(v);
}
template <class T> MECH_HOST_DEVICE inline T log1p_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::log1pf(v); else return ::log1p(v);
}
template <class T> MECH_HOST_DEVICE inline T sqrt_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::sqrtf(v); else return ::sqrt(v);
}
template <class T> MECH_HOST_DEVICE inline T tanh_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::tanhf(v); else return ::tanh(v);
}
template <class T> MECH_HOST_DEVICE inline T erf_of(T v) {
  if constexpr (std::is_same_v<T, float>) return ::erff(v); else return ::erf(v);
}
template <class T> MECH_HOST_DEVICE inline T pow_of(T v, T e) {
  if constexpr (std::is_same_v<T, float>) return ::powf(v, e); else return ::pow(v, e);
}

// gelu and its tanh form, and their derivatives (constants in core/kernels.h).
template <class T>
MECH_HOST_DEVICE inline T gelu_value(T v) {
  using namespace gelu_constants;
  return T(0.5) * v * (T(1) + erf_of(v * T(kInverseSqrt2)));
}

template <class T>
MECH_HOST_DEVICE inline T gelu_derivative(T v) {
  using namespace gelu_constants;
  const T cdf = T(0.5) * (T(1) + erf_of(v * T(kInverseSqrt2)));
  const T pdf = exp_of(T(-0.5) * v * v) * T(kInverseSqrt2Pi);
  return cdf + v * pdf;
}

template <class T>
MECH_HOST_DEVICE inline T gelu_tanh_value(T v) {
  using namespace gelu_constants;
  const T inner = T(kSqrt2OverPi) * (v + T(kCubic) * v * v * v);
  return T(0.5) * v * (T(1) + tanh_of(inner));
}

template <class T>
MECH_HOST_DEVICE inline T gelu_tanh_derivative(T v) {
  using namespace gelu_constants;
  const T v2 = v * v;
  const T t = tanh_of(T(kSqrt2OverPi) * (v + T(kCubic) * v2 * v));
  const T inner_derivative = T(kSqrt2OverPi) * (T(1) + T(3 * kCubic) * v2);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * inner_derivative;
}

// Ops defined for int64 as well as floats (the rest need a floating dtype).
MECH_HOST_DEVICE inline bool unary_defined_for_integers(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Relu:
    case UnaryOp::Clamp: case UnaryOp::ClampMask:
      return true;
    default:
      return false;
  }
}

// out = op(v; p0, p1) as core/kernels.h defines it. For int64, only unary_defined_for_integers ops
// (the host refuses the others before launching); they return 0 here.
template <class T>
MECH_HOST_DEVICE inline T unary_value(UnaryOp op, T v, double p0, double p1) {
  const T a = static_cast<T>(p0);
  const T b = static_cast<T>(p1);
  switch (op) {
    case UnaryOp::Neg: return -v;
    case UnaryOp::Abs: return v < 0 ? -v : v;
    case UnaryOp::Sign: return static_cast<T>((v > 0) - (v < 0));
    case UnaryOp::Relu: return v > 0 ? v : T(0);
    case UnaryOp::Clamp: return v < a ? a : (v > b ? b : v);
    case UnaryOp::ClampMask: return v >= a && v <= b ? T(1) : T(0);
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::Exp: return exp_of(v);
      case UnaryOp::Log: return log_of(v);
      case UnaryOp::Sqrt: return sqrt_of(v);
      case UnaryOp::Tanh: return tanh_of(v);
      case UnaryOp::Sigmoid: {
        // Both branches keep exp from overflowing for large |v|.
        if (v >= 0) return T(1) / (T(1) + exp_of(-v));
        const T e = exp_of(v);
        return e / (T(1) + e);
      }
      case UnaryOp::Elu: return v > 0 ? v : a * expm1_of(v);
      case UnaryOp::Softplus: {
        const T beta = static_cast<T>(p0);
        const T scaled = beta * v;
        if (scaled > static_cast<T>(p1)) return v;
        return log1p_of(exp_of(scaled)) / beta;
      }
      case UnaryOp::Gelu: return gelu_value(v);
      case UnaryOp::GeluTanh: return gelu_tanh_value(v);
      case UnaryOp::Pow:
        if (p0 == 2.0) return v * v;
        return pow_of(v, a);
      default: break;
    }
  }
  return T(0);
}

// out = g * f'(saved) as activation_backward defines it (saved: y for Tanh and Sigmoid, x for the
// others), floating T only.
template <class T>
MECH_HOST_DEVICE inline T activation_grad_value(ActivationGrad op, T g, T saved, double p0, double p1) {
  const T a = static_cast<T>(p0);
  const T b = static_cast<T>(p1);
  const T v = saved;
  switch (op) {
    case ActivationGrad::Tanh: return g * (T(1) - v * v);
    case ActivationGrad::Sigmoid: return g * (v * (T(1) - v));
    case ActivationGrad::Relu: return g * static_cast<T>(v > T(0));
    case ActivationGrad::Elu: return g * (v > 0 ? T(1) : a * exp_of(v));
    case ActivationGrad::Softplus: {
      const T scaled = a * v;
      return g * (scaled > b ? T(1) : T(1) / (T(1) + exp_of(-scaled)));
    }
    case ActivationGrad::Gelu: return g * gelu_derivative(v);
    case ActivationGrad::GeluTanh: return g * gelu_tanh_derivative(v);
  }
  return T(0);
}

template <class T>
MECH_HOST_DEVICE inline T binary_value(BinaryOp op, T l, T r) {
  switch (op) {
    case BinaryOp::Add: return l + r;
    case BinaryOp::Sub: return l - r;
    case BinaryOp::Mul: return l * r;
    case BinaryOp::Div: return l / r;
    case BinaryOp::Gt: return static_cast<T>(l > r);
    case BinaryOp::Lt: return static_cast<T>(l < r);
    case BinaryOp::Ge: return static_cast<T>(l >= r);
    case BinaryOp::Le: return static_cast<T>(l <= r);
    case BinaryOp::Eq: return static_cast<T>(l == r);
    // Same tie and NaN behaviour as the CPU: the left operand wins ties, a NaN on the left loses.
    case BinaryOp::Max: return l >= r ? l : r;
    case BinaryOp::Min: return l <= r ? l : r;
  }
  return T(0);
}

// Hyper-parameters of one fused SGD step (PyTorch's semantics).
struct SgdParameters {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};

// One element of the SGD update: param and momentum buffer in place.
template <class T>
MECH_HOST_DEVICE inline void sgd_update(T& param, T grad, T& buffer, const SgdParameters& p) {
  T g = grad;
  if (p.weight_decay != 0.0) g += static_cast<T>(p.weight_decay) * param;
  if (p.momentum != 0.0) {
    if (p.first_step) {
      buffer = g;
    } else {
      buffer = static_cast<T>(p.momentum) * buffer + static_cast<T>(1.0 - p.dampening) * g;
    }
    g = p.nesterov ? g + static_cast<T>(p.momentum) * buffer : buffer;
  }
  param -= static_cast<T>(p.lr) * g;
}

// Hyper-parameters of one fused Adam/AdamW step; the bias corrections are computed once on the
// host (step >= 1).
struct AdamParameters {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW: decay the parameter directly instead of adding to the gradient
  double bias_correction1, bias_correction2;  // 1 - beta^step
};

inline AdamParameters make_adam_parameters(double lr, double beta1, double beta2, double eps,
                                           double weight_decay, bool decoupled, std::int64_t step) {
  return {lr, beta1, beta2, eps, weight_decay, decoupled,
          1.0 - std::pow(beta1, static_cast<double>(step)), 1.0 - std::pow(beta2, static_cast<double>(step))};
}

template <class T>
MECH_HOST_DEVICE inline void adam_update(T& param, T grad, T& exp_avg, T& exp_avg_sq, const AdamParameters& p) {
  T g = grad;
  if (p.weight_decay != 0.0) {
    if (p.decoupled) {
      param *= static_cast<T>(1.0 - p.lr * p.weight_decay);
    } else {
      g += static_cast<T>(p.weight_decay) * param;
    }
  }
  const T beta1 = static_cast<T>(p.beta1);
  const T beta2 = static_cast<T>(p.beta2);
  exp_avg = beta1 * exp_avg + (T(1) - beta1) * g;
  exp_avg_sq = beta2 * exp_avg_sq + (T(1) - beta2) * g * g;
  const T denominator = sqrt_of(exp_avg_sq) / static_cast<T>(::sqrt(p.bias_correction2)) + static_cast<T>(p.eps);
  param -= static_cast<T>(p.lr / p.bias_correction1) * exp_avg / denominator;
}

}  // namespace mech::cuda::math
