// Differentiable elementwise ops: arithmetic with NumPy broadcasting, unary math, where, clamp,
// comparisons, and the arithmetic operators. Each op: checks, forward kernel, recorded backward.
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace detail {

Tensor expand_view(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t.detach();
  const auto rank = static_cast<std::int64_t>(shape.size());
  const auto offset = rank - t.dim();
  MECH_CHECK(offset >= 0, "expand: cannot expand shape {} to {}", shape_str(t.shape()), shape_str(shape));
  Shape strides(rank, 0);
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    if (t.shape()[d] == shape[d + offset]) {
      strides[d + offset] = t.strides()[d];
    } else {
      MECH_CHECK(t.shape()[d] == 1, "expand: cannot expand shape {} to {} (dimension {})", shape_str(t.shape()),
                 shape_str(shape), d);
    }
  }
  return Tensor(t.storage(), t.offset(), shape, strides, t.dtype());
}

void check_float(const char* op, const Tensor& x) {
  check_defined(op, x, "input");
  MECH_CHECK(is_floating(x.dtype()), "{}: expected a float32 or float64 tensor, got {} of shape {}", op,
             dtype_name(x.dtype()), shape_str(x.shape()));
}

void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a, "first operand");
  check_defined(op, b, "second operand");
  check_same_device(op, a, b);
  check_same_dtype(op, a, b);
}

Tensor unary_raw(UnaryOp op, const Tensor& x, double p0, double p1) {
  Tensor out = empty(x.shape(), options_of(x));
  kernels::unary(op, x, out, p0, p1);
  return out;
}

// grad * f'(saved) in one kernel (see core/kernel_list.h), for the activations' backwards. The
// backward runs with grad mode off and the engine has no create_graph, so nothing differentiates
// through it (were that added, this would need its own node).
Tensor activation_backward_raw(ActivationGrad op, const Tensor& grad, const Tensor& saved, double p0, double p1) {
  Tensor out = empty(saved.shape(), options_of(saved));
  kernels::activation_backward(op, expand_view(grad, saved.shape()), saved, out, p0, p1);
  return out;
}

Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_binary(name, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, options_of(a));
  kernels::binary(op, expand_view(a, shape), expand_view(b, shape), out);
  return out;
}

}  // namespace detail

using detail::binary_raw;
using detail::unary_raw;

namespace {
Tensor scalar_like(const Tensor& like, double value) {
  check_defined("scalar op", like, "tensor operand");
  return full({}, value, detail::options_of(like));
}
}  // namespace

// ---- arithmetic --------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Add, a, b, "add");
  record("add", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{sum_to(g[0], sa), sum_to(g[0], sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Sub, a, b, "sub");
  record("sub", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{sum_to(g[0], sa), sum_to(neg(g[0]), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Mul, a, b, "mul");
  if (detail::will_record("mul", {a, b}, out)) {
    record("mul", {a, b}, {out}, [a = a.detach(), b = b.detach()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0] * b, a.shape()), sum_to(g[0] * a, b.shape())};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Div, a, b, "div");
  if (detail::will_record("div", {a, b}, out)) {
    record("div", {a, b}, {out}, [a = a.detach(), b = b.detach()](const std::vector<Tensor>& g) {
      Tensor grad_a = g[0] / b;
      return std::vector<Tensor>{sum_to(grad_a, a.shape()), sum_to(neg(grad_a * a / b), b.shape())};
    });
  }
  return out;
}

Tensor add(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor div(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor rsub(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
Tensor rdiv(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

// ---- unary math --------------------------------------------------------------------------------
Tensor neg(const Tensor& x) {
  check_defined("neg", x, "input");
  Tensor out = unary_raw(UnaryOp::Neg, x);
  record("neg", {x}, {out}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{neg(g[0])}; });
  return out;
}

Tensor pow(const Tensor& x, double exponent) {
  detail::check_float("pow", x);
  Tensor out = unary_raw(UnaryOp::Pow, x, exponent);
  if (detail::will_record("pow", {x}, out)) {
    record("pow", {x}, {out}, [x = x.detach(), exponent](const std::vector<Tensor>& g) {
      if (exponent == 0.0) return std::vector<Tensor>{zeros_like(x)};
      return std::vector<Tensor>{g[0] * (pow(x, exponent - 1.0) * exponent)};
    });
  }
  return out;
}

Tensor exp(const Tensor& x) {
  detail::check_float("exp", x);
  Tensor out = unary_raw(UnaryOp::Exp, x);
  if (detail::will_record("exp", {x}, out)) {
    record("exp", {x}, {out}, [y = out.detach()](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0] * y}; });
  }
  return out;
}

Tensor log(const Tensor& x) {
  detail::check_float("log", x);
  Tensor out = unary_raw(UnaryOp::Log, x);
  if (detail::will_record("log", {x}, out)) {
    record("log", {x}, {out}, [x = x.detach()](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0] / x}; });
  }
  return out;
}

Tensor sqrt(const Tensor& x) {
  detail::check_float("sqrt", x);
  Tensor out = unary_raw(UnaryOp::Sqrt, x);
  if (detail::will_record("sqrt", {x}, out)) {
    record("sqrt", {x}, {out}, [y = out.detach()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0] / (y * 2.0)};
    });
  }
  return out;
}

