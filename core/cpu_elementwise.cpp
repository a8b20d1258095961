// CPU elementwise kernels: unary math, the activations' one-pass backward (activation_backward),
// binary arithmetic and comparisons, where, copy with dtype conversion, fill.
#include <algorithm>
#include <cmath>

#include "core/cpu_kernels.h"
#include "core/cpu_loops.h"
#include "core/vector_math.h"

namespace mech::cpu {

namespace {

// On a lambda whose body calls the large vector_math functions (erf, exp): GCC would otherwise keep
// the lambda out of line once its body has grown, and the loop over it runs one call per element.
#define MECH_INLINE_LAMBDA __attribute__((always_inline))

template <class T, class F>
void map_unary(const Tensor& x, const Tensor& out, F function) {
  const T* in = x.data_ptr<T>();
  T* result = out.data_ptr<T>();
  for_each_strided<2>(out.shape(), {out.strides(), x.strides()},
                      [&](const std::array<std::int64_t, 2>& offsets, std::int64_t count,
                          const std::array<std::int64_t, 2>& steps) {
                        T* o = result + offsets[0];
                        const T* i = in + offsets[1];
                        if (steps[0] == 1 && steps[1] == 1) {
                          for (std::int64_t j = 0; j < count; ++j) o[j] = function(i[j]);
                        } else {
                          for (std::int64_t j = 0; j < count; ++j) o[j * steps[0]] = function(i[j * steps[1]]);
                        }
                      });
}

template <class T>
T softplus_value(T v, double beta, double threshold) {
  const T scaled = static_cast<T>(beta) * v;
  if (scaled > static_cast<T>(threshold)) return v;
  return std::log1p(std::exp(scaled)) / static_cast<T>(beta);
}

// gelu and its tanh form, and their derivatives (constants in core/kernels.h). The exact form
// loses the relative accuracy of 1 + erf for very negative x, as PyTorch's does.
template <class T>
MECH_VECTOR_MATH_INLINE T gelu_value(T v) {
  using namespace gelu_constants;
  return T(0.5) * v * (T(1) + vector_math::erf(v * T(kInverseSqrt2)));
}

template <class T>
MECH_VECTOR_MATH_INLINE T gelu_derivative(T v) {
  using namespace gelu_constants;
  T gaussian;  // e^(-v^2 / 2), which erf computes on the way
  const T erf = vector_math::detail::erf_and_gaussian(v * T(kInverseSqrt2), gaussian);
  return T(0.5) * (T(1) + erf) + v * (gaussian * T(kInverseSqrt2Pi));
}

template <class T>
MECH_VECTOR_MATH_INLINE T gelu_tanh_value(T v) {
  using namespace gelu_constants;
  const T inner = T(kSqrt2OverPi) * (v + T(kCubic) * v * v * v);
  return T(0.5) * v * (T(1) + vector_math::tanh(inner));
}

template <class T>
MECH_VECTOR_MATH_INLINE T gelu_tanh_derivative(T v) {
  using namespace gelu_constants;
  const T v2 = v * v;
  const T t = vector_math::tanh(T(kSqrt2OverPi) * (v + T(kCubic) * v2 * v));
  const T inner_derivative = T(kSqrt2OverPi) * (T(1) + T(3 * kCubic) * v2);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * inner_derivative;
}

template <class T>
void unary_typed(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  const T a = static_cast<T>(p0);
  const T b = static_cast<T>(p1);
  switch (op) {
    case UnaryOp::Neg: return map_unary<T>(x, out, [](T v) { return -v; });
    case UnaryOp::Abs: return map_unary<T>(x, out, [](T v) { return v < 0 ? -v : v; });
    case UnaryOp::Sign: return map_unary<T>(x, out, [](T v) { return static_cast<T>((v > 0) - (v < 0)); });
    case UnaryOp::Relu: return map_unary<T>(x, out, [](T v) { return v > 0 ? v : T(0); });
    case UnaryOp::Clamp: return map_unary<T>(x, out, [a, b](T v) { return v < a ? a : (v > b ? b : v); });
    case UnaryOp::ClampMask: return map_unary<T>(x, out, [a, b](T v) { return v >= a && v <= b ? T(1) : T(0); });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      // Transcendentals from core/vector_math.h: branch-free, so the contiguous loop vectorises.
      case UnaryOp::Exp: return map_unary<T>(x, out, [](T v) { return vector_math::exp(v); });
      case UnaryOp::Log: return map_unary<T>(x, out, [](T v) { return vector_math::log(v); });
      case UnaryOp::Sqrt: return map_unary<T>(x, out, [](T v) { return std::sqrt(v); });
      case UnaryOp::Tanh: return map_unary<T>(x, out, [](T v) { return vector_math::tanh(v); });
      case UnaryOp::Sigmoid: return map_unary<T>(x, out, [](T v) { return vector_math::sigmoid(v); });
      // Both sides computed, then selected (see vector_math::select).
      case UnaryOp::Elu:
        return map_unary<T>(x, out, [a](T v) {
          const T negative = a * vector_math::expm1(v);
          return vector_math::select(std::isgreater(v, T(0)), v, negative);
        });
      case UnaryOp::Softplus:
        return map_unary<T>(x, out, [p0, p1](T v) { return softplus_value<T>(v, p0, p1); });
      case UnaryOp::Gelu: return map_unary<T>(x, out, [](T v) MECH_INLINE_LAMBDA { return gelu_value(v); });
      case UnaryOp::GeluTanh:
        return map_unary<T>(x, out, [](T v) MECH_INLINE_LAMBDA { return gelu_tanh_value(v); });
      case UnaryOp::Pow:
        if (p0 == 2.0) return map_unary<T>(x, out, [](T v) { return v * v; });
        return map_unary<T>(x, out, [a](T v) { return std::pow(v, a); });
      default: break;
    }
  }
  throw Error(fmt::format("unary: op {} is not defined for dtype {}", static_cast<int>(op),
                          dtype_name(dtype_of<T>())));
}

// When `x` is out's shape broadcast over leading dims only (stride 0 there) and laid out like a
// contiguous out over the rest (a per-channel scale over (rows, channels), say), the element of x
// at out's flat index i is x[i mod period]: returns that period, or 0 when x is not like that.
std::int64_t outer_broadcast_period(const Tensor& x, const Tensor& out) {
  const Shape& shape = out.shape();
  const Shape& strides = x.strides();
  std::int64_t period = 1;
  auto d = static_cast<std::int64_t>(shape.size()) - 1;
  for (; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (strides[d] != period) break;
    period *= shape[d];
  }
  for (; d >= 0; --d)
    if (shape[d] != 1 && strides[d] != 0) return 0;
  return period;
}

// out (contiguous, n elements) = function(left, right) where one operand is contiguous and the
// other repeats with a short period (outer_broadcast_period): the period is copied out enough
// times to fill a short buffer, so the loop runs in whole buffer lengths that vectorise, instead
// of one strided row of `period` elements at a time (4080 rows of 3 for mech-lorenz's scales).
template <class T, class F>
void map_binary_periodic(const T* contiguous, const T* periodic, std::int64_t period, bool periodic_is_left,
                         T* result, std::int64_t n, F function) {
  constexpr std::int64_t kBuffer = 256;
  const std::int64_t length = kBuffer / period * period;
  T pattern[kBuffer];
  for (std::int64_t j = 0; j < length; ++j) pattern[j] = periodic[j % period];
  const std::int64_t blocks = (n + length - 1) / length;
  parallel_for(0, blocks, std::max<std::int64_t>(1, kElementGrain / length), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t block = begin; block < end; ++block) {
      const std::int64_t start = block * length, count = std::min(length, n - start);
      const T* c = contiguous + start;
      T* o = result + start;
      if (periodic_is_left) {
        for (std::int64_t j = 0; j < count; ++j) o[j] = function(pattern[j], c[j]);
      } else {
        for (std::int64_t j = 0; j < count; ++j) o[j] = function(c[j], pattern[j]);
      }
    }
  });
}

