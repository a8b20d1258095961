// The CUDA kernels' per-element code, run on the CPU and compared with the CPU kernels (the
// oracle), so that a semantic slip in the GPU path (a wrong branch, a missed parameter, a bad
// index in conv's backward) fails here, on machines without a GPU. Covered, from the op-test table
// (tests/autograd/op_cases.h): every unary kernel its cases run, forward and backward, with the
// parameters the ops pass (float32, float64, and int64 where defined), every activation_backward
// kernel (float32, float64), every binary kernel (3
// dtypes), and conv1d forward and both gradients for every conv1d geometry of the table; besides
// the table, the fused SGD and Adam steps. Host and device compile the same source
// (cuda/element_math.h, cuda/conv_math.h); the device may additionally fuse multiply-adds, which
// the parity suite's tolerances cover.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "autograd/op_cases.h"
#include "core/cpu_kernels.h"
#include "core/generator.h"
#include "core/tensor.h"
#include "cuda/conv_math.h"
#include "cuda/element_math.h"

namespace mech::cuda {
namespace {

// Equal to a few units in the last place of max(|want|, scale) (both sides call the same libm).
// `scale` is the size of the terms that produced want: an update like p - lr*g cancels, and one
// fused multiply-add on one side (the library is built with -march=native) moves the result by
// an ulp of the terms, not of the result.
template <class T>
void expect_close_ulps(T got, T want, const std::string& what, double scale = 0.0) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", want NaN";
      return;
    }
    const T tolerance = 4 * std::numeric_limits<T>::epsilon() * std::max<T>(std::abs(want), static_cast<T>(scale)) +
                        std::numeric_limits<T>::min();
    EXPECT_LE(std::abs(got - want), tolerance) << what << ": got " << got << ", want " << want;
  } else {
    EXPECT_EQ(got, want) << what;
  }
}

template <class T>
Tensor tensor_of(const std::vector<T>& values) {
  return from_vector<T>(values, {static_cast<std::int64_t>(values.size())});
}

const std::vector<op_tests::OpCase>& table() {
  static const std::vector<op_tests::OpCase> cases = op_tests::op_cases();
  return cases;
}

const std::vector<op_tests::UnaryKernelUse>& unary_kernels() {
  static const std::vector<op_tests::UnaryKernelUse> uses = op_tests::unary_kernels_of(table());
  return uses;
}

// Unary inputs: both signs, zero, tiny and large magnitudes; or only positive ones.
template <class T>
std::vector<T> unary_inputs(bool positive_only) {
  if (positive_only) return {1e-3, 0.25, 0.5, 1, 1.5, 2.5, 3, 40};
  return {-40, -3, -1, -0.5, -1e-3, 0, 1e-3, 0.25, 0.5, 1, 1.5, 2.5, 3, 40};
}

// The size of the terms behind op's value at x, for expect_close_ulps: gelu is x/2 times 1 + erf
// (or 1 + tanh), which cancels for negative x, so the two libraries' ulp of erf near -1 shows as
// an ulp of x, not of the small result (PyTorch computes the same form).
double unary_scale(UnaryOp op, double x) { return op == UnaryOp::Gelu || op == UnaryOp::GeluTanh ? std::abs(x) : 0.0; }

template <class T>
void check_unary_against_cpu() {
  for (const op_tests::UnaryKernelUse& use : unary_kernels()) {
    const op_tests::UnaryKernel& c = use.kernel;
    const std::vector<T> values = unary_inputs<T>(use.positive_only);
    const Tensor x = tensor_of(values);
    const Tensor out = empty(x.shape(), TensorOptions().dtype(dtype_of<T>()));
    cpu::unary(c.op, x, out, c.p0, c.p1);
    const std::vector<T> want = out.to_vector<T>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      expect_close_ulps<T>(math::unary_value<T>(c.op, values[i], c.p0, c.p1), want[i],
                           op_tests::unary_kernel_name(c) + " at " + std::to_string(values[i]),
                           unary_scale(c.op, static_cast<double>(values[i])));
    }
  }
}

