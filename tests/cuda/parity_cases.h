// The op-level cases of the CPU/CUDA parity harness (test_parity.cpp): every differentiable op of
// autograd/ (each op that records a node, plus the composites the public API builds from them:
// scalar forms, mean, stack, losses, views) as a function of leaf tensors, the shapes and value
// domains of those leaves, and the tolerance of the CPU/GPU comparison. The harness runs each case
// in float32 and float64, on contiguous leaves, on strided views of leaves (transposed or sliced)
// and on broadcast (stride 0) views, and compares the forward value and every leaf's gradient.
//
// Tolerance: |gpu - cpu| <= eps(dtype) * factor * (scale + |cpu|), `scale` being the size of the
// terms behind a value (1 for elementwise math; the number of summed terms for reductions and
// products, forward or backward, whichever is larger).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mech::parity {

struct Tolerance {
  double factor = 8;  // units of eps(dtype)
  double scale = 1;   // size of the terms behind each value
};

// How a leaf's values are drawn: normal; |normal| + 0.2 (log, sqrt, fractional powers); normal
// pushed 0.2 away from zero (divisors, and kinks at zero: abs, relu, elu).
enum class Domain { Any, Positive, AwayFromZero };

struct Leaf {
  Shape shape;
  Domain domain = Domain::Any;
};

using OpFunction = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpCase {
  std::string name;
  std::vector<Leaf> leaves;
  OpFunction function;
  Tolerance tolerance;
  // Tensor::view needs compatible strides: such cases run on contiguous leaves only.
  bool contiguous_only = false;
};

// A 1-D int64 index on the device of `like`.
inline Tensor index_on(const Tensor& like, const std::vector<std::int64_t>& positions) {
  return from_vector<std::int64_t>(positions, {static_cast<std::int64_t>(positions.size())}).to(like.device());
}