template <class T, class F>
void map_binary(const Tensor& a, const Tensor& b, const Tensor& out, F function) {
  const T* left = a.data_ptr<T>();
  const T* right = b.data_ptr<T>();
  T* result = out.data_ptr<T>();
  if (out.is_contiguous() && out.numel() > 0) {
    // A short period (a few channels) only: longer rows already run well as strided rows.
    constexpr std::int64_t kShortPeriod = 64;
    const std::int64_t n = out.numel();
    if (a.strides() == out.strides()) {
      const std::int64_t period = outer_broadcast_period(b, out);
      if (period > 1 && period <= kShortPeriod && period < n)
        return map_binary_periodic<T>(left, right, period, false, result, n, function);
    } else if (b.strides() == out.strides()) {
      const std::int64_t period = outer_broadcast_period(a, out);
      if (period > 1 && period <= kShortPeriod && period < n)
        return map_binary_periodic<T>(right, left, period, true, result, n, function);
    }
  }
  for_each_strided<3>(out.shape(), {out.strides(), a.strides(), b.strides()},
                      [&](const std::array<std::int64_t, 3>& offsets, std::int64_t count,
                          const std::array<std::int64_t, 3>& steps) {
                        T* o = result + offsets[0];
                        const T* l = left + offsets[1];
                        const T* r = right + offsets[2];
                        if (steps[0] == 1 && steps[1] == 1 && steps[2] == 1) {
                          for (std::int64_t j = 0; j < count; ++j) o[j] = function(l[j], r[j]);
                        } else if (steps[0] == 1 && steps[1] == 1 && steps[2] == 0) {
                          const T scalar = r[0];
                          for (std::int64_t j = 0; j < count; ++j) o[j] = function(l[j], scalar);
                        } else if (steps[0] == 1 && steps[1] == 0 && steps[2] == 1) {
                          // a broadcast left operand, e.g. the expanded gradient of a sum times a tensor
                          const T scalar = l[0];
                          for (std::int64_t j = 0; j < count; ++j) o[j] = function(scalar, r[j]);
                        } else {
                          for (std::int64_t j = 0; j < count; ++j) {
                            o[j * steps[0]] = function(l[j * steps[1]], r[j * steps[2]]);
                          }
                        }
                      });
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::Add: return map_binary<T>(a, b, out, [](T l, T r) { return l + r; });
    case BinaryOp::Sub: return map_binary<T>(a, b, out, [](T l, T r) { return l - r; });
    case BinaryOp::Mul: return map_binary<T>(a, b, out, [](T l, T r) { return l * r; });
    case BinaryOp::Div: return map_binary<T>(a, b, out, [](T l, T r) { return l / r; });
    case BinaryOp::Gt: return map_binary<T>(a, b, out, [](T l, T r) { return static_cast<T>(l > r); });
    case BinaryOp::Lt: return map_binary<T>(a, b, out, [](T l, T r) { return static_cast<T>(l < r); });
    case BinaryOp::Ge: return map_binary<T>(a, b, out, [](T l, T r) { return static_cast<T>(l >= r); });
    case BinaryOp::Le: return map_binary<T>(a, b, out, [](T l, T r) { return static_cast<T>(l <= r); });
    case BinaryOp::Eq: return map_binary<T>(a, b, out, [](T l, T r) { return static_cast<T>(l == r); });
    case BinaryOp::Max: return map_binary<T>(a, b, out, [](T l, T r) { return l >= r ? l : r; });
    case BinaryOp::Min: return map_binary<T>(a, b, out, [](T l, T r) { return l <= r ? l : r; });
  }
}