TEST(CudaHostEmulation, UnaryMatchesCpuFloat32) { check_unary_against_cpu<float>(); }
TEST(CudaHostEmulation, UnaryMatchesCpuFloat64) { check_unary_against_cpu<double>(); }

// activation_backward: upstream gradients of both signs (and 0) against every saved value.
template <class T>
void check_activation_grad_against_cpu() {
  const std::vector<op_tests::ActivationGradKernel> kernels = op_tests::activation_grads_of(table());
  EXPECT_EQ(kernels.size(), static_cast<std::size_t>(op_tests::kActivationGradKernels));
  const std::vector<T> saved_values = unary_inputs<T>(false);
  const std::vector<T> upstream_values{T(1), T(-2.5), T(0), T(0.75)};
  std::vector<T> saved, upstream;
  for (T s : saved_values) {
    for (T g : upstream_values) {
      saved.push_back(s);
      upstream.push_back(g);
    }
  }
  for (const op_tests::ActivationGradKernel& c : kernels) {
    const Tensor out = empty({static_cast<std::int64_t>(saved.size())}, TensorOptions().dtype(dtype_of<T>()));
    cpu::activation_backward(c.op, tensor_of(upstream), tensor_of(saved), out, c.p0, c.p1);
    const std::vector<T> want = out.to_vector<T>();
    for (std::size_t i = 0; i < saved.size(); ++i) {
      expect_close_ulps<T>(math::activation_grad_value<T>(c.op, upstream[i], saved[i], c.p0, c.p1), want[i],
                           op_tests::activation_grad_name(c) + " at " + std::to_string(saved[i]) + ", upstream " +
                               std::to_string(upstream[i]),
                           std::abs(static_cast<double>(upstream[i])));
    }
  }
}

TEST(CudaHostEmulation, ActivationBackwardMatchesCpuFloat32) { check_activation_grad_against_cpu<float>(); }
TEST(CudaHostEmulation, ActivationBackwardMatchesCpuFloat64) { check_activation_grad_against_cpu<double>(); }

// The kernels a one-leaf case declares are the ones its op runs: the op's value through the public
// API is the first kernel's per-element value, and its gradient (of the sum) the second kernel's,
// times the exponent for pow (whose backward is exponent * pow(x, exponent - 1)), or, for an
// activation, its activation_backward kernel's with upstream 1 and the saved x or y.
TEST(CudaHostEmulation, UnaryCasesRunTheKernelsTheyDeclare) {
  int checked = 0;
  for (const op_tests::OpCase& op_case : table()) {
    if (op_case.unary_kernels.empty() || op_case.leaves.size() != 1) continue;
    ++checked;
    const std::vector<double> values = unary_inputs<double>(op_case.leaves[0].domain == op_tests::Domain::Positive);
    const Tensor x = tensor_of(values).requires_grad_(true);
    const Tensor y = op_case.function({x});
    const op_tests::UnaryKernel& forward = op_case.unary_kernels[0];
    const std::vector<double> got = y.to_vector<double>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      expect_close_ulps<double>(got[i], math::unary_value<double>(forward.op, values[i], forward.p0, forward.p1),
                                op_case.name + " at " + std::to_string(values[i]), unary_scale(forward.op, values[i]));
    }
    if (op_case.activation_grad) {
      const op_tests::ActivationGradKernel& backward = *op_case.activation_grad;
      y.sum().backward();
      const std::vector<double> grad = x.grad().to_vector<double>();
      for (std::size_t i = 0; i < values.size(); ++i) {
        const double saved = backward.reads_output() ? got[i] : values[i];
        const double want = math::activation_grad_value<double>(backward.op, 1.0, saved, backward.p0, backward.p1);
        expect_close_ulps<double>(grad[i], want, op_case.name + " gradient at " + std::to_string(values[i]), 1.0);
      }
      continue;
    }
    if (op_case.unary_kernels.size() < 2) continue;
    const op_tests::UnaryKernel& backward = op_case.unary_kernels[1];
    const double scale = forward.op == UnaryOp::Pow ? forward.p0 : 1.0;
    y.sum().backward();
    const std::vector<double> grad = x.grad().to_vector<double>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      expect_close_ulps<double>(grad[i],
                                scale * math::unary_value<double>(backward.op, values[i], backward.p0, backward.p1),
                                op_case.name + " gradient at " + std::to_string(values[i]));
    }
  }
  EXPECT_GE(checked, 20) << "the op table lost unary cases";
}