Tensor abs(const Tensor& x) {
  check_defined("abs", x, "input");
  Tensor out = unary_raw(UnaryOp::Abs, x);
  if (detail::will_record("abs", {x}, out)) {
    record("abs", {x}, {out}, [x = x.detach()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0] * unary_raw(UnaryOp::Sign, x)};
    });
  }
  return out;
}

Tensor tanh(const Tensor& x) {
  detail::check_float("tanh", x);
  Tensor out = unary_raw(UnaryOp::Tanh, x);
  if (detail::will_record("tanh", {x}, out)) {
    record("tanh", {x}, {out}, [y = out.detach()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::activation_backward_raw(ActivationGrad::Tanh, g[0], y)};
    });
  }
  return out;
}

Tensor sigmoid(const Tensor& x) {
  detail::check_float("sigmoid", x);
  Tensor out = unary_raw(UnaryOp::Sigmoid, x);
  if (detail::will_record("sigmoid", {x}, out)) {
    record("sigmoid", {x}, {out}, [y = out.detach()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::activation_backward_raw(ActivationGrad::Sigmoid, g[0], y)};
    });
  }
  return out;
}

Tensor relu(const Tensor& x) {
  check_defined("relu", x, "input");
  Tensor out = unary_raw(UnaryOp::Relu, x);
  if (detail::will_record("relu", {x}, out)) {
    record("relu", {x}, {out}, [x = x.detach()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::activation_backward_raw(ActivationGrad::Relu, g[0], x)};
    });
  }
  return out;
}

Tensor elu(const Tensor& x, double alpha) {
  detail::check_float("elu", x);
  Tensor out = unary_raw(UnaryOp::Elu, x, alpha);
  if (detail::will_record("elu", {x}, out)) {
    record("elu", {x}, {out}, [x = x.detach(), alpha](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::activation_backward_raw(ActivationGrad::Elu, g[0], x, alpha)};
    });
  }
  return out;
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  detail::check_float("softplus", x);
  MECH_CHECK(beta > 0, "softplus: beta must be positive, got {}", beta);
  Tensor out = unary_raw(UnaryOp::Softplus, x, beta, threshold);
  if (detail::will_record("softplus", {x}, out)) {
    record("softplus", {x}, {out}, [x = x.detach(), beta, threshold](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::activation_backward_raw(ActivationGrad::Softplus, g[0], x, beta, threshold)};
    });
  }
  return out;
}

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  detail::check_float("gelu", x);
  const bool exact = approximate == GeluApproximation::None;
  Tensor out = unary_raw(exact ? UnaryOp::Gelu : UnaryOp::GeluTanh, x);
  if (detail::will_record("gelu", {x}, out)) {
    record("gelu", {x}, {out}, [x = x.detach(), exact](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{
          detail::activation_backward_raw(exact ? ActivationGrad::Gelu : ActivationGrad::GeluTanh, g[0], x)};
    });
  }
  return out;
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  check_defined("clamp", x, "input");
  const double low = min.value_or(-INFINITY);
  const double high = max.value_or(INFINITY);
  MECH_CHECK(!(low > high), "clamp: min {} is greater than max {}", low, high);
  Tensor out = unary_raw(UnaryOp::Clamp, x, low, high);
  if (detail::will_record("clamp", {x}, out)) {
    record("clamp", {x}, {out}, [x = x.detach(), low, high](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0] * unary_raw(UnaryOp::ClampMask, x, low, high)};
    });
  }
  return out;
}

// ---- where and comparisons ---------------------------------------------------------------------
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  detail::check_binary("where", a, b);
  check_defined("where", condition, "condition");
  check_same_device("where", condition, a);
  const Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, detail::options_of(a));
  kernels::where(detail::expand_view(condition, shape), detail::expand_view(a, shape), detail::expand_view(b, shape), out);
  if (detail::will_record("where", {a, b}, out)) {
    record("where", {a, b}, {out},
           [condition = condition.detach(), sa = a.shape(), sb = b.shape()](const std::vector<Tensor>& g) {
             Tensor zero = zeros({}, detail::options_of(g[0]));
             return std::vector<Tensor>{sum_to(where(condition, g[0], zero), sa),
                                        sum_to(where(condition, zero, g[0]), sb)};
           });
  }
  return out;
}

Tensor gt(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Gt, a, b, "gt"); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Lt, a, b, "lt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Ge, a, b, "ge"); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Le, a, b, "le"); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Eq, a, b, "eq"); }

// ---- operators ---------------------------------------------------------------------------------
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return rsub(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) { return rdiv(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace mech