// out = grad * f'(saved), one element at a time through map_binary (so a contiguous backward is
// one vectorised pass). Relu, Elu and Softplus multiply by the factor the composed backward of
// before computed (a 0/1 mask, the selected derivative), so their gradients keep their bits.
template <class T>
void activation_backward_typed(ActivationGrad op, const Tensor& grad, const Tensor& saved, const Tensor& out,
                               double p0, double p1) {
  const T a = static_cast<T>(p0);
  const T b = static_cast<T>(p1);
  switch (op) {
    case ActivationGrad::Tanh:
      return map_binary<T>(grad, saved, out, [](T g, T y) MECH_INLINE_LAMBDA { return g * (T(1) - y * y); });
    case ActivationGrad::Sigmoid:
      return map_binary<T>(grad, saved, out, [](T g, T y) MECH_INLINE_LAMBDA { return g * (y * (T(1) - y)); });
    case ActivationGrad::Relu:
      // g * 1 or g * 0 as a select (a plain comparison makes GCC branch): the old mask's bits.
      return map_binary<T>(grad, saved, out, [](T g, T v) MECH_INLINE_LAMBDA {
        return vector_math::select(std::isgreater(v, T(0)), g, g * T(0));
      });
    case ActivationGrad::Elu:
      return map_binary<T>(grad, saved, out, [a](T g, T v) MECH_INLINE_LAMBDA {
        const T negative = a * vector_math::exp(v);
        return g * vector_math::select(std::isgreater(v, T(0)), T(1), negative);
      });
    case ActivationGrad::Softplus:
      return map_binary<T>(grad, saved, out, [a, b](T g, T v) MECH_INLINE_LAMBDA {
        const T scaled = a * v;
        const T below = T(1) / (T(1) + vector_math::exp(-scaled));
        return g * vector_math::select(std::isgreater(scaled, b), T(1), below);
      });
    case ActivationGrad::Gelu:
      return map_binary<T>(grad, saved, out, [](T g, T v) MECH_INLINE_LAMBDA { return g * gelu_derivative(v); });
    case ActivationGrad::GeluTanh:
      return map_binary<T>(grad, saved, out, [](T g, T v) MECH_INLINE_LAMBDA { return g * gelu_tanh_derivative(v); });
  }
}

}  // namespace