TEST(CudaHostEmulation, UnaryIntegerOpsMatchCpu) {
  const std::vector<std::int64_t> values{-7, -4, -3, -1, 0, 1, 2, 4, 5, 9};
  const Tensor x = tensor_of(values);
  for (const op_tests::UnaryKernelUse& use : unary_kernels()) {
    if (math::unary_defined_for_integers(use.kernel.op)) continue;
    const Tensor out = empty(x.shape(), TensorOptions().dtype(DType::Int64));
    EXPECT_THROW(cpu::unary(use.kernel.op, x, out, 0.0, 0.0), Error)
        << op_tests::unary_kernel_name(use.kernel) << " is float-only on the CPU too";
  }
  const std::vector<op_tests::UnaryKernel> integral =
      op_tests::integer_unary_kernels_of(unary_kernels(), math::unary_defined_for_integers);
  EXPECT_EQ(integral.size(), 6u) << "an integer unary kernel is no longer reached by the op table";
  for (const op_tests::UnaryKernel& c : integral) {
    const Tensor out = empty(x.shape(), TensorOptions().dtype(DType::Int64));
    cpu::unary(c.op, x, out, c.p0, c.p1);
    const auto want = out.to_vector<std::int64_t>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(math::unary_value<std::int64_t>(c.op, values[i], c.p0, c.p1), want[i])
          << op_tests::unary_kernel_name(c) << " at " << values[i];
    }
  }
}

template <class T>
void check_binary_against_cpu() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  // Ties (for comparisons, Max, Min) and, for floats, NaN on either side (Max/Min's NaN rule) and
  // 0/0; integer divisors stay non-zero.
  std::vector<T> left{T(-2), T(-1), T(0), T(0.5), T(1), T(3), T(3), nan, T(1)};
  std::vector<T> right{T(1), T(-1), T(0), T(2), T(-0.25), T(3), T(4), T(1), nan};
  if constexpr (std::is_integral_v<T>) {
    left = {-2, -1, 0, 7, 1, 3, 3, -9, 1};
    right = {1, -1, 5, 2, -4, 3, 4, 2, 6};
  }
  const Tensor a = tensor_of(left), b = tensor_of(right);
  for (BinaryOp op : op_tests::binary_kernels_of(table())) {
    const Tensor out = empty(a.shape(), TensorOptions().dtype(dtype_of<T>()));
    cpu::binary(op, a, b, out);
    const auto want = out.to_vector<T>();
    for (std::size_t i = 0; i < left.size(); ++i) {
      expect_close_ulps<T>(math::binary_value<T>(op, left[i], right[i]), want[i],
                           std::string(op_tests::binary_kernel_name(op)) + " element " + std::to_string(i));
    }
  }
}

TEST(CudaHostEmulation, BinaryMatchesCpu) {
  check_binary_against_cpu<float>();
  check_binary_against_cpu<double>();
  check_binary_against_cpu<std::int64_t>();
}

template <class T>
std::vector<T> random_values(std::size_t n, std::mt19937& random, double low = -1, double high = 1) {
  std::uniform_real_distribution<double> uniform(low, high);
  std::vector<T> values(n);
  for (auto& value : values) value = static_cast<T>(uniform(random));
  return values;
}