inline std::vector<OpCase> op_cases() {
  using T = std::vector<Tensor>;
  const Domain any = Domain::Any, positive = Domain::Positive, nonzero = Domain::AwayFromZero;
  // Elementwise math through device math libraries (a few ulp apart) and its derivative factors.
  const Tolerance elementwise{32, 1};
  std::vector<OpCase> cases;
  auto unary = [&](const std::string& name, Domain domain, std::function<Tensor(const Tensor&)> f) {
    cases.push_back({name, {{{5, 7}, domain}}, [f](const T& t) { return f(t[0]); }, elementwise});
  };

  // ---- elementwise: binary with broadcasting (ops_elementwise.cpp add, sub, mul, div) ----------
  cases.push_back({"add broadcast", {{{3, 1, 5}}, {{4, 5}}}, [](const T& t) { return t[0] + t[1]; }, {8, 2}});
  cases.push_back({"sub broadcast", {{{3, 1, 5}}, {{4, 5}}}, [](const T& t) { return sub(t[0], t[1]); }, {8, 2}});
  cases.push_back({"mul broadcast", {{{3, 1, 5}}, {{4, 5}}}, [](const T& t) { return mul(t[0], t[1]); }, {8, 4}});
  cases.push_back({"div broadcast", {{{3, 1, 5}}, {{4, 5}, nonzero}}, [](const T& t) { return div(t[0], t[1]); },
                   {16, 4}});
  cases.push_back({"add same shape", {{{4, 6}}, {{4, 6}}}, [](const T& t) { return add(t[0], t[1]); }, {8, 1}});
  cases.push_back({"mul same shape", {{{4, 6}}, {{4, 6}}}, [](const T& t) { return t[0] * t[1]; }, {8, 1}});
  cases.push_back({"div same shape", {{{4, 6}}, {{4, 6}, nonzero}}, [](const T& t) { return t[0] / t[1]; }, {16, 1}});
  cases.push_back({"0-d times matrix", {{{}}, {{3, 4}}}, [](const T& t) { return t[0] * t[1] + t[0]; }, {8, 12}});
  // Scalar forms and operators (add/sub/mul/div with a double, rsub, rdiv, unary minus).
  cases.push_back({"add scalar", {{{4, 6}}}, [](const T& t) { return add(t[0], 2.5); }, {8, 1}});
  cases.push_back({"sub scalar", {{{4, 6}}}, [](const T& t) { return sub(t[0], 0.5); }, {8, 1}});
  cases.push_back({"mul scalar", {{{4, 6}}}, [](const T& t) { return mul(t[0], 3.0); }, {8, 1}});
  cases.push_back({"div scalar", {{{4, 6}}}, [](const T& t) { return div(t[0], 4.0); }, {8, 1}});
  cases.push_back({"rsub", {{{4, 6}}}, [](const T& t) { return rsub(1.0, t[0]); }, {8, 1}});
  cases.push_back({"rdiv", {{{4, 6}, nonzero}}, [](const T& t) { return rdiv(2.0, t[0]); }, {16, 1}});
  cases.push_back({"operators", {{{4, 6}, nonzero}},
                   [](const T& t) {
                     const Tensor& x = t[0];
                     return (1.0 + x) * (2.0 * x) - (3.0 - x) / (x / 2.0 + 5.0) + (-x) - x * 0.5 + (x + 1.0);
                   },
                   {32, 8}});

  // ---- elementwise: unary (neg, pow, exp, log, sqrt, abs, tanh, sigmoid, relu, elu, softplus,
  // clamp), each in the domain where it is differentiable ------------------------------------------
  unary("neg", any, [](const Tensor& x) { return neg(x); });
  unary("exp", any, [](const Tensor& x) { return exp(x); });
  unary("log", positive, [](const Tensor& x) { return log(x); });
  unary("sqrt", positive, [](const Tensor& x) { return sqrt(x); });
  unary("abs", nonzero, [](const Tensor& x) { return abs(x); });
  unary("tanh", any, [](const Tensor& x) { return tanh(x); });
  unary("sigmoid", any, [](const Tensor& x) { return sigmoid(x); });
  unary("relu", nonzero, [](const Tensor& x) { return relu(x); });
  unary("elu", nonzero, [](const Tensor& x) { return elu(x); });
  unary("elu alpha 0.7", nonzero, [](const Tensor& x) { return elu(x, 0.7); });
  unary("softplus", any, [](const Tensor& x) { return softplus(x); });
  // beta 2, threshold 2: elements above x = 1 take the linear branch.
  unary("softplus beta 2 threshold 2", nonzero, [](const Tensor& x) { return softplus(x, 2.0, 2.0); });
  // Normal samples straddle the bounds; none lands on one (the seeds are fixed).
  unary("clamp both bounds", any, [](const Tensor& x) { return clamp(x, -0.5, 0.5); });
  unary("clamp min only", any, [](const Tensor& x) { return clamp(x, -0.3, std::nullopt); });
  unary("clamp max only", any, [](const Tensor& x) { return clamp(x, std::nullopt, 0.25); });
  unary("pow 2", any, [](const Tensor& x) { return pow(x, 2.0); });
  unary("pow 3", any, [](const Tensor& x) { return pow(x, 3.0); });
  unary("pow 0", any, [](const Tensor& x) { return pow(x, 0.0); });
  unary("pow 2.5", positive, [](const Tensor& x) { return pow(x, 2.5); });
  unary("pow -1.5", positive, [](const Tensor& x) { return pow(x, -1.5); });

  // ---- where and the comparisons (not differentiable themselves: used as conditions) ----------
  cases.push_back({"where gt", {{{3, 4}}, {{3, 4}}},
                   [](const T& t) { return where(gt(t[0], t[1]), t[0], t[1] * 2.0); }, {8, 1}});
  cases.push_back({"where broadcast branch", {{{3, 4}}, {{4}}},
                   [](const T& t) { return where(gt(t[0], zeros_like(t[0])), t[0], t[1]); }, {8, 3}});
  cases.push_back({"where lt, ge, le, eq conditions", {{{4, 5}}, {{4, 5}}},
                   [](const T& t) {
                     const Tensor& a = t[0];
                     const Tensor& b = t[1];
                     return where(lt(a, b), a, b) + where(ge(a, b), b * 3.0, a) + where(le(a, b * 0.5), a * a, b) +
                            where(eq(a, a), b, a);
                   },
                   {16, 4}});

  // ---- reductions (ops_reduce.cpp sum, max; mean = sum / n) ------------------------------------
  const Shape cube{4, 7, 3};
  cases.push_back({"sum all", {{cube}}, [](const T& t) { return sum(t[0]); }, {4, 84}});
  cases.push_back({"sum dims 0 2", {{cube}}, [](const T& t) { return sum(t[0], {0, 2}); }, {4, 12}});
  cases.push_back({"sum dim 1 keepdim", {{cube}}, [](const T& t) { return t[0].sum({1}, true); }, {4, 7}});
  cases.push_back({"mean all", {{cube}}, [](const T& t) { return mean(t[0]); }, {4, 84}});
  cases.push_back({"mean dims 0 2 keepdim", {{cube}}, [](const T& t) { return mean(t[0], {0, 2}, true); }, {4, 12}});
  cases.push_back({"max all", {{cube}}, [](const T& t) { return max(t[0]); }, {0, 0}});
  cases.push_back({"max dim 1", {{cube}}, [](const T& t) { return max(t[0], 1); }, {0, 0}});
  cases.push_back({"max dim 2 keepdim", {{cube}}, [](const T& t) { return t[0].max(2, true); }, {0, 0}});
  cases.push_back({"max_with_indices dim 0", {{cube}},
                   [](const T& t) {
                     const auto [values, indices] = max_with_indices(t[0], 0);
                     return values + indices.to(values.dtype());
                   },
                   {0, 0}});

  // ---- matmul (ops_matmul.cpp): 2-D, batched with broadcasting, vectors ------------------------
  cases.push_back({"matmul 2-D", {{{6, 8}}, {{8, 5}}}, [](const T& t) { return matmul(t[0], t[1]); }, {8, 8}});
  cases.push_back({"matmul batched, shared right", {{{3, 6, 8}}, {{8, 5}}},
                   [](const T& t) { return matmul(t[0], t[1]); }, {8, 18}});
  cases.push_back({"matmul batch broadcast both", {{{2, 1, 4, 6}}, {{3, 6, 5}}},
                   [](const T& t) { return matmul(t[0], t[1]); }, {8, 15}});
  cases.push_back({"matmul vector-matrix", {{{8}}, {{8, 5}}}, [](const T& t) { return matmul(t[0], t[1]); }, {8, 8}});
  cases.push_back({"matmul matrix-vector", {{{6, 8}}, {{8}}}, [](const T& t) { return matmul(t[0], t[1]); }, {8, 8}});
  cases.push_back({"matmul dot", {{{8}}, {{8}}}, [](const T& t) { return matmul(t[0], t[1]); }, {8, 8}});

  // ---- cat, stack, index_select (ops_shape.cpp) --------------------------------------------------
  cases.push_back({"cat dim 0", {{{2, 5}}, {{3, 5}}}, [](const T& t) { return cat({t[0], t[1]}, 0); }, {0, 0}});
  cases.push_back({"cat dim 1", {{{4, 2}}, {{4, 3}}}, [](const T& t) { return cat({t[0], t[1]}, 1); }, {0, 0}});
  // The first input twice: its gradient is the sum of two slices of the output's.
  cases.push_back({"cat dim -1, repeated input", {{{3, 2, 4}}, {{3, 2, 1}}},
                   [](const T& t) { return cat({t[0], t[1], t[0]}, -1); }, {4, 2}});
  cases.push_back({"stack dim 1", {{{3, 4}}, {{3, 4}}}, [](const T& t) { return stack({t[0], t[1]}, 1); }, {0, 0}});
  // Repeated indices accumulate in the backward (index_add: atomics on the GPU, another order).
  cases.push_back({"index_select dim 0, repeats", {{{6, 5}}},
                   [](const T& t) { return index_select(t[0], 0, index_on(t[0], {5, 0, 0, 3})); }, {8, 4}});
  cases.push_back({"index_select dim 1", {{{4, 6}}},
                   [](const T& t) { return index_select(t[0], 1, index_on(t[0], {1, 1, 5, 2, 1})); }, {8, 4}});

  // ---- conv1d (ops_conv.cpp) -------------------------------------------------------------------
  // Forward sums in * taps terms, the weight gradient batch * output length.
  cases.push_back({"conv1d zeros padding, bias", {{{2, 3, 20}}, {{4, 3, 5}}, {{4}}},
                   [](const T& t) { return conv1d(t[0], t[1], t[2], 1, 2, 1, PaddingMode::Zeros); }, {8, 40}});
  cases.push_back({"conv1d stride 2 dilation 2 circular, no bias", {{{3, 2, 17}}, {{5, 2, 3}}},
                   [](const T& t) { return conv1d(t[0], t[1], Tensor(), 2, 2, 2, PaddingMode::Circular); }, {8, 27}});

  // ---- losses (ops_loss.cpp) -------------------------------------------------------------------
  for (const auto& [reduction, reduction_name] :
       {std::pair{Reduction::Mean, "mean"}, std::pair{Reduction::Sum, "sum"}, std::pair{Reduction::None, "none"}}) {
    const Reduction r = reduction;
    cases.push_back({std::string("mse_loss ") + reduction_name, {{{5, 4}}, {{5, 4}}},
                     [r](const T& t) { return mse_loss(t[0], t[1], r); }, {8, 20}});
    cases.push_back({std::string("l1_loss ") + reduction_name, {{{5, 4}}, {{5, 4}}},
                     [r](const T& t) { return l1_loss(t[0], t[1], r); }, {8, 20}});
  }

  // ---- views and conversions (ops_view.cpp) ------------------------------------------------------
  const Shape block{2, 3, 4};
  // Views move values exactly; expand's gradient sums the copies (summation order may differ).
  auto view_case = [&](const std::string& name, std::function<Tensor(const Tensor&)> f, bool contiguous_only = false,
                       Tolerance tolerance = {0, 0}) {
    cases.push_back({name, {{block}}, [f](const T& t) { return f(t[0]); }, tolerance, contiguous_only});
  };
  view_case("view", [](const Tensor& x) { return x.view({6, 4}); }, true);
  view_case("view -1", [](const Tensor& x) { return x.view({-1, 2}); }, true);
  view_case("reshape", [](const Tensor& x) { return x.reshape({4, 6}); });
  view_case("permute", [](const Tensor& x) { return x.permute({2, 0, 1}); });
  view_case("transpose", [](const Tensor& x) { return x.transpose(0, 2); });
  view_case("narrow", [](const Tensor& x) { return x.narrow(2, 1, 2); });
  view_case("slice step 3", [](const Tensor& x) { return x.slice(2, 0, 4, 3); });
  view_case("slice negative start", [](const Tensor& x) { return x.slice(1, -2, 3); });
  view_case("select", [](const Tensor& x) { return x.select(1, 2); });
  view_case("expand", [](const Tensor& x) { return x.unsqueeze(1).expand({2, 5, 3, 4}); }, false, {4, 5});
  view_case("expand -1", [](const Tensor& x) { return x.narrow(0, 0, 1).expand({3, -1, -1}); }, false, {4, 3});
  view_case("squeeze", [](const Tensor& x) { return x.narrow(1, 0, 1).squeeze(); });
  view_case("squeeze dim", [](const Tensor& x) { return x.narrow(1, 1, 1).squeeze(1); });
  view_case("unsqueeze", [](const Tensor& x) { return x.unsqueeze(-1); });
  view_case("flatten", [](const Tensor& x) { return x.flatten(1, 2); });
  view_case("contiguous", [](const Tensor& x) { return x.transpose(0, 1).contiguous(); });
  view_case("clone", [](const Tensor& x) { return x.clone(); });
  // Conversions between float dtypes round identically on both devices.
  view_case("to_dtype round trip", [](const Tensor& x) {
    return x.to(x.dtype() == DType::Float32 ? DType::Float64 : DType::Float32).to(x.dtype()) * 1.0;
  });
  // Through host memory and back: the gradient crosses devices too (a no-op in the CPU self-check).
  view_case("to_device round trip", [](const Tensor& x) { return (x.to(Device::cpu()) * 2.0).to(x.device()); });
  cases.push_back({"views into arithmetic", {{{3, 4}}, {{6}}},
                   [](const T& t) {
                     const Tensor a = t[0].t().slice(0, 0, 4, 2).unsqueeze(0);    // (1, 2, 3)
                     const Tensor b = t[1].reshape({3, 2}).t().expand({4, 2, 3});  // (4, 2, 3)
                     return (a * b).flatten().narrow(0, 3, 12).reshape({3, 4}).t();
                   },
                   {8, 4}});
  return cases;
}

}  // namespace mech::parity