void activation_backward(ActivationGrad op, const Tensor& grad, const Tensor& saved, const Tensor& out, double p0,
                         double p1) {
  MECH_DISPATCH_FLOAT(out.dtype(), "activation_backward",
                      [&]<class T>() { activation_backward_typed<T>(op, grad, saved, out, p0, p1); });
}

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  MECH_DISPATCH_ALL(out.dtype(), "unary", [&]<class T>() { unary_typed<T>(op, x, out, p0, p1); });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  MECH_DISPATCH_ALL(out.dtype(), "binary", [&]<class T>() { binary_typed<T>(op, a, b, out); });
}

void where(const Tensor& condition, const Tensor& a, const Tensor& b, const Tensor& out) {
  MECH_DISPATCH_ALL(out.dtype(), "where", [&]<class T>() {
    MECH_DISPATCH_ALL(condition.dtype(), "where", [&]<class C>() {
      const C* mask = condition.data_ptr<C>();
      const T* left = a.data_ptr<T>();
      const T* right = b.data_ptr<T>();
      T* result = out.data_ptr<T>();
      for_each_strided<4>(out.shape(), {out.strides(), condition.strides(), a.strides(), b.strides()},
                          [&](const std::array<std::int64_t, 4>& offsets, std::int64_t count,
                              const std::array<std::int64_t, 4>& steps) {
                            for (std::int64_t j = 0; j < count; ++j) {
                              result[offsets[0] + j * steps[0]] = mask[offsets[1] + j * steps[1]] != C(0)
                                                                      ? left[offsets[2] + j * steps[2]]
                                                                      : right[offsets[3] + j * steps[3]];
                            }
                          });
    });
  });
}

void copy(const Tensor& src, const Tensor& dst) {
  MECH_CHECK(src.shape() == dst.shape(), "copy: source shape {} does not match destination shape {}",
             shape_str(src.shape()), shape_str(dst.shape()));
  MECH_DISPATCH_ALL(dst.dtype(), "copy", [&]<class T>() {
    MECH_DISPATCH_ALL(src.dtype(), "copy", [&]<class S>() {
      const S* in = static_cast<const S*>(src.raw_data());
      T* out = static_cast<T*>(dst.raw_data());
      for_each_strided<2>(dst.shape(), {dst.strides(), src.strides()},
                          [&](const std::array<std::int64_t, 2>& offsets, std::int64_t count,
                              const std::array<std::int64_t, 2>& steps) {
                            T* o = out + offsets[0];
                            const S* i = in + offsets[1];
                            if (steps[0] == 1 && steps[1] == 1) {
                              for (std::int64_t j = 0; j < count; ++j) o[j] = static_cast<T>(i[j]);
                            } else {
                              for (std::int64_t j = 0; j < count; ++j) o[j * steps[0]] = static_cast<T>(i[j * steps[1]]);
                            }
                          });
    });
  });
}

void fill(const Tensor& out, double value) {
  MECH_DISPATCH_ALL(out.dtype(), "fill", [&]<class T>() {
    T* data = static_cast<T*>(out.raw_data());
    const T typed = static_cast<T>(value);
    for_each_strided<1>(out.shape(), {out.strides()},
                        [&](const std::array<std::int64_t, 1>& offsets, std::int64_t count,
                            const std::array<std::int64_t, 1>& steps) {
                          for (std::int64_t j = 0; j < count; ++j) data[offsets[0] + j * steps[0]] = typed;
                        });
  });
}

}  // namespace mech::cpu