template <class T>
void check_sgd_against_cpu() {
  std::mt19937 random(11);
  struct Config { double lr, momentum, dampening, weight_decay; bool nesterov, first_step; };
  for (const Config& config : {Config{0.1, 0, 0, 0, false, false}, Config{0.05, 0.9, 0, 0, false, true},
                               Config{0.05, 0.9, 0.1, 0.01, false, false}, Config{0.2, 0.8, 0, 0.1, true, false}}) {
    const std::size_t n = 37;
    auto param = random_values<T>(n, random), grad = random_values<T>(n, random), buffer = random_values<T>(n, random);
    const Tensor p = tensor_of(param), g = tensor_of(grad), m = tensor_of(buffer);
    cpu::sgd_step(p, g, m, config.lr, config.momentum, config.dampening, config.weight_decay, config.nesterov,
                  config.first_step);
    const auto want_param = p.to_vector<T>(), want_buffer = m.to_vector<T>();
    const math::SgdParameters parameters{config.lr, config.momentum, config.dampening, config.weight_decay,
                                         config.nesterov, config.first_step};
    for (std::size_t i = 0; i < n; ++i) {
      math::sgd_update<T>(param[i], grad[i], buffer[i], parameters);
      expect_close_ulps<T>(param[i], want_param[i], "sgd param " + std::to_string(i), 1.0);
      if (config.momentum != 0) expect_close_ulps<T>(buffer[i], want_buffer[i], "sgd buffer " + std::to_string(i), 1.0);
    }
  }
}

template <class T>
void check_adam_against_cpu() {
  std::mt19937 random(12);
  struct Config { double lr, weight_decay; bool decoupled; std::int64_t step; };
  for (const Config& config : {Config{1e-3, 0, false, 1}, Config{1e-2, 0.1, false, 3}, Config{1e-2, 0.1, true, 7}}) {
    const std::size_t n = 29;
    auto param = random_values<T>(n, random), grad = random_values<T>(n, random);
    auto first = random_values<T>(n, random), second = random_values<T>(n, random, 0.0, 0.5);
    const Tensor p = tensor_of(param), g = tensor_of(grad), m = tensor_of(first), v = tensor_of(second);
    cpu::adam_step(p, g, m, v, config.lr, 0.9, 0.999, 1e-8, config.weight_decay, config.decoupled, config.step);
    const auto want_param = p.to_vector<T>(), want_first = m.to_vector<T>(), want_second = v.to_vector<T>();
    const auto parameters = math::make_adam_parameters(config.lr, 0.9, 0.999, 1e-8, config.weight_decay,
                                                       config.decoupled, config.step);
    for (std::size_t i = 0; i < n; ++i) {
      math::adam_update<T>(param[i], grad[i], first[i], second[i], parameters);
      expect_close_ulps<T>(param[i], want_param[i], "adam param " + std::to_string(i), 1.0);
      expect_close_ulps<T>(first[i], want_first[i], "adam exp_avg " + std::to_string(i), 1.0);
      expect_close_ulps<T>(second[i], want_second[i], "adam exp_avg_sq " + std::to_string(i), 1.0);
    }
  }
}

TEST(CudaHostEmulation, SgdMatchesCpu) {
  check_sgd_against_cpu<float>();
  check_sgd_against_cpu<double>();
}

TEST(CudaHostEmulation, AdamMatchesCpu) {
  check_adam_against_cpu<float>();
  check_adam_against_cpu<double>();
}

// ---- conv1d ------------------------------------------------------------------------------------

// Runs the CPU kernel; skips the test (with the reason) while core's conv1d is still pending.
template <class Function>
bool run_cpu_or_skip(Function&& function) {
  try {
    function();
    return true;
  } catch (const Error& error) {
    if (std::string(error.what()).find("not implemented") != std::string::npos) return false;
    throw;
  }
}

