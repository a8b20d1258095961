// The op-test table (ggml's test-backend-ops is the model): every public differentiable op of
// autograd/ (each op that records a node, plus the composites the public API builds from them:
// scalar forms, mean, stack, losses, views) and the comparisons, one entry per op form, as a
// function of leaf tensors with the shapes and value domains of those leaves. One table drives:
//   (a) test_autograd (tests/autograd/test_op_table.cpp): central finite-difference gradient
//       checks in float64 on the CPU of every differentiable case;
//   (b) test_cuda (tests/cuda/test_parity.cpp): CPU/CUDA parity of the forward value and every
//       leaf's gradient in float32 and float64 (CPU against CPU in every build, so that a
//       malformed case fails in CI; the GPU when there is one);
//   (c) test_cuda (tests/cuda/test_host_emulation.cpp and the kernel-level parity tests): the
//       per-element device code a case runs (cuda/element_math.h unary and binary kernels,
//       cuda/conv_math.h for conv1d cases) against the CPU kernels; and, for one-leaf unary
//       cases, that the op's value and gradient are those declared kernels' per-element values.
// (a) and (b) run each case on contiguous leaves, on strided views of leaves (transposed or sliced)
// and on broadcast (stride 0) views, except cases marked contiguous-only (Tensor::view).
//
// Coverage before this table (three separate tables) -> after:
//   gradient checks (float64, hand lists in tests/autograd/test_ops_*.cpp): 153 -> 524 (176 cases
//     on each of their leaf layouts; one conv1d too large for finite differences), beside which
//     the randomised-shape checks and one requires-grad check stay where they were;
//   op-level parity runs (case x dtype x layout): 87 cases in 514 runs plus 6 composites in 12
//     contiguous runs -> 182 cases (177 differentiable, 5 comparisons forward only) in 1084 runs;
//   host emulation: 18 unary kernels, 11 binary kernels, 25 conv1d geometries (all with bias)
//     -> 32 unary kernels (each parameter set the table's ops pass, forward and backward), the
//     same 11 binary kernels, 42 conv1d geometries (with and without bias);
//   kernel-level parity: 18 float and 5 int64 unary kernels, 5 conv1d geometries -> 32 and 7,
//     42 geometries (binary kernels unchanged: 11).
// Every op, dtype and layout checked before is checked after: the float32 and float64 parity of
// every op on contiguous, strided and broadcast leaves, and float64 gradient checks on
// contiguous and strided leaves (now broadcast ones too).
// Since then: rfft and irfft (5 cases, 15 gradient checks, 30 parity runs); gelu in both forms
// (2 cases, 6 gradient checks, 12 parity runs); the activations' backward factors (relu_mask,
// elu_grad, softplus_grad: 5 unary kernels with their parameters) became one activation_backward
// kernel (9 parameter sets, tanh's and sigmoid's backward among them).
// test_op_table.cpp asserts these counts, so a case lost from the table fails a test.
//
// Parity tolerance: |gpu - cpu| <= eps(dtype) * factor * (scale + |cpu|), `scale` being the size of
// the terms behind a value (1 for elementwise math; the number of summed terms for reductions and
// products, forward or backward, whichever is larger).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/generator.h"
#include "core/kernels.h"
#include "core/tensor.h"

namespace mech::op_tests {

// The table's size, asserted by the tests that run it (test_op_table.cpp, test_parity.cpp), so a
// case lost from the table fails a test. Parity runs: 2 dtypes x each case's leaf layouts.
inline constexpr int kOpCases = 189, kDifferentiableCases = 184, kGradientChecks = 545, kParityRuns = 1126;
inline constexpr int kConv1dGeometries = 42, kUnaryKernels = 29, kActivationGradKernels = 9, kBinaryKernels = 11;

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

// A unary kernel of the device's per-element code (cuda/element_math.h) with the parameters the
// op passes it.
struct UnaryKernel {
  UnaryOp op;
  double p0 = 0, p1 = 0;
  bool operator==(const UnaryKernel&) const = default;
};

// The activation_backward kernel (core/kernel_list.h) an activation's backward runs, with the
// parameters the op passes it.
struct ActivationGradKernel {
  ActivationGrad op;
  double p0 = 0, p1 = 0;
  bool operator==(const ActivationGradKernel&) const = default;
  // Whether the kernel reads the forward's output (tanh, sigmoid) rather than its input.
  bool reads_output() const { return op == ActivationGrad::Tanh || op == ActivationGrad::Sigmoid; }
};

// The options of a case that is one conv1d of leaves (input, weight[, bias]).
struct Conv1dForm {
  std::int64_t stride = 1, padding = 0, dilation = 1;
  PaddingMode mode = PaddingMode::Zeros;
  bool bias = true;
};

struct OpCase {
  std::string name;
  std::vector<Leaf> leaves;
  OpFunction function;
  Tolerance tolerance;             // of the CPU/CUDA parity comparison
  bool differentiable = true;      // false: forward values only (comparisons)
  bool contiguous_only = false;    // Tensor::view needs compatible strides
  bool finite_differences = true;  // false: too large for a gradient check (parity only)
  GradcheckOptions gradcheck;
  // Per-element device code the forward and backward run (host emulation, kernel parity).
  std::vector<UnaryKernel> unary_kernels;
  std::vector<BinaryOp> binary_kernels;
  std::optional<ActivationGradKernel> activation_grad;  // its backward's one kernel
  std::optional<Conv1dForm> conv;

