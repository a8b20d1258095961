// The kernel layer: device-agnostic entry points that differentiable ops call. Each writes into
// an output the caller allocated and dispatches on the device to mech::cpu (core/cpu_*.cpp) or
// mech::cuda (cuda/*.cu) functions of the same name. The kernels themselves, their signatures and
// their contracts are listed once, in core/kernel_list.h; this header declares them from there.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mech {

enum class UnaryOp : std::uint8_t {
  Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, Elu, Softplus, Gelu, GeluTanh, Clamp, Pow, Sign,
  // Backward helper: out = clamp's derivative factor evaluated at x (see cpu_elementwise.cpp).
  ClampMask,
};
// The activation whose derivative activation_backward applies (GeluTanh: gelu's tanh form).
enum class ActivationGrad : std::uint8_t { Tanh, Sigmoid, Relu, Elu, Softplus, Gelu, GeluTanh };

// gelu's constants, one definition for the CPU and CUDA kernels: gelu(x) = x Phi(x) with
// Phi(x) = (1 + erf(x / sqrt 2)) / 2 and Phi'(x) = e^(-x^2 / 2) / sqrt(2 pi); the tanh form is
// x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2.
namespace gelu_constants {
inline constexpr double kInverseSqrt2 = 0.70710678118654752440;
inline constexpr double kInverseSqrt2Pi = 0.39894228040143267794;
inline constexpr double kSqrt2OverPi = 0.79788456080286535588;
inline constexpr double kCubic = 0.044715;
}  // namespace gelu_constants

enum class BinaryOp : std::uint8_t { Add, Sub, Mul, Div, Gt, Lt, Ge, Le, Eq, Max, Min };

// Expands a line of core/kernel_list.h into a declaration; core/cpu_kernels.h and cuda/backend.h
// use it too, inside their own namespaces.
#define MECH_DECLARE_KERNEL(name, probe, parameters, arguments) void name parameters;

namespace kernels {

#define MECH_KERNEL MECH_DECLARE_KERNEL
#include "core/kernel_list.h"

// unary's parameters default to 0 (most ops take none). A later declaration may add default
// arguments; the list cannot carry them, since the definitions are generated from it too.
void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0 = 0.0, double p1 = 0.0);

// ---- between devices: not in the list, since these pair two devices instead of running on one
// True for the CPU, and for cuda:N when this build has CUDA and the machine has device N.
bool device_available(Device device);
// dst = src, one on the host and the other on a CUDA device (either way round); both contiguous,
// of one dtype and one shape.
void copy_between_devices(const Tensor& src, const Tensor& dst);

}  // namespace kernels
}  // namespace mech