TEST(CudaHostEmulation, Conv1dForwardAndBackwardMatchCpu) {
  Generator generator(5);
  const auto options = TensorOptions().dtype(DType::Float64);
  int geometries = 0;
  for (const op_tests::OpCase& op_case : table()) {
    if (!op_case.conv) continue;
    ++geometries;
    SCOPED_TRACE(op_case.name);
    const op_tests::Conv1dForm& form = *op_case.conv;
    const op_tests::Conv1dSizes c = op_tests::conv1d_sizes_of(op_case);
    // The input is a transposed view, so the strided path is exercised too.
    const Tensor input = randn({c.batch, c.length, c.in_channels}, options, &generator).transpose(1, 2);
    const Tensor weight = randn({c.out_channels, c.in_channels, c.taps}, options, &generator);
    const Tensor bias = form.bias ? randn({c.out_channels}, options, &generator) : Tensor();
    const std::int64_t out_length = c.out_length;
    const Tensor out = empty({c.batch, c.out_channels, out_length}, options);
    if (!run_cpu_or_skip(
            [&] { cpu::conv1d(input, weight, bias, out, form.stride, form.padding, form.dilation, form.mode); })) {
      GTEST_SKIP() << "core's CPU conv1d is not implemented yet";
    }
    conv::Geometry g;
    g.batch = c.batch, g.in_channels = c.in_channels, g.out_channels = c.out_channels, g.length = c.length;
    g.taps = c.taps, g.out_length = out_length, g.stride = form.stride, g.padding = form.padding;
    g.dilation = form.dilation, g.circular = form.mode == PaddingMode::Circular;
    const Tensor grad_out = randn(out.shape(), options, &generator);
    for (int d = 0; d < 3; ++d) {
      g.input_strides[d] = input.stride(d);
      g.weight_strides[d] = weight.stride(d);
      g.output_strides[d] = grad_out.stride(d);
    }
    const double* in = input.data_ptr<double>();
    const double* w = weight.data_ptr<double>();
    const double* b = form.bias ? bias.data_ptr<double>() : nullptr;
    const auto want_out = out.to_vector<double>();
    for (std::int64_t n = 0, i = 0; n < c.batch; ++n) {
      for (std::int64_t co = 0; co < c.out_channels; ++co) {
        for (std::int64_t l = 0; l < out_length; ++l, ++i) {
          EXPECT_NEAR(conv::output_element<double>(g, in, w, b, n, co, l), want_out[i], 1e-12)
              << "out[" << n << "][" << co << "][" << l << "]";
        }
      }
    }
    const Tensor grad_input = empty(input.shape(), options), grad_weight = empty(weight.shape(), options);
    cpu::conv1d_backward(grad_out, input, weight, grad_input, grad_weight, form.stride, form.padding, form.dilation,
                         form.mode);
    const double* go = grad_out.data_ptr<double>();
    const auto want_grad_input = grad_input.to_vector<double>();
    for (std::int64_t n = 0, i = 0; n < c.batch; ++n) {
      for (std::int64_t ci = 0; ci < c.in_channels; ++ci) {
        for (std::int64_t j = 0; j < c.length; ++j, ++i) {
          EXPECT_NEAR(conv::grad_input_element<double>(g, go, w, n, ci, j), want_grad_input[i], 1e-12)
              << "grad_input[" << n << "][" << ci << "][" << j << "]";
        }
      }
    }
    const auto want_grad_weight = grad_weight.to_vector<double>();
    for (std::int64_t co = 0, i = 0; co < c.out_channels; ++co) {
      for (std::int64_t ci = 0; ci < c.in_channels; ++ci) {
        for (std::int64_t k = 0; k < c.taps; ++k, ++i) {
          // Split over 3 "threads" as the block reduction does, then summed.
          double total = 0;
          for (int thread = 0; thread < 3; ++thread) {
            total += conv::grad_weight_partial<double>(g, go, in, co, ci, k, thread, 3);
          }
          EXPECT_NEAR(total, want_grad_weight[i], 1e-12) << "grad_weight[" << co << "][" << ci << "][" << k << "]";
        }
      }
    }
  }
  EXPECT_EQ(geometries, op_tests::kConv1dGeometries) << "the op table lost conv1d geometries";
}

}  // namespace
}  // namespace mech::cuda