  OpCase& runs(std::vector<UnaryKernel> kernels) { unary_kernels = std::move(kernels); return *this; }
  OpCase& runs(std::vector<BinaryOp> kernels) { binary_kernels = std::move(kernels); return *this; }
  OpCase& backward_runs(ActivationGradKernel kernel) { activation_grad = kernel; return *this; }
  OpCase& forward_only() { differentiable = false; return *this; }
  OpCase& on_contiguous_leaves_only() { contiguous_only = true; return *this; }
  OpCase& with_gradcheck(GradcheckOptions options) { gradcheck = options; return *this; }
};

// A 1-D int64 index on the device of `like`.
inline Tensor index_on(const Tensor& like, const std::vector<std::int64_t>& positions) {
  return from_vector<std::int64_t>(positions, {static_cast<std::int64_t>(positions.size())}).to(like.device());
}

inline std::int64_t conv1d_out_length(std::int64_t length, std::int64_t taps, const Conv1dForm& form) {
  return (length + 2 * form.padding - form.dilation * (taps - 1) - 1) / form.stride + 1;
}

inline std::vector<OpCase> op_cases() {
  using T = std::vector<Tensor>;
  const Domain any = Domain::Any, positive = Domain::Positive, nonzero = Domain::AwayFromZero;
  // Elementwise math through device math libraries (a few ulp apart) and its derivative factors.
  const Tolerance elementwise{32, 1};
  std::vector<OpCase> cases;
  auto add_case = [&](std::string name, std::vector<Leaf> leaves, OpFunction function, Tolerance tolerance) -> OpCase& {
    OpCase& added = cases.emplace_back();
    added.name = std::move(name);
    added.leaves = std::move(leaves);
    added.function = std::move(function);
    added.tolerance = tolerance;
    return added;
  };
  auto unary = [&](const std::string& name, Domain domain, std::function<Tensor(const Tensor&)> f) -> OpCase& {
    return add_case(name, {{{5, 7}, domain}}, [f](const T& t) { return f(t[0]); }, elementwise);
  };

  // ---- elementwise: binary with broadcasting (ops_elementwise.cpp add, sub, mul, div) ----------
  // Three broadcast patterns each: both sides broadcast, a lower-rank left operand, a 0-d left
  // operand. A broadcast operand's gradient sums its copies' (up to 12 terms, times 2 for
  // products).
  struct Binary {
    const char* name;
    BinaryOp op;
    Tensor (*function)(const Tensor&, const Tensor&);
  };
  const Binary binaries[] = {{"add", BinaryOp::Add, [](const Tensor& a, const Tensor& b) { return add(a, b); }},
                             {"sub", BinaryOp::Sub, [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
                             {"mul", BinaryOp::Mul, [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
                             {"div", BinaryOp::Div, [](const Tensor& a, const Tensor& b) { return div(a, b); }}};
  for (const Binary& binary : binaries) {
    const Domain right = binary.op == BinaryOp::Div ? nonzero : any;
    const auto f = binary.function;
    const double products = binary.op == BinaryOp::Mul || binary.op == BinaryOp::Div ? 2 : 1;
    const double factor = binary.op == BinaryOp::Div ? 16 : 8;
    add_case(std::string(binary.name) + " broadcast", {{{3, 1, 5}}, {{4, 5}, right}},
             [f](const T& t) { return f(t[0], t[1]); }, {factor, 2 * products})
        .runs({binary.op});
    add_case(std::string(binary.name) + " broadcast rank 1 with rank 3", {{{5}}, {{2, 3, 5}, right}},
             [f](const T& t) { return f(t[0], t[1]); }, {factor, 6 * products})
        .runs({binary.op});
    add_case(std::string(binary.name) + " broadcast 0-d with matrix", {{{}}, {{3, 4}, right}},
             [f](const T& t) { return f(t[0], t[1]); }, {factor, 12 * products})
        .runs({binary.op});
  }
  add_case("add same shape", {{{4, 6}}, {{4, 6}}}, [](const T& t) { return add(t[0], t[1]); }, {8, 1}).runs({BinaryOp::Add});
  add_case("mul same shape", {{{4, 6}}, {{4, 6}}}, [](const T& t) { return t[0] * t[1]; }, {8, 1}).runs({BinaryOp::Mul});
  add_case("div same shape", {{{4, 6}}, {{4, 6}, nonzero}}, [](const T& t) { return t[0] / t[1]; }, {16, 1})
      .runs({BinaryOp::Div});
  add_case("0-d times matrix", {{{}}, {{3, 4}}}, [](const T& t) { return t[0] * t[1] + t[0]; }, {8, 12});
  // Scalar forms and operators (add/sub/mul/div with a double, rsub, rdiv, unary minus).
  add_case("add scalar", {{{4, 6}}}, [](const T& t) { return add(t[0], 2.5); }, {8, 1});
  add_case("sub scalar", {{{4, 6}}}, [](const T& t) { return sub(t[0], 0.5); }, {8, 1});
  add_case("mul scalar", {{{4, 6}}}, [](const T& t) { return mul(t[0], 3.0); }, {8, 1});
  add_case("div scalar", {{{4, 6}}}, [](const T& t) { return div(t[0], 4.0); }, {8, 1});
  add_case("rsub", {{{4, 6}}}, [](const T& t) { return rsub(1.0, t[0]); }, {8, 1});
  add_case("rdiv", {{{4, 6}, nonzero}}, [](const T& t) { return rdiv(2.0, t[0]); }, {16, 1});
  add_case("operators", {{{4, 6}, nonzero}},
           [](const T& t) {
             const Tensor& x = t[0];
             return (1.0 + x) * (2.0 * x) - (3.0 - x) / (x / 2.0 + 5.0) + (-x) - x * 0.5 + (x + 1.0);
           },
           {32, 8});
  add_case("scalar forms chained", {{{2, 3}, nonzero}},
           [](const T& t) {
             const Tensor& x = t[0];
             return add(x, 2.0) * sub(x, 0.5) + mul(x, 3.0) - div(x, 4.0) + rsub(1.0, x) + rdiv(2.0, x);
           },
           {32, 8});

  // ---- elementwise: unary (neg, pow, exp, log, sqrt, abs, tanh, sigmoid, relu, elu, softplus,
  // gelu, clamp), each in the domain where it is differentiable, with the kernels its forward and
  // backward run ------------------------------------------------------------------------------------
  using U = UnaryOp;
  unary("neg", any, [](const Tensor& x) { return neg(x); }).runs({{U::Neg}});
  unary("exp", any, [](const Tensor& x) { return exp(x); }).runs({{U::Exp}});
  unary("log", positive, [](const Tensor& x) { return log(x); }).runs({{U::Log}});
  unary("sqrt", positive, [](const Tensor& x) { return sqrt(x); }).runs({{U::Sqrt}});
  unary("abs", nonzero, [](const Tensor& x) { return abs(x); }).runs({{U::Abs}, {U::Sign}});
  using G = ActivationGrad;
  unary("tanh", any, [](const Tensor& x) { return tanh(x); }).runs({{U::Tanh}}).backward_runs({G::Tanh});
  unary("sigmoid", any, [](const Tensor& x) { return sigmoid(x); }).runs({{U::Sigmoid}}).backward_runs({G::Sigmoid});
  unary("relu", nonzero, [](const Tensor& x) { return relu(x); }).runs({{U::Relu}}).backward_runs({G::Relu});
  unary("elu", nonzero, [](const Tensor& x) { return elu(x); }).runs({{U::Elu, 1.0}}).backward_runs({G::Elu, 1.0});
  unary("elu alpha 0.7", nonzero, [](const Tensor& x) { return elu(x, 0.7); })
      .runs({{U::Elu, 0.7}})
      .backward_runs({G::Elu, 0.7});
  unary("softplus", any, [](const Tensor& x) { return softplus(x); })
      .runs({{U::Softplus, 1.0, 20.0}})
      .backward_runs({G::Softplus, 1.0, 20.0});
  // beta 2, threshold 2: elements above x = 1 take the linear branch.
  unary("softplus beta 2 threshold 2", nonzero, [](const Tensor& x) { return softplus(x, 2.0, 2.0); })
      .runs({{U::Softplus, 2.0, 2.0}})
      .backward_runs({G::Softplus, 2.0, 2.0});
  unary("gelu", any, [](const Tensor& x) { return gelu(x); }).runs({{U::Gelu}}).backward_runs({G::Gelu});
  unary("gelu tanh", any, [](const Tensor& x) { return gelu(x, GeluApproximation::Tanh); })
      .runs({{U::GeluTanh}})
      .backward_runs({G::GeluTanh});
  // Normal samples straddle the bounds; none lands within a finite-difference step of one (the
  // seeds are fixed).
  const double inf = INFINITY;
  unary("clamp both bounds", any, [](const Tensor& x) { return clamp(x, -0.5, 0.5); })
      .runs({{U::Clamp, -0.5, 0.5}, {U::ClampMask, -0.5, 0.5}});
  unary("clamp min only", any, [](const Tensor& x) { return clamp(x, -0.3, std::nullopt); })
      .runs({{U::Clamp, -0.3, inf}, {U::ClampMask, -0.3, inf}});
  unary("clamp max only", any, [](const Tensor& x) { return clamp(x, std::nullopt, 0.25); })
      .runs({{U::Clamp, -inf, 0.25}, {U::ClampMask, -inf, 0.25}});
  // pow's backward is pow(x, exponent - 1) * exponent.
  for (const double exponent : {2.0, 3.0, 0.0, 2.5, -1.5}) {
    const bool integral = exponent == std::floor(exponent);
    OpCase& power = unary(fmt::format("pow {}", exponent), integral ? any : positive,
                          [exponent](const Tensor& x) { return pow(x, exponent); });
    power.runs(exponent == 0.0 ? std::vector<UnaryKernel>{{U::Pow, 0.0}}
                               : std::vector<UnaryKernel>{{U::Pow, exponent}, {U::Pow, exponent - 1.0}});
  }

  // ---- where and the comparisons ----------------------------------------------------------------
  add_case("where gt", {{{3, 4}}, {{3, 4}}}, [](const T& t) { return where(gt(t[0], t[1]), t[0], t[1] * 2.0); }, {8, 1});
  add_case("where broadcast branch", {{{3, 4}}, {{4}}},
           [](const T& t) { return where(gt(t[0], zeros_like(t[0])), t[0], t[1]); }, {8, 3});
  add_case("where lt, ge, le, eq conditions", {{{4, 5}}, {{4, 5}}},
           [](const T& t) {
             const Tensor& a = t[0];
             const Tensor& b = t[1];
             return where(lt(a, b), a, b) + where(ge(a, b), b * 3.0, a) + where(le(a, b * 0.5), a * a, b) +
                    where(eq(a, a), b, a);
           },
           {16, 4});
  // A fixed condition broadcast against both branches, one of them 0-d.
  add_case("where constant condition, broadcast branches", {{{3, 4}}, {{3, 1}}},
           [](const T& t) { return where(index_on(t[0], {1, 0, 0, 1}).to(t[0].dtype()), t[0], t[1]); }, {8, 4});
  add_case("where constant condition, 0-d branch", {{{2, 4}}, {{}}},
           [](const T& t) { return where(index_on(t[0], {0, 1, 1, 0}), t[0], t[1]); }, {8, 8});
  // The comparisons themselves: 0/1 values, no gradient. eq gets exact ties (b replaced by a
  // wherever a > b).
  const Binary comparisons[] = {{"gt", BinaryOp::Gt, [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
                                {"lt", BinaryOp::Lt, [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
                                {"ge", BinaryOp::Ge, [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
                                {"le", BinaryOp::Le, [](const Tensor& a, const Tensor& b) { return le(a, b); }},
                                {"eq", BinaryOp::Eq, [](const Tensor& a, const Tensor& b) { return eq(a, b); }}};
  for (const Binary& comparison : comparisons) {
    const auto f = comparison.function;
    add_case(std::string(comparison.name) + " with ties, broadcast", {{{3, 4}}, {{4}}},
             [f](const T& t) { return f(t[0], where(gt(t[0], t[1]), t[0], t[1])); }, {0, 0})
        .runs({comparison.op})
        .forward_only();
  }

  // ---- reductions (ops_reduce.cpp sum, max; mean = sum / n) ------------------------------------
  const Shape cube{4, 7, 3};
  for (const Shape& dims : std::vector<Shape>{{}, {0}, {1}, {-1}, {0, 2}, {2, 1, 0}}) {
    double terms = 1;
    for (std::int64_t dim : dims) terms *= static_cast<double>(cube[(dim + 3) % 3]);
    if (dims.empty()) terms = 84;
    for (const bool keepdim : {false, true}) {
      const std::string suffix = " dims " + shape_str(dims) + (keepdim ? " keepdim" : "");
      add_case("sum" + suffix, {{cube}}, [dims, keepdim](const T& t) { return t[0].sum(dims, keepdim); }, {4, terms});
      add_case("mean" + suffix, {{cube}}, [dims, keepdim](const T& t) { return mean(t[0], dims, keepdim); }, {4, terms});
    }
  }
  add_case("sum all", {{cube}}, [](const T& t) { return sum(t[0]); }, {4, 84});
  add_case("mean all", {{cube}}, [](const T& t) { return mean(t[0]); }, {4, 84});
  // Normal samples have a unique maximum per row (broadcast leaves tie exactly: the first copy
  // takes the gradient, which the expand sums back, as a perturbation of the stored value does).
  add_case("max all", {{cube}}, [](const T& t) { return max(t[0]); }, {0, 0});
  add_case("max dim 1", {{cube}}, [](const T& t) { return max(t[0], 1); }, {0, 0});
  add_case("max dim 1 keepdim", {{cube}}, [](const T& t) { return t[0].max(1, true); }, {0, 0});
  add_case("max dim 2 keepdim", {{cube}}, [](const T& t) { return t[0].max(2, true); }, {0, 0});
  add_case("max dim -1", {{{3, 5}}}, [](const T& t) { return t[0].max(-1); }, {0, 0});
  add_case("max_with_indices dim 0", {{cube}},
           [](const T& t) {
             const auto [values, indices] = max_with_indices(t[0], 0);
             return values + indices.to(values.dtype());
           },
           {0, 0});
  add_case("reductions stacked", {{cube}},
           [](const T& t) {
             return stack({sum(t[0], {0, 2}), mean(t[0], {0, 2}), max(t[0], 0, false).sum(Shape{1}) / 3.0}, 0);
           },
           {16, 16});

  // ---- matmul (ops_matmul.cpp): 2-D, batched with broadcasting, vectors ------------------------
  auto product = [](const T& t) { return matmul(t[0], t[1]); };
  add_case("matmul 2-D", {{{6, 8}}, {{8, 5}}}, product, {8, 8});
  add_case("matmul batched, shared right", {{{3, 6, 8}}, {{8, 5}}}, product, {8, 18});
  add_case("matmul batched, shared left", {{{3, 4}}, {{2, 4, 2}}}, product, {8, 4});
  add_case("matmul batch broadcast both", {{{2, 1, 4, 6}}, {{3, 6, 5}}}, product, {8, 15});
  add_case("matmul vector-matrix", {{{8}}, {{8, 5}}}, product, {8, 8});
  add_case("matmul matrix-vector", {{{6, 8}}, {{8}}}, product, {8, 8});
  add_case("matmul dot", {{{8}}, {{8}}}, product, {8, 8});
  // The vector's gradient sums over the batch and the other operand's free dim (6 terms).
  add_case("matmul vector-batch", {{{4}}, {{2, 4, 3}}}, product, {8, 6});
  add_case("matmul batch-vector", {{{2, 3, 4}}, {{4}}}, product, {8, 6});
  add_case("matmul permuted operands", {{{4, 3, 2}}, {{4, 2, 2}}},
           [](const T& t) { return matmul(t[0].transpose(0, 2), t[1].permute({2, 0, 1})); }, {8, 4});
  // 40 x 30 x 50 = 60000 multiply-adds: above the small-product threshold, the packed path.
  add_case("matmul packed path", {{{40, 30}}, {{30, 50}}}, product, {8, 50});
  add_case("matmul chain, transposed operand", {{{2, 6, 8}}, {{5, 8}}, {{5}}},
           [](const T& t) { return tanh(matmul(t[0], t[1].t()) + t[2]); }, {16, 8});

  // ---- cat, stack, index_select (ops_shape.cpp) --------------------------------------------------
  add_case("cat dim 0", {{{2, 5}}, {{3, 5}}}, [](const T& t) { return cat({t[0], t[1]}, 0); }, {0, 0});
  add_case("cat dim 1", {{{4, 2}}, {{4, 3}}}, [](const T& t) { return cat({t[0], t[1]}, 1); }, {0, 0});
  // The first input twice: its gradient is the sum of two slices of the output's.
  add_case("cat dim -1, repeated input", {{{3, 2, 4}}, {{3, 2, 1}}},
           [](const T& t) { return cat({t[0], t[1], t[0]}, -1); }, {4, 2});
  add_case("cat three pieces, transposed middle", {{{3, 2}}, {{4, 3}}, {{3, 1}}},
           [](const T& t) { return cat({t[0], t[1].t(), t[2]}, 1); }, {0, 0});
  add_case("stack dim 1", {{{3, 4}}, {{3, 4}}}, [](const T& t) { return stack({t[0], t[1]}, 1); }, {0, 0});
  add_case("stack dim 1 with a product", {{{2, 3}}, {{3, 2}}},
           [](const T& t) { return stack({t[0], t[1].t(), t[0] * t[1].t()}, 1); }, {8, 2});
  // Repeated indices accumulate in the backward (index_add: atomics on the GPU, another order).
  add_case("index_select dim 0, repeats", {{{6, 5}}},
           [](const T& t) { return index_select(t[0], 0, index_on(t[0], {5, 0, 0, 3})); }, {8, 4});
  add_case("index_select dim 1", {{{4, 6}}},
           [](const T& t) { return index_select(t[0], 1, index_on(t[0], {1, 1, 5, 2, 1})); }, {8, 4});
  add_case("index_select dim -1 of a permuted input", {{{2, 3, 4}}},
           [](const T& t) { return index_select(t[0].permute({2, 0, 1}), -1, index_on(t[0], {1, 1, 0})); }, {8, 4});
  add_case("index_select, cat, views", {{{6, 5}}, {{6, 3}}},
           [](const T& t) {
             const Tensor joined = cat({t[0], t[1].slice(1, 0, 3, 2)}, 1);
             return index_select(joined, 0, index_on(t[0], {5, 0, 0, 3})).transpose(0, 1).contiguous() * 2.0;
           },
           {4, 1});

  // ---- conv1d (ops_conv.cpp) -------------------------------------------------------------------
  // Forward sums in * taps terms, the input gradient out * taps, the weight gradient batch *
  // output length. Geometries: every option combination (stride, zero/circular padding wider
  // than the input or not, dilation, bias), a kernel spanning the whole input, a 1x1 kernel and
  // one long input.
  auto conv_case = [&](Shape input, Shape weight, Conv1dForm form) -> OpCase& {
    const std::int64_t out_length = conv1d_out_length(input[2], weight[2], form);
    const double terms = static_cast<double>(
        std::max({input[1] * weight[2], weight[0] * weight[2], input[0] * out_length}));
    std::vector<Leaf> leaves{{input}, {weight}};
    if (form.bias) leaves.push_back({{weight[0]}});
    OpCase& added = add_case(
        fmt::format("conv1d {} {} stride {} padding {} dilation {} {}{}", shape_str(input), shape_str(weight),
                    form.stride, form.padding, form.dilation, form.mode == PaddingMode::Circular ? "circular" : "zeros",
                    form.bias ? " bias" : ""),
        std::move(leaves),
        [form](const T& t) {
          return conv1d(t[0], t[1], form.bias ? t[2] : Tensor(), form.stride, form.padding, form.dilation, form.mode);
        },
        {8, terms});
    added.conv = form;
    return added;
  };
  const PaddingMode zeros_mode = PaddingMode::Zeros, circular = PaddingMode::Circular;
  struct Geometry {
    Shape input, weight;
    Conv1dForm form;
  };
  const Geometry geometries[] = {
      {{2, 3, 20}, {4, 3, 5}, {1, 2, 1, zeros_mode, true}},
      {{3, 2, 17}, {5, 2, 3}, {2, 2, 2, circular, false}},
      {{2, 3, 10}, {4, 3, 3}, {1, 0, 1, zeros_mode, true}},
      {{2, 3, 10}, {4, 3, 3}, {1, 1, 1, zeros_mode, false}},
      {{1, 2, 11}, {3, 2, 3}, {2, 2, 1, zeros_mode, true}},
      {{2, 2, 12}, {2, 2, 3}, {1, 2, 2, zeros_mode, true}},
      {{2, 3, 9}, {2, 3, 3}, {1, 1, 1, circular, true}},
      {{1, 2, 8}, {3, 2, 5}, {3, 4, 1, circular, false}},
      {{2, 1, 7}, {2, 1, 2}, {2, 3, 3, circular, true}},
      {{3, 4, 6}, {5, 4, 1}, {1, 0, 1, zeros_mode, true}},
      {{1, 2, 4}, {2, 2, 3}, {1, 5, 1, zeros_mode, true}},
      {{2, 2, 13}, {2, 2, 3}, {3, 3, 2, zeros_mode, false}},
      {{1, 1, 5}, {1, 1, 5}, {1, 2, 1, circular, true}},
      {{2, 3, 20}, {4, 3, 3}, {1, 1, 1, zeros_mode, true}},
      {{3, 2, 31}, {5, 2, 5}, {2, 2, 1, zeros_mode, false}},
      {{2, 4, 16}, {3, 4, 3}, {1, 2, 2, circular, true}},
      {{1, 1, 9}, {1, 1, 9}, {1, 4, 1, circular, false}},
  };
  for (const Geometry& geometry : geometries) conv_case(geometry.input, geometry.weight, geometry.form);
  for (PaddingMode mode : {zeros_mode, circular}) {
    for (std::int64_t stride : {1, 2}) {
      for (std::int64_t padding : {0, 1, 3}) {
        for (std::int64_t dilation : {1, 2}) conv_case({2, 3, 9}, {4, 3, 3}, {stride, padding, dilation, mode, true});
      }
    }
  }
  // ~9000 input elements, each a full conv per finite difference: parity only.
  conv_case({4, 8, 257}, {16, 8, 7}, {3, 3, 2, zeros_mode, true}).finite_differences = false;
  // Operands permuted into place, a strided bias.
  add_case("conv1d permuted operands, strided bias", {{{3, 9, 2}}, {{3, 3, 3}}, {{6}}},
           [](const T& t) {
             return conv1d(t[0].permute({2, 0, 1}), t[1].transpose(0, 1), t[2].slice(0, 0, 6, 2), 2, 2, 1,
                           PaddingMode::Circular);
           },
           {8, 9});
  add_case("conv1d both paddings, bias", {{{2, 3, 30}}, {{4, 3, 5}}, {{4}}},
           [](const T& t) {
             return conv1d(t[0], t[1], t[2], 2, 2, 1, PaddingMode::Zeros) +
                    conv1d(t[0], t[1], t[2], 2, 2, 1, PaddingMode::Circular);
           },
           {16, 30});

  // ---- rfft, irfft (ops_fft.cpp) -----------------------------------------------------------------
  // Each value sums n terms (forward and backward: the backwards are the other transform). Even
  // and odd lengths, powers of two (radix-2) and not (Bluestein), batch dims of any rank; the
  // irfft leaves include the imaginary parts of bin 0 and bin n/2 that it ignores (zero gradient).
  add_case("rfft even n", {{{3, 8}}}, [](const T& t) { return rfft(t[0]); }, {8, 8});
  add_case("rfft odd n, two batch dims", {{{2, 3, 7}}}, [](const T& t) { return rfft(t[0]); }, {8, 7});
  add_case("irfft even n", {{{3, 5, 2}}}, [](const T& t) { return irfft(t[0], 8); }, {8, 8});
  add_case("irfft odd n, three batch dims", {{{2, 2, 4, 2}}}, [](const T& t) { return irfft(t[0], 7); }, {8, 7});
  // The FNO layer's pattern: a per-bin complex product between the transforms, n = 12.
  add_case("rfft, complex product, irfft", {{{2, 12}}, {{7, 2}}},
           [](const T& t) {
             const Tensor spectrum = rfft(t[0]);
             const Tensor re = spectrum.select(-1, 0), im = spectrum.select(-1, 1);
             const Tensor w_re = t[1].select(-1, 0), w_im = t[1].select(-1, 1);
             return irfft(stack({re * w_re - im * w_im, re * w_im + im * w_re}, -1), 12);
           },
           {16, 24});

  // ---- losses (ops_loss.cpp) -------------------------------------------------------------------
  for (const auto& [reduction, reduction_name] :
       {std::pair{Reduction::Mean, "mean"}, std::pair{Reduction::Sum, "sum"}, std::pair{Reduction::None, "none"}}) {
    const Reduction r = reduction;
    add_case(std::string("mse_loss ") + reduction_name, {{{5, 4}}, {{5, 4}}},
             [r](const T& t) { return mse_loss(t[0], t[1], r); }, {8, 20});
    // |input| >= 0.2 and |target| < 0.1: every difference is away from the kink of |.|. The
    // tanh (device math, a few ulp apart) doubles the factor of the plain loss.
    add_case(std::string("l1_loss ") + reduction_name, {{{5, 4}, nonzero}, {{5, 4}}},
             [r](const T& t) { return l1_loss(t[0], tanh(t[1]) * 0.1, r); }, {16, 20});
  }
  add_case("losses stacked", {{{9, 4}}, {{9, 4}}},
           [](const T& t) {
             return stack({mse_loss(t[0], t[1]), l1_loss(t[0], t[1]), mse_loss(t[0], t[1], Reduction::Sum)}, 0);
           },
           {16, 36});

  // ---- views and conversions (ops_view.cpp) ------------------------------------------------------
  const Shape block{2, 3, 4};
  // Views move values exactly; expand's gradient sums the copies (summation order may differ).
  auto view_case = [&](const std::string& name, std::function<Tensor(const Tensor&)> f,
                       Tolerance tolerance = {0, 0}) -> OpCase& {
    return add_case(name, {{block}}, [f](const T& t) { return f(t[0]); }, tolerance);
  };
  view_case("view", [](const Tensor& x) { return x.view({6, 4}); }).on_contiguous_leaves_only();
  view_case("view -1", [](const Tensor& x) { return x.view({-1, 2}); }).on_contiguous_leaves_only();
  view_case("reshape", [](const Tensor& x) { return x.reshape({4, 6}); });
  view_case("permute", [](const Tensor& x) { return x.permute({2, 0, 1}); });
  view_case("transpose", [](const Tensor& x) { return x.transpose(0, 2); });
  view_case("narrow", [](const Tensor& x) { return x.narrow(2, 1, 2); });
  view_case("slice step 3", [](const Tensor& x) { return x.slice(2, 0, 4, 3); });
  view_case("slice negative start", [](const Tensor& x) { return x.slice(1, -2, 3); });
  view_case("select", [](const Tensor& x) { return x.select(1, 2); });
  view_case("expand", [](const Tensor& x) { return x.unsqueeze(1).expand({2, 5, 3, 4}); }, {4, 5});
  view_case("expand -1", [](const Tensor& x) { return x.narrow(0, 0, 1).expand({3, -1, -1}); }, {4, 3});
  view_case("squeeze", [](const Tensor& x) { return x.narrow(1, 0, 1).squeeze(); });
  view_case("squeeze dim", [](const Tensor& x) { return x.narrow(1, 1, 1).squeeze(1); });
  view_case("unsqueeze", [](const Tensor& x) { return x.unsqueeze(-1); });
  view_case("flatten", [](const Tensor& x) { return x.flatten(1, 2); });
  view_case("contiguous", [](const Tensor& x) { return x.transpose(0, 1).contiguous(); });
  view_case("clone", [](const Tensor& x) { return x.clone(); });
  // Conversions between float dtypes round identically on both devices. The float32 round trip
  // rounds the finite-difference probe points: a step and tolerance single precision resolves
  // (the gradient itself is exactly the identity).
  view_case("to_dtype round trip",
            [](const Tensor& x) {
              return x.to(x.dtype() == DType::Float32 ? DType::Float64 : DType::Float32).to(x.dtype()) * 1.0;
            })
      .with_gradcheck(GradcheckOptions().with_step(1e-2).with_atol(1e-4));
  // Through host memory and back: the gradient crosses devices too (a no-op on the CPU).
  view_case("to_device round trip", [](const Tensor& x) { return (x.to(Device::cpu()) * 2.0).to(x.device()); });
  add_case("views into arithmetic", {{{3, 4}}, {{6}}},
           [](const T& t) {
             const Tensor a = t[0].t().slice(0, 0, 4, 2).unsqueeze(0);    // (1, 2, 3)
             const Tensor b = t[1].reshape({3, 2}).t().expand({4, 2, 3});  // (4, 2, 3)
             return (a * b).flatten().narrow(0, 3, 12).reshape({3, 4}).t();
           },
           {8, 4});

  // ---- compositions across families --------------------------------------------------------------
  add_case("composed chain", {{{2, 3}}, {{3}}},
           [](const T& t) { return tanh(t[0] * t[1] + exp(-t[0])) / (sigmoid(t[1]) + 1.0); }, {32, 4});
  add_case("elementwise mix", {{{4, 1, 5}}, {{3, 5}}},
           [](const T& t) {
             const Tensor& x = t[0];
             const Tensor& y = t[1];
             return tanh(x) * sigmoid(y) + exp(-(x * x)) / (1.0 + y * y) + relu(x - y) + softplus(x, 2.0) +
                    elu(y, 0.5) + clamp(x * y, -0.3, 0.4) + pow(abs(x) + 0.1, 1.5) + sqrt(y * y + 1.0) +
                    log(x * x + 2.0) + where(gt(x, y), x, y * 2.0);
           },
           {64, 4});
  return cases;
}

// Binary kernels that no public op reaches (kept covered at the kernel level).
inline std::vector<BinaryOp> binary_kernels_without_an_op() { return {BinaryOp::Max, BinaryOp::Min}; }

// The distinct unary kernels of the table, each with whether only positive inputs are meaningful
// for it (every case that runs it draws positive leaves: fractional and negative powers).
struct UnaryKernelUse {
  UnaryKernel kernel;
  bool positive_only;
};
inline std::vector<UnaryKernelUse> unary_kernels_of(const std::vector<OpCase>& cases) {
  std::vector<UnaryKernelUse> uses;
  for (const OpCase& op_case : cases) {
    const bool positive = op_case.leaves[0].domain == Domain::Positive;
    for (const UnaryKernel& kernel : op_case.unary_kernels) {
      auto found = std::find_if(uses.begin(), uses.end(), [&](const UnaryKernelUse& use) { return use.kernel == kernel; });
      if (found == uses.end()) {
        uses.push_back({kernel, positive});
      } else {
        found->positive_only = found->positive_only && positive;
      }
    }
  }
  return uses;
}

// The distinct activation_backward kernels (with their parameters) of the table.
inline std::vector<ActivationGradKernel> activation_grads_of(const std::vector<OpCase>& cases) {
  std::vector<ActivationGradKernel> kernels;
  for (const OpCase& op_case : cases) {
    if (op_case.activation_grad && std::find(kernels.begin(), kernels.end(), *op_case.activation_grad) == kernels.end())
      kernels.push_back(*op_case.activation_grad);
  }
  return kernels;
}

// The distinct binary kernels of the table and those no op reaches.
inline std::vector<BinaryOp> binary_kernels_of(const std::vector<OpCase>& cases) {
  std::vector<BinaryOp> ops = binary_kernels_without_an_op();
  for (const OpCase& op_case : cases) {
    for (BinaryOp op : op_case.binary_kernels) {
      if (std::find(ops.begin(), ops.end(), op) == ops.end()) ops.push_back(op);
    }
  }
  return ops;
}

// The distinct ops of `uses` for integer inputs (drawn in about [-10, 10]): each op once, with
// parameters -3 and 4, bounds that clamp's and its mask's comparisons meet; `defined_for_integers`
// is the device code's own predicate (cuda/element_math.h).
inline std::vector<UnaryKernel> integer_unary_kernels_of(const std::vector<UnaryKernelUse>& uses,
                                                         bool (*defined_for_integers)(UnaryOp)) {
  std::vector<UnaryKernel> kernels;
  for (const UnaryKernelUse& use : uses) {
    const UnaryOp op = use.kernel.op;
    const bool integral = defined_for_integers(op);
    const bool seen = std::any_of(kernels.begin(), kernels.end(), [op](const UnaryKernel& k) { return k.op == op; });
    if (integral && !seen) kernels.push_back({op, -3.0, 4.0});
  }
  return kernels;
}

inline const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::Elu: return "elu";
    case UnaryOp::Softplus: return "softplus";
    case UnaryOp::Gelu: return "gelu";
    case UnaryOp::GeluTanh: return "gelu_tanh";
    case UnaryOp::Clamp: return "clamp";
    case UnaryOp::Pow: return "pow";
    case UnaryOp::Sign: return "sign";
    case UnaryOp::ClampMask: return "clamp_mask";
  }
  return "?";
}

inline std::string unary_kernel_name(const UnaryKernel& kernel) {
  return fmt::format("{}({}, {})", unary_op_name(kernel.op), kernel.p0, kernel.p1);
}

inline std::string activation_grad_name(const ActivationGradKernel& kernel) {
  const char* name = "?";
  switch (kernel.op) {
    case ActivationGrad::Tanh: name = "tanh"; break;
    case ActivationGrad::Sigmoid: name = "sigmoid"; break;
    case ActivationGrad::Relu: name = "relu"; break;
    case ActivationGrad::Elu: name = "elu"; break;
    case ActivationGrad::Softplus: name = "softplus"; break;
    case ActivationGrad::Gelu: name = "gelu"; break;
    case ActivationGrad::GeluTanh: name = "gelu_tanh"; break;
  }
  return fmt::format("activation_backward {}({}, {})", name, kernel.p0, kernel.p1);
}

inline const char* binary_kernel_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Ge: return "ge";
    case BinaryOp::Le: return "le";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Max: return "max";
    case BinaryOp::Min: return "min";
  }
  return "?";
}

// The sizes of a conv1d case (legend of cuda/conv_math.h).
struct Conv1dSizes {
  std::int64_t batch, in_channels, out_channels, length, taps, out_length;
};

inline Conv1dSizes conv1d_sizes_of(const OpCase& op_case) {
  const Shape& input = op_case.leaves[0].shape;
  const Shape& weight = op_case.leaves[1].shape;
  return {input[0], input[1], weight[0], input[2], weight[2], conv1d_out_length(input[2], weight[2], *op_case.conv)};
}

// ---- leaves in three layouts -------------------------------------------------------------------

enum class LeafLayout { Contiguous, Strided, Broadcast };

inline const char* leaf_layout_name(LeafLayout layout) {
  switch (layout) {
    case LeafLayout::Contiguous: return "contiguous";
    case LeafLayout::Strided: return "strided";
    case LeafLayout::Broadcast: return "broadcast";
  }
  return "?";
}

inline std::vector<LeafLayout> leaf_layouts_of(const OpCase& op_case) {
  if (op_case.contiguous_only) return {LeafLayout::Contiguous};
  return {LeafLayout::Contiguous, LeafLayout::Strided, LeafLayout::Broadcast};
}

// The shape of leaf `index`'s storage and the view of it the op receives. Strided: even leaves of
// rank >= 2 are stored transposed (last two dims, when neither is 1: swapping a size-1 dim leaves
// the layout contiguous), the others sliced with step 2 along dim 0 (from 2n+1 rows). Broadcast:
// dim 0 stored once and expanded (stride 0). Rank 0 stays as it is.
struct LeafView {
  Shape storage;
  std::function<Tensor(const Tensor&)> view;
};

inline LeafView leaf_view(const Shape& shape, LeafLayout layout, std::size_t index) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  LeafView leaf{shape, [](const Tensor& t) { return t; }};
  if (rank == 0 || layout == LeafLayout::Contiguous) return leaf;
  if (layout == LeafLayout::Broadcast) {
    if (shape[0] == 1) return leaf;
    leaf.storage[0] = 1;
    leaf.view = [shape](const Tensor& t) { return t.expand(shape); };
  } else if (rank >= 2 && index % 2 == 0 && shape[rank - 1] > 1 && shape[rank - 2] > 1) {
    std::swap(leaf.storage[rank - 1], leaf.storage[rank - 2]);
    leaf.view = [rank](const Tensor& t) { return t.transpose(rank - 1, rank - 2); };
  } else {
    const std::int64_t rows = shape[0];
    leaf.storage[0] = 2 * rows + 1;
    leaf.view = [rows](const Tensor& t) { return t.slice(0, 1, 2 * rows + 1, 2); };
  }
  return leaf;
}

// Values of `shape` from `domain`, made on the CPU in `dtype`.
inline Tensor draw(const Shape& shape, Domain domain, DType dtype, Generator& generator) {
  const Tensor values = randn(shape, TensorOptions().dtype(dtype), &generator);
  switch (domain) {
    case Domain::Any: return values;
    case Domain::Positive: return abs(values) + 0.2;
    case Domain::AwayFromZero:
      return values + where(ge(values, zeros_like(values)), full_like(values, 0.2), full_like(values, -0.2));
  }
  return values;
}

// A case's leaves in `layout`: the stored values (on the CPU) and the view of each the op receives.
struct CaseLeaves {
  std::vector<Tensor> values;
  std::vector<std::function<Tensor(const Tensor&)>> views;
};

inline CaseLeaves make_leaves(const OpCase& op_case, LeafLayout layout, DType dtype, Generator& generator) {
  CaseLeaves leaves;
  for (std::size_t i = 0; i < op_case.leaves.size(); ++i) {
    LeafView leaf = leaf_view(op_case.leaves[i].shape, layout, i);
    leaves.values.push_back(draw(leaf.storage, op_case.leaves[i].domain, dtype, generator));
    leaves.views.push_back(std::move(leaf.view));
  }
  return leaves;
}

}  // namespace mech::op_tests
