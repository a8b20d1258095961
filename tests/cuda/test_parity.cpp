// CPU/CUDA parity, in the spirit of ggml's test-backend-ops: every kernel of core/kernels.h, every
// op of the op-test table (tests/autograd/op_cases.h, which also drives the gradient checks and the
// host emulation), the optimizers and the NeuRLP op run on the
// CPU (the oracle) and on the GPU on the same random inputs, contiguous and strided (transposed,
// sliced, broadcast), float32 and float64, and must agree to |gpu - cpu| <= eps(dtype) * factor *
// (scale + |cpu|), where `scale` is the size of the terms that produced a value (1 for elementwise
// math, the number of summed terms for reductions and products). Outputs are written into the
// middle of a buffer filled with a sentinel, so any write outside the output (or into the gaps of a
// strided output) is caught.
// Without a device every test skips with one line. MECH_PARITY_ON_CPU=1 (no device) runs every
// case with the CPU on both sides instead: it checks the harness and the case table on any machine.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/op_cases.h"
#include "core/generator.h"
#include "core/kernels.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "cuda/device_under_test.h"
#include "cuda/element_math.h"
#include "nn/optim.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_gpu.h"

namespace mech {
namespace {

// The device under test (cuda/device_under_test.h): the GPU; or the CPU itself with
// MECH_PARITY_ON_CPU=1 and no GPU, or in a CpuSelfCheck scope (the ParityCaseTable tests at the
// end run the op, optimizer and solver tables CPU against CPU in every build, so that a case that
// throws or is malformed fails in CI, not first on a GPU machine). On the CPU it checks the harness
// (layouts, sentinels, comparisons) and the CPU kernels' bounds.
using cuda_tests::CpuSelfCheck;
using cuda_tests::device_under_test;
using cuda_tests::self_test_on_cpu;

constexpr double kSentinel = -7777.0;  // exact in float32, float64 and int64
constexpr std::int64_t kPad = 67;      // sentinel elements on each side of an output

double epsilon_of(DType dtype) {
  return dtype == DType::Float32 ? std::numeric_limits<float>::epsilon()
                                 : dtype == DType::Float64 ? std::numeric_limits<double>::epsilon() : 0.0;
}

const char* short_name(DType dtype) { return dtype_name(dtype); }

using op_tests::Tolerance;

// Element-by-element comparison; reports the first few mismatches with their flat index.
void expect_close(const Tensor& cpu_result, const Tensor& gpu_result, Tolerance tolerance, const std::string& what) {
  ASSERT_EQ(cpu_result.shape(), gpu_result.shape()) << what;
  const auto want = cpu_result.to_vector<double>();
  const auto got = gpu_result.to(Device::cpu()).to_vector<double>();
  const double eps = epsilon_of(cpu_result.dtype());
  int reported = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double limit = eps * tolerance.factor * (tolerance.scale + std::abs(want[i]));
    const bool both_nan = std::isnan(want[i]) && std::isnan(got[i]);
    if (both_nan || std::abs(got[i] - want[i]) <= limit) continue;
    ADD_FAILURE() << what << ": element " << i << " of shape " << shape_str(cpu_result.shape()) << ": cuda "
                  << got[i] << ", cpu " << want[i] << " (|diff| " << std::abs(got[i] - want[i]) << " > " << limit << ")";
    if (++reported == 5) return;
  }
}

// ---- inputs in several layouts, identical on both devices --------------------------------------

enum class Layout { Contiguous, Transposed, Sliced, Broadcast };
const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Transposed: return "transposed";
    case Layout::Sliced: return "sliced";
    case Layout::Broadcast: return "broadcast";
  }
  return "?";
}

struct Pair {
  Tensor cpu, gpu;
};

// A tensor of `shape` viewed through `layout` (rank >= 2 for Transposed), same values on both
// devices: the storage is made on the CPU, copied, and the same view is taken on each side.
Pair make_input(const Shape& shape, DType dtype, Layout layout, Generator& generator,
                const std::function<Tensor(const Tensor&)>& transform = {}) {
  Shape base_shape = shape;
  const std::int64_t rank = static_cast<std::int64_t>(shape.size());
  switch (layout) {
    case Layout::Contiguous: break;
    case Layout::Transposed: std::swap(base_shape[rank - 1], base_shape[rank - 2]); break;
    case Layout::Sliced: base_shape[0] = 2 * shape[0] + 1; break;
    case Layout::Broadcast: base_shape[0] = 1; break;
  }
  const DType make_dtype = dtype == DType::Int64 ? DType::Float64 : dtype;
  Tensor base = randn(base_shape, TensorOptions().dtype(make_dtype), &generator);
  if (transform) base = transform(base);
  if (dtype == DType::Int64) base = (base * 5.0).to(DType::Int64);
  auto view = [&](const Tensor& t) {
    switch (layout) {
      case Layout::Contiguous: return t;
      case Layout::Transposed: return t.transpose(rank - 1, rank - 2);
      case Layout::Sliced: return t.slice(0, 1, 2 * shape[0] + 1, 2);
      case Layout::Broadcast: return t.expand(shape);
    }
    return t;
  };
  return {view(base), view(base.to(device_under_test()))};
}

// An output of `shape` in the middle of a sentinel-filled buffer on `device`; `every` > 1 makes a
// strided output whose gaps must keep the sentinel too.
struct GuardedOutput {
  Tensor buffer;
  Tensor view;
  std::int64_t every = 1;
};

GuardedOutput make_output(const Shape& shape, DType dtype, Device device, std::int64_t every = 1) {
  const std::int64_t n = shape_numel(shape);
  GuardedOutput out;
  out.every = every;
  out.buffer = full({n * every + 2 * kPad}, kSentinel, TensorOptions().dtype(dtype).device(device));
  Shape strides = contiguous_strides(shape);
  for (auto& stride : strides) stride *= every;
  out.view = Tensor(out.buffer.storage(), out.buffer.offset() + kPad, shape, strides, dtype);
  return out;
}

// Every buffer element that is not part of the output still holds the sentinel.
void expect_sentinels_intact(const GuardedOutput& out, const std::string& what) {
  const auto values = out.buffer.to(Device::cpu()).to_vector<double>();
  const std::int64_t n = out.view.numel();
  int reported = 0;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(values.size()); ++i) {
    const std::int64_t inside = i - kPad;
    const bool output_element = inside >= 0 && inside < n * out.every && inside % out.every == 0;
    if (output_element || values[static_cast<std::size_t>(i)] == kSentinel) continue;
    ADD_FAILURE() << what << ": buffer element " << i << " outside the output was overwritten (" << values[i] << ")";
    if (++reported == 3) return;
  }
}

// Runs `kernel` into guarded outputs on both devices, checks sentinels and compares.
void check_kernel(const std::string& what, const Shape& out_shape, DType dtype, Tolerance tolerance,
                  const std::function<void(const Tensor& out, bool on_gpu)>& kernel, std::int64_t every = 1) {
  GuardedOutput cpu_out = make_output(out_shape, dtype, Device::cpu(), every);
  GuardedOutput gpu_out = make_output(out_shape, dtype, device_under_test(), every);
  kernel(cpu_out.view, false);
  kernel(gpu_out.view, true);
  expect_sentinels_intact(gpu_out, what);
  expect_close(cpu_out.view, gpu_out.view, tolerance, what);
}

std::string label(const std::string& op, DType dtype, Layout layout) {
  return op + " [" + short_name(dtype) + ", " + layout_name(layout) + "]";
}

const std::vector<DType> kFloatTypes{DType::Float32, DType::Float64};

// ---- kernel-level parity -------------------------------------------------------------------------

// The unary kernels the op table's cases run (forward and backward), with their parameters.
TEST(CudaParity, UnaryAllOpsLayoutsAndDtypes) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  const std::vector<op_tests::UnaryKernelUse> kernels = op_tests::unary_kernels_of(op_tests::op_cases());
  Generator generator(1);
  const Shape shape{7, 33, 5};
  for (DType dtype : kFloatTypes) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced, Layout::Broadcast}) {
      for (const op_tests::UnaryKernelUse& use : kernels) {
        const op_tests::UnaryKernel& c = use.kernel;
        const std::function<Tensor(const Tensor&)> positive = [](const Tensor& t) { return abs(t) + 0.05; };
        const Pair x = make_input(shape, dtype, layout, generator,
                                  use.positive_only ? positive : std::function<Tensor(const Tensor&)>());
        check_kernel(label(op_tests::unary_kernel_name(c), dtype, layout), shape, dtype, {8, 1},
                     [&](const Tensor& out, bool gpu) { kernels::unary(c.op, gpu ? x.gpu : x.cpu, out, c.p0, c.p1); });
      }
    }
  }
  // int64: the ops defined for integers.
  for (const op_tests::UnaryKernel& c : op_tests::integer_unary_kernels_of(kernels, cuda::math::unary_defined_for_integers)) {
    const Pair x = make_input(shape, DType::Int64, Layout::Transposed, generator);
    check_kernel(label("int " + op_tests::unary_kernel_name(c), DType::Int64, Layout::Transposed), shape,
                 DType::Int64, {0, 0},
                 [&](const Tensor& out, bool gpu) { kernels::unary(c.op, gpu ? x.gpu : x.cpu, out, c.p0, c.p1); });
  }
}

// The activation_backward kernels of the op table's cases, upstream gradient and saved tensor in
// every layout pair of the binary test (tanh's and sigmoid's saved outputs drawn in their range).
TEST(CudaParity, ActivationBackwardAllOpsLayoutsAndDtypes) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(3);
  const Shape shape{5, 19, 7};
  const std::vector<std::pair<Layout, Layout>> layouts{{Layout::Contiguous, Layout::Contiguous},
                                                       {Layout::Contiguous, Layout::Broadcast},
                                                       {Layout::Transposed, Layout::Sliced}};
  const std::function<Tensor(const Tensor&)> output_range = [](const Tensor& t) { return tanh(t) * 0.5 + 0.5; };
  for (DType dtype : kFloatTypes) {
    for (const auto& [layout_grad, layout_saved] : layouts) {
      for (const op_tests::ActivationGradKernel& c : op_tests::activation_grads_of(op_tests::op_cases())) {
        const Pair grad = make_input(shape, dtype, layout_grad, generator);
        const Pair saved = make_input(shape, dtype, layout_saved, generator,
                                      c.reads_output() ? output_range : std::function<Tensor(const Tensor&)>());
        check_kernel(label(op_tests::activation_grad_name(c), dtype, layout_saved), shape, dtype, {32, 1},
                     [&](const Tensor& out, bool gpu) {
                       kernels::activation_backward(c.op, gpu ? grad.gpu : grad.cpu, gpu ? saved.gpu : saved.cpu, out,
                                                    c.p0, c.p1);
                     });
      }
    }
  }
}

TEST(CudaParity, BinaryAllOpsWithBroadcastAndStrides) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(2);
  const Shape shape{6, 17, 9};
  // The binary kernels of the op table's cases and those no op reaches.
  const std::vector<BinaryOp> ops = op_tests::binary_kernels_of(op_tests::op_cases());
  const std::vector<std::pair<Layout, Layout>> layouts{{Layout::Contiguous, Layout::Contiguous},
                                                       {Layout::Contiguous, Layout::Broadcast},
                                                       {Layout::Transposed, Layout::Sliced},
                                                       {Layout::Broadcast, Layout::Transposed}};
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    for (const auto& [layout_a, layout_b] : layouts) {
      for (const BinaryOp op : ops) {
        const std::string name = op_tests::binary_kernel_name(op);
        if (dtype == DType::Int64 && op == BinaryOp::Div) continue;  // integer division by zero
        const Pair a = make_input(shape, dtype, layout_a, generator);
        // Divisors kept away from zero; Eq gets exact ties by comparing a with itself sometimes.
        auto away_from_zero = [](const Tensor& t) { return abs(t) + 0.5; };
        const Pair b = op == BinaryOp::Div ? make_input(shape, dtype, layout_b, generator, away_from_zero)
                                           : make_input(shape, dtype, layout_b, generator);
        const std::string what = label(name, dtype, layout_a) + " with " + layout_name(layout_b);
        check_kernel(what, shape, dtype, {dtype == DType::Int64 ? 0.0 : 4.0, 1}, [&](const Tensor& out, bool gpu) {
          kernels::binary(op, gpu ? a.gpu : a.cpu, gpu ? b.gpu : b.cpu, out);
        });
        check_kernel(what + " (a, a)", shape, dtype, {0, 0}, [&](const Tensor& out, bool gpu) {
          if (op == BinaryOp::Div && dtype == DType::Int64) return;
          kernels::binary(op == BinaryOp::Div ? BinaryOp::Sub : op, gpu ? a.gpu : a.cpu, gpu ? a.gpu : a.cpu, out);
        });
      }
    }
  }
}

TEST(CudaParity, WhereCopyAndFill) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(3);
  const Shape shape{5, 12, 8};
  for (DType dtype : kFloatTypes) {
    for (DType condition_dtype : {DType::Float32, DType::Float64, DType::Int64}) {
      const Pair condition = make_input(shape, condition_dtype, Layout::Sliced, generator,
                                        [](const Tensor& t) { return gt(t, zeros_like(t)); });
      const Pair a = make_input(shape, dtype, Layout::Transposed, generator);
      const Pair b = make_input(shape, dtype, Layout::Broadcast, generator);
      check_kernel(label("where", dtype, Layout::Sliced) + " condition " + short_name(condition_dtype), shape, dtype,
                   {0, 0}, [&](const Tensor& out, bool gpu) {
                     kernels::where(gpu ? condition.gpu : condition.cpu, gpu ? a.gpu : a.cpu, gpu ? b.gpu : b.cpu, out);
                   });
    }
  }
  // copy: every dtype pair, strided source, contiguous and strided destinations.
  for (DType from : {DType::Float32, DType::Float64, DType::Int64}) {
    for (DType to : {DType::Float32, DType::Float64, DType::Int64}) {
      for (Layout layout : {Layout::Transposed, Layout::Sliced, Layout::Broadcast}) {
        const Pair source = make_input(shape, from, layout, generator);
        for (std::int64_t every : {1, 3}) {
          check_kernel(label(std::string("copy to ") + short_name(to) + (every > 1 ? " strided dst" : ""), from, layout),
                       shape, to, {0, 0},
                       [&](const Tensor& out, bool gpu) { kernels::copy(gpu ? source.gpu : source.cpu, out); }, every);
        }
      }
    }
  }
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    check_kernel(label("fill strided", dtype, Layout::Sliced), shape, dtype, {0, 0},
                 [&](const Tensor& out, bool) { kernels::fill(out, -3.0); }, 2);
    // A transposed view of a guarded buffer as the fill target.
    GuardedOutput gpu_out = make_output({8, 12, 5}, dtype, device_under_test());
    kernels::fill(gpu_out.view.transpose(0, 2), 2.5);
    expect_sentinels_intact(gpu_out, label("fill transposed", dtype, Layout::Transposed));
    EXPECT_EQ(gpu_out.view.sum().item(), (dtype == DType::Int64 ? 2.0 : 2.5) * 480) << short_name(dtype);
  }
}

TEST(CudaParity, SumOverEveryDimSetAndLongReductions) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(4);
  const std::vector<std::vector<bool>> masks{{true, false, false}, {false, true, false}, {false, false, true},
                                             {true, false, true},  {true, true, true},   {false, false, false}};
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    for (const Shape& shape : {Shape{4, 9, 6}, Shape{3, 3000, 2}, Shape{1, 70000, 1}}) {
      for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
        const Pair x = make_input(shape, dtype, layout, generator);
        for (const auto& mask : masks) {
          Shape out_shape = shape;
          std::int64_t terms = 1;
          for (std::size_t d = 0; d < mask.size(); ++d) {
            if (mask[d]) {
              terms *= shape[d];
              out_shape[d] = 1;
            }
          }
          std::string what = label("sum", dtype, layout) + " over";
          for (bool m : mask) what += m ? " x" : " .";
          what += " of " + shape_str(shape);
          // Both sides accumulate in double (int64 exactly): float32 differs by the final rounding
          // only; float64 by the summation order, whose error grows like n eps for n terms of size ~1.
          const Tolerance tolerance{dtype == DType::Float64 ? 4.0 : 2.0,
                                    dtype == DType::Float64 ? static_cast<double>(terms) : 1.0};
          check_kernel(what, out_shape, dtype, dtype == DType::Int64 ? Tolerance{0, 0} : tolerance,
                       [&](const Tensor& out, bool gpu) { kernels::sum(gpu ? x.gpu : x.cpu, mask, out); });
        }
      }
    }
  }
}

TEST(CudaParity, MaxWithIndicesIncludingTies) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(5);
  const Shape shape{6, 40, 7};
  for (DType dtype : kFloatTypes) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
      // Rounded values make ties common: the first maximum's index must win on both devices.
      const Pair x = make_input(shape, dtype, layout, generator, [](const Tensor& t) {
        return (t * 2.0).to(DType::Int64).to(t.dtype());
      });
      for (std::int64_t dim = 0; dim < 3; ++dim) {
        Shape out_shape = shape;
        out_shape[dim] = 1;
        GuardedOutput cpu_indices = make_output(out_shape, DType::Int64, Device::cpu());
        GuardedOutput gpu_indices = make_output(out_shape, DType::Int64, device_under_test());
        const std::string what = label("max dim " + std::to_string(dim), dtype, layout);
        check_kernel(what, out_shape, dtype, {0, 0}, [&](const Tensor& values, bool gpu) {
          kernels::max(gpu ? x.gpu : x.cpu, dim, values, gpu ? gpu_indices.view : cpu_indices.view);
        });
        expect_sentinels_intact(gpu_indices, what + " indices");
        expect_close(cpu_indices.view, gpu_indices.view, {0, 0}, what + " indices");
      }
    }
  }
}

TEST(CudaParity, MatmulLayoutsBroadcastAndCopyPath) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(6);
  const std::int64_t batch = 3, m = 17, k = 33, n = 9;
  for (DType dtype : kFloatTypes) {
    struct Case { Layout a, b; };
    // Sliced on dim 0 strides the batch; transposed swaps the matrix dims; broadcast shares one
    // matrix over the batch (stride 0).
    for (const Case c : {Case{Layout::Contiguous, Layout::Contiguous}, Case{Layout::Transposed, Layout::Contiguous},
                         Case{Layout::Contiguous, Layout::Transposed}, Case{Layout::Transposed, Layout::Transposed},
                         Case{Layout::Sliced, Layout::Broadcast}, Case{Layout::Broadcast, Layout::Sliced}}) {
      const Pair a = make_input({batch, m, k}, dtype, c.a, generator);
      const Pair b = make_input({batch, k, n}, dtype, c.b, generator);
      const std::string what = label("matmul a", dtype, c.a) + ", b " + layout_name(c.b);
      check_kernel(what, {batch, m, n}, dtype, {8, static_cast<double>(k)},
                   [&](const Tensor& out, bool gpu) { kernels::matmul(gpu ? a.gpu : a.cpu, gpu ? b.gpu : b.cpu, out); });
    }
    // Strides cuBLAS cannot take (step-2 columns): the contiguous-copy path.
    Tensor wide = randn({batch, m, 2 * k}, TensorOptions().dtype(dtype), &generator);
    const Pair a{wide.slice(2, 0, 2 * k, 2), wide.to(device_under_test()).slice(2, 0, 2 * k, 2)};
    const Pair b = make_input({batch, k, n}, dtype, Layout::Contiguous, generator);
    check_kernel(label("matmul copy path", dtype, Layout::Sliced), {batch, m, n}, dtype, {8, static_cast<double>(k)},
                 [&](const Tensor& out, bool gpu) { kernels::matmul(gpu ? a.gpu : a.cpu, gpu ? b.gpu : b.cpu, out); });
    // Vectors and a single inner term.
    for (const auto& [mm, kk, nn] : {std::tuple{1, 7, 1}, std::tuple{5, 1, 4}, std::tuple{1, 300, 64}}) {
      const Pair x = make_input({2, mm, kk}, dtype, Layout::Contiguous, generator);
      const Pair y = make_input({2, kk, nn}, dtype, Layout::Contiguous, generator);
      check_kernel(label("matmul " + std::to_string(mm) + "x" + std::to_string(kk) + "x" + std::to_string(nn), dtype,
                         Layout::Contiguous),
                   {2, mm, nn}, dtype, {8, static_cast<double>(kk)},
                   [&](const Tensor& out, bool gpu) { kernels::matmul(gpu ? x.gpu : x.cpu, gpu ? y.gpu : y.cpu, out); });
    }
  }
}

TEST(CudaParity, Conv1dForwardAndBackward) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(7);
  std::vector<op_tests::OpCase> cases = op_tests::op_cases();
  std::erase_if(cases, [](const op_tests::OpCase& op_case) { return !op_case.conv; });
  for (DType dtype : kFloatTypes) {
    for (const op_tests::OpCase& op_case : cases) {
      const op_tests::Conv1dForm& form = *op_case.conv;
      const op_tests::Conv1dSizes c = op_tests::conv1d_sizes_of(op_case);
      const Pair input = make_input({c.batch, c.in_channels, c.length}, dtype, Layout::Transposed, generator);
      const Pair weight = make_input({c.out_channels, c.in_channels, c.taps}, dtype, Layout::Contiguous, generator);
      const Pair bias = form.bias ? make_input({c.out_channels}, dtype, Layout::Contiguous, generator) : Pair{};
      const Pair grad_out = make_input({c.batch, c.out_channels, c.out_length}, dtype, Layout::Sliced, generator);
      const std::string what = op_case.name + " [" + short_name(dtype) + "]";
      const double terms = static_cast<double>(c.in_channels * c.taps);
      check_kernel(what, {c.batch, c.out_channels, c.out_length}, dtype, {8, terms}, [&](const Tensor& out, bool gpu) {
        kernels::conv1d(gpu ? input.gpu : input.cpu, gpu ? weight.gpu : weight.cpu, gpu ? bias.gpu : bias.cpu, out,
                        form.stride, form.padding, form.dilation, form.mode);
      });
      check_kernel(what + " grad_input", {c.batch, c.in_channels, c.length}, dtype, {8, static_cast<double>(c.out_channels * c.taps)},
                   [&](const Tensor& grad_input, bool gpu) {
                     kernels::conv1d_backward(gpu ? grad_out.gpu : grad_out.cpu, gpu ? input.gpu : input.cpu,
                                              gpu ? weight.gpu : weight.cpu, grad_input, Tensor(), form.stride, form.padding,
                                              form.dilation, form.mode);
                   });
      check_kernel(what + " grad_weight", {c.out_channels, c.in_channels, c.taps}, dtype,
                   {8, static_cast<double>(c.batch * c.out_length)}, [&](const Tensor& grad_weight, bool gpu) {
                     kernels::conv1d_backward(gpu ? grad_out.gpu : grad_out.cpu, gpu ? input.gpu : input.cpu,
                                              gpu ? weight.gpu : weight.cpu, Tensor(), grad_weight, form.stride,
                                              form.padding, form.dilation, form.mode);
                   });
    }
  }
}

TEST(CudaParity, IndexSelectAndIndexAdd) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(8);
  const Shape shape{5, 7, 6};
  const std::vector<std::int64_t> positions{4, 0, 0, 2, 4, 1, 3, 3};  // repeats accumulate in index_add
  for (DType dtype : kFloatTypes) {
    for (std::int64_t dim = 0; dim < 3; ++dim) {
      std::vector<std::int64_t> valid;
      for (auto p : positions) valid.push_back(p % shape[dim]);
      const Tensor index_cpu = from_vector<std::int64_t>(valid, {static_cast<std::int64_t>(valid.size())});
      const Pair index{index_cpu, index_cpu.to(device_under_test())};
      const Pair x = make_input(shape, dtype, Layout::Transposed, generator);
      Shape selected = shape;
      selected[dim] = static_cast<std::int64_t>(valid.size());
      const std::string what = label("index_select dim " + std::to_string(dim), dtype, Layout::Transposed);
      check_kernel(what, selected, dtype, {0, 0}, [&](const Tensor& out, bool gpu) {
        kernels::index_select(gpu ? x.gpu : x.cpu, dim, gpu ? index.gpu : index.cpu, out);
      });
      const Pair source = make_input(selected, dtype, Layout::Sliced, generator);
      const Pair start = make_input(shape, dtype, Layout::Contiguous, generator);
      // Atomic accumulation order differs from the CPU's serial order: rounding-level differences.
      check_kernel(label("index_add dim " + std::to_string(dim), dtype, Layout::Sliced), shape, dtype, {8, 4},
                   [&](const Tensor& out, bool gpu) {
                     kernels::copy(gpu ? start.gpu : start.cpu, out);
                     kernels::index_add(out, dim, gpu ? index.gpu : index.cpu, gpu ? source.gpu : source.cpu);
                   });
    }
    // An out-of-range index is an error on both devices, not a silent read.
    const Tensor bad = from_vector<std::int64_t>({0, 5}, {2}).to(device_under_test());
    const Pair x = make_input(shape, dtype, Layout::Contiguous, generator);
    Tensor out = empty({2, 7, 6}, TensorOptions().dtype(dtype).device(device_under_test()));
    EXPECT_THROW(kernels::index_select(x.gpu, 0, bad, out), Error);
  }
}

// Real FFTs (cuFFT on the GPU) against the CPU's float64 plans: length 1, even and odd lengths,
// powers of two up to the KdV grid, one row and a batch; inputs at a misaligned offset (and every
// guarded output is misaligned too, kPad elements in); the inverse reads random spectra whose
// ignored imaginary parts (bin 0, bin n/2) are nonzero.
TEST(CudaParity, RealFftForwardAndInverse) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(10);
  for (DType dtype : kFloatTypes) {
    for (const std::int64_t n : {1, 2, 7, 12, 64, 256}) {
      for (const std::int64_t rows : {1, 33}) {
        const std::int64_t bins = n / 2 + 1;
        for (const bool offset : {false, true}) {
          // Contiguous views starting `offset` elements into their storage.
          auto contiguous_at = [&](const Shape& shape) {
            const Tensor base = randn({shape_numel(shape) + 1}, TensorOptions().dtype(dtype), &generator);
            const auto view = [&](const Tensor& t) { return t.narrow(0, offset ? 1 : 0, shape_numel(shape)).reshape(shape); };
            return Pair{view(base), view(base.to(device_under_test()))};
          };
          const std::string suffix = fmt::format(" n {} rows {}{}", n, rows, offset ? " offset input" : "");
          const Pair signal = contiguous_at({rows, n});
          check_kernel(label("fft_real_forward" + suffix, dtype, Layout::Contiguous), {rows, bins, 2}, dtype,
                       {8, static_cast<double>(n)}, [&](const Tensor& out, bool gpu) {
                         kernels::fft_real_forward(gpu ? signal.gpu : signal.cpu, out);
                       });
          const Pair spectrum = contiguous_at({rows, bins, 2});
          check_kernel(label("fft_real_inverse" + suffix, dtype, Layout::Contiguous), {rows, n}, dtype, {8, 1},
                       [&](const Tensor& out, bool gpu) {
                         kernels::fft_real_inverse(gpu ? spectrum.gpu : spectrum.cpu, out);
                       });
        }
      }
    }
  }
}

TEST(CudaParity, FusedOptimizerSteps) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(9);
  const Shape shape{1000};
  for (DType dtype : kFloatTypes) {
    // Three steps of each configuration, state carried over, compared after every step.
    for (int config = 0; config < 4; ++config) {
      const Pair param0 = make_input(shape, dtype, Layout::Contiguous, generator);
      Tensor cpu_param = param0.cpu.clone(), gpu_param = param0.gpu.clone();
      Tensor cpu_first = zeros(shape, TensorOptions().dtype(dtype)), gpu_first = cpu_first.to(device_under_test()).clone();
      Tensor cpu_second = zeros(shape, TensorOptions().dtype(dtype)), gpu_second = cpu_second.to(device_under_test()).clone();
      for (int step = 1; step <= 3; ++step) {
        const Pair grad = make_input(shape, dtype, Layout::Contiguous, generator);
        const std::string what = fmt::format("optimizer config {} step {} [{}]", config, step, short_name(dtype));
        if (config < 2) {
          const double momentum = config == 0 ? 0.9 : 0.0;
          kernels::sgd_step(cpu_param, grad.cpu, cpu_first, 0.1, momentum, 0.1, 0.01, config == 0, step == 1);
          kernels::sgd_step(gpu_param, grad.gpu, gpu_first, 0.1, momentum, 0.1, 0.01, config == 0, step == 1);
        } else {
          const bool decoupled = config == 3;
          kernels::adam_step(cpu_param, grad.cpu, cpu_first, cpu_second, 1e-2, 0.9, 0.999, 1e-8, 0.05, decoupled, step);
          kernels::adam_step(gpu_param, grad.gpu, gpu_first, gpu_second, 1e-2, 0.9, 0.999, 1e-8, 0.05, decoupled, step);
          expect_close(cpu_second, gpu_second, {16, 1}, what + " exp_avg_sq");
        }
        expect_close(cpu_param, gpu_param, {16, 1}, what + " param");
        expect_close(cpu_first, gpu_first, {16, 1}, what + " buffer/exp_avg");
      }
    }
  }
}

// ---- op-level parity: forward values and gradients through the tape ------------------------------

// Makes leaves from `values` on each device (requiring grad), passes `views[i]` of leaf i to
// `function` (which returns a tensor), backpropagates sum(result * weights) and compares the
// result and every leaf's gradient (the result only, for a function that is not differentiable).
void check_through_leaves(const std::string& what, const std::vector<Tensor>& values,
                          const std::vector<std::function<Tensor(const Tensor&)>>& views,
                          const std::function<Tensor(const std::vector<Tensor>&)>& function, Tolerance tolerance,
                          Generator& generator, bool differentiable = true) {
  std::vector<Tensor> cpu_leaves, gpu_leaves, cpu_inputs, gpu_inputs;
  for (std::size_t i = 0; i < values.size(); ++i) {
    // Separate storage on each side even when the target is the CPU (to() would share it).
    cpu_leaves.push_back(values[i].clone().requires_grad_(true));
    gpu_leaves.push_back(values[i].clone().to(device_under_test()).requires_grad_(true));
    cpu_inputs.push_back(views[i](cpu_leaves.back()));
    gpu_inputs.push_back(views[i](gpu_leaves.back()));
  }
  const Tensor cpu_result = function(cpu_inputs);
  const Tensor gpu_result = function(gpu_inputs);
  ASSERT_EQ(gpu_result.device(), device_under_test()) << what << ": the result left the GPU";
  expect_close(cpu_result, gpu_result, tolerance, what + " forward");
  if (!differentiable) {
    EXPECT_FALSE(cpu_result.requires_grad() || gpu_result.requires_grad()) << what << ": marked forward only";
    return;
  }
  const Tensor weights = randn(cpu_result.shape(), TensorOptions().dtype(cpu_result.dtype()), &generator);
  sum(cpu_result * weights).backward();
  sum(gpu_result * weights.to(device_under_test())).backward();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string name = what + " grad of input " + std::to_string(i);
    ASSERT_EQ(cpu_leaves[i].grad().defined(), gpu_leaves[i].grad().defined()) << name;
    if (!cpu_leaves[i].grad().defined()) continue;
    EXPECT_EQ(gpu_leaves[i].grad().device(), device_under_test()) << name;
    expect_close(cpu_leaves[i].grad(), gpu_leaves[i].grad(), tolerance, name);
  }
}

// The same with contiguous leaves of `shapes`, normal values, passed to `function` as they are.
void check_differentiable(const std::string& what, DType dtype, const std::vector<Shape>& shapes,
                          const std::function<Tensor(const std::vector<Tensor>&)>& function, Tolerance tolerance,
                          Generator& generator) {
  std::vector<Tensor> values;
  for (const Shape& shape : shapes) values.push_back(randn(shape, TensorOptions().dtype(dtype), &generator));
  const std::vector<std::function<Tensor(const Tensor&)>> as_is(shapes.size(), [](const Tensor& t) { return t; });
  check_through_leaves(what, values, as_is, function, tolerance, generator);
}

// ---- every case of the op table (op_cases.h) on contiguous, strided and broadcast leaves ----------

void check_op_case(const op_tests::OpCase& op_case, DType dtype, op_tests::LeafLayout layout, Generator& generator) {
  const std::string what =
      op_case.name + " [" + short_name(dtype) + ", " + op_tests::leaf_layout_name(layout) + " leaves]";
  const op_tests::CaseLeaves leaves = op_tests::make_leaves(op_case, layout, dtype, generator);
  Tolerance tolerance = op_case.tolerance;
  if (layout == op_tests::LeafLayout::Broadcast) {
    // A broadcast leaf's gradient sums its (up to 8) copies' gradients, in an order that may
    // differ between devices: exact cases become rounding-level ones.
    tolerance = {std::max(tolerance.factor, 8.0), std::max(tolerance.scale, 1.0) * 8};
  }
  check_through_leaves(what, leaves.values, leaves.views, op_case.function, tolerance, generator,
                       op_case.differentiable);
}

// Returns how many (case, dtype, layout) runs were checked.
int run_op_table() {
  Generator generator(12);
  const std::vector<op_tests::OpCase> cases = op_tests::op_cases();
  int runs = 0;
  for (DType dtype : kFloatTypes) {
    for (const op_tests::OpCase& op_case : cases) {
      for (const op_tests::LeafLayout layout : op_tests::leaf_layouts_of(op_case)) {
        check_op_case(op_case, dtype, layout, generator);
        ++runs;
      }
    }
  }
  return runs;
}

TEST(CudaParity, EveryOpCaseOnContiguousStridedAndBroadcastLeaves) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  run_op_table();
}

// ---- the optimizer classes (nn/optim.h) on device parameters ------------------------------------

// Two parameters (a matrix and a vector) stepped four times by an optimizer made with `make` on
// each device: gradients set directly, the vector's left out at step 2 (the optimizer skips it, so
// its step count falls behind the matrix's), the learning rate halved before step 4. Parameters
// and the whole state dict are compared after every step.
void check_optimizer(const std::string& what, DType dtype,
                     const std::function<std::unique_ptr<nn::Optimizer>(std::vector<Tensor>)>& make,
                     Generator& generator) {
  std::vector<Tensor> cpu_params, gpu_params;
  for (const Shape& shape : {Shape{40, 25}, Shape{25}}) {
    const Tensor values = randn(shape, TensorOptions().dtype(dtype), &generator);
    cpu_params.push_back(values.clone().requires_grad_(true));
    gpu_params.push_back(values.clone().to(device_under_test()).requires_grad_(true));
  }
  const std::unique_ptr<nn::Optimizer> cpu_optimizer = make(cpu_params);
  const std::unique_ptr<nn::Optimizer> gpu_optimizer = make(gpu_params);
  for (int step = 1; step <= 4; ++step) {
    const std::string at = what + " [" + short_name(dtype) + "] step " + std::to_string(step);
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      if (step == 2 && i == 1) {
        cpu_params[i].zero_grad();
        gpu_params[i].zero_grad();
        continue;
      }
      const Tensor grad = randn(cpu_params[i].shape(), TensorOptions().dtype(dtype), &generator);
      cpu_params[i].set_grad(grad.clone());
      gpu_params[i].set_grad(grad.clone().to(device_under_test()));
    }
    if (step == 4) {
      cpu_optimizer->set_lr(cpu_optimizer->lr() * 0.5);
      gpu_optimizer->set_lr(gpu_optimizer->lr() * 0.5);
    }
    cpu_optimizer->step();
    gpu_optimizer->step();
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      EXPECT_EQ(gpu_params[i].device(), device_under_test()) << at;
      expect_close(cpu_params[i].detach(), gpu_params[i].detach(), {16, 1}, at + " param " + std::to_string(i));
    }
    const nn::NamedTensors cpu_state = cpu_optimizer->state_dict();
    const nn::NamedTensors gpu_state = gpu_optimizer->state_dict();
    ASSERT_EQ(cpu_state.size(), gpu_state.size()) << at << ": state dict sizes";
    for (std::size_t k = 0; k < cpu_state.size(); ++k) {
      ASSERT_EQ(cpu_state[k].first, gpu_state[k].first) << at;
      expect_close(cpu_state[k].second, gpu_state[k].second, {16, 1}, at + " state " + cpu_state[k].first);
    }
  }
}

void run_optimizer_classes() {
  Generator generator(13);
  using Make = std::function<std::unique_ptr<nn::Optimizer>(std::vector<Tensor>)>;
  const std::vector<std::pair<std::string, Make>> optimizers{
      {"SGD", [](std::vector<Tensor> p) { return std::make_unique<nn::SGD>(std::move(p), nn::SGDOptions(0.1)); }},
      {"SGD momentum dampening weight decay",
       [](std::vector<Tensor> p) {
         return std::make_unique<nn::SGD>(std::move(p),
                                          nn::SGDOptions(0.1).momentum(0.9).dampening(0.1).weight_decay(0.01));
       }},
      {"SGD nesterov",
       [](std::vector<Tensor> p) {
         return std::make_unique<nn::SGD>(std::move(p), nn::SGDOptions(0.05).momentum(0.8).nesterov(true).weight_decay(0.02));
       }},
      {"Adam",
       [](std::vector<Tensor> p) {
         return std::make_unique<nn::Adam>(std::move(p), nn::AdamOptions(1e-2).betas({0.8, 0.99}).eps(1e-6));
       }},
      {"Adam weight decay",
       [](std::vector<Tensor> p) { return std::make_unique<nn::Adam>(std::move(p), nn::AdamOptions(1e-2).weight_decay(0.05)); }},
      {"AdamW",
       [](std::vector<Tensor> p) { return std::make_unique<nn::AdamW>(std::move(p), nn::AdamOptions(1e-2).weight_decay(0.05)); }},
  };
  for (DType dtype : kFloatTypes) {
    for (const auto& [name, make] : optimizers) check_optimizer(name, dtype, make, generator);
    // Gradient clipping over the same two shapes: the total norm (float64 on both devices) and
    // the rescaled gradients, for the 2-norm, a 3-norm and the max norm.
    for (const double norm_type : {2.0, 3.0, std::numeric_limits<double>::infinity()}) {
      const std::string what = std::string("clip_grad_norm_ p=") + std::to_string(norm_type) + " [" + short_name(dtype) + "]";
      std::vector<Tensor> cpu_params, gpu_params;
      for (const Shape& shape : {Shape{40, 25}, Shape{25}}) {
        const Tensor values = randn(shape, TensorOptions().dtype(dtype), &generator);
        const Tensor grad = randn(shape, TensorOptions().dtype(dtype), &generator);
        cpu_params.push_back(values.clone().requires_grad_(true));
        gpu_params.push_back(values.clone().to(device_under_test()).requires_grad_(true));
        cpu_params.back().set_grad(grad.clone());
        gpu_params.back().set_grad(grad.clone().to(device_under_test()));
      }
      const double cpu_total = nn::clip_grad_norm_(cpu_params, 1.0, norm_type);
      const double gpu_total = nn::clip_grad_norm_(gpu_params, 1.0, norm_type);
      // Summing 1025 powers in another order: n eps relative, in float64.
      EXPECT_NEAR(gpu_total, cpu_total, 1025 * 4 * std::numeric_limits<double>::epsilon() * cpu_total) << what;
      ASSERT_GT(cpu_total, 1.0) << what << ": the case must clip";
      for (std::size_t i = 0; i < cpu_params.size(); ++i) {
        expect_close(cpu_params[i].grad(), gpu_params[i].grad(), {8, 1}, what + " grad " + std::to_string(i));
      }
    }
  }
}

TEST(CudaParity, OptimizerClassesAndGradientClipping) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  run_optimizer_classes();
}

// The NeuRLP op on CUDA tensors, forward and all four gradients, once solvers/neurlp.cpp routes
// CUDA inputs to solvers/neurlp_gpu.h (until then it refuses them, and this test says so and skips).
TEST(CudaParity, NeurlpOpForwardAndGradients) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  Generator generator(11);
  const std::int64_t B = 5, T = 24;
  for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable}) {
    NeurlpOptions options;
    options.formulation = formulation;
    // coeffs (B,1,T,1,3) = [1, 0.2, 1] + noise: damped oscillators; steps 0.3..0.5 (well conditioned).
    const Tensor base = randn({B, 1, T, 1, 3}, TensorOptions().dtype(DType::Float64), &generator) * 0.1 +
                        from_vector<double>({1.0, 0.2, 1.0}, {3});
    const std::string what = std::string("neurlp op ") + formulation_name(formulation);
    try {
      // Leaves: rhs (B,1,T), iv (B,1,1,2), a coefficient perturbation (B,1,T,1,3) and a step
      // perturbation (B,T-1,1), mapped into well-posed ranges inside the function so that all
      // four gradient paths of the op are compared.
      check_differentiable(what, DType::Float64, {{B, 1, T}, {B, 1, 1, 2}, {B, 1, T, 1, 3}, {B, T - 1, 1}},
                           [&](const std::vector<Tensor>& t) {
                             const Device device = t[0].device();
                             const Tensor coeffs = base.to(device) + t[2] * 0.05;
                             const Tensor steps = tanh(t[3]) * 0.1 + 0.4;
                             const NeurlpResult result = neurlp(coeffs, t[0], t[1], steps, options);
                             return cat({result.u.flatten(), result.eps}, 0);
                           },
                           // The GPU factorisation rounds differently (FMAs): results differ by
                           // about cond(M) eps, and cond(M) stays below ~1e6 for these steps.
                           {4e6, 1}, generator);
    } catch (const Error& error) {
      if (std::string(error.what()).find("on the CPU") != std::string::npos) {
        GTEST_SKIP() << "the NeuRLP op does not take CUDA tensors yet: " << error.what();
      }
      throw;
    }
  }
}

// Both GPU paths of the op at T = 64 (one thread per system; the chunked parallel-in-time solve
// with 4 chunks; the automatic choice, chunked for this small batch), mnn and scalable, float64
// and float32 tensors (the solve runs in float64 either way), the right-hand side passed as a
// transposed view. The step perturbation is affine (no tanh): float32 math functions differ by an
// ulp between devices, which the solve would amplify by cond(M).
void run_neurlp_paths() {
  Generator generator(14);
  const std::int64_t B = 3, T = 64;
  for (const int chunks : {0, 4, neurlp_gpu::kAutomaticChunks}) {
    const neurlp_gpu::ChunkOverride path(chunks);
    for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable}) {
      for (DType dtype : kFloatTypes) {
        NeurlpOptions options;
        options.formulation = formulation;
        const TensorOptions values_options = TensorOptions().dtype(dtype);
        const Tensor base = (randn({B, 1, T, 1, 3}, TensorOptions().dtype(DType::Float64), &generator) * 0.1 +
                             from_vector<double>({1.0, 0.2, 1.0}, {3}))
                                .to(dtype);
        // Leaves: rhs stored (B,T,1) and seen (B,1,T); iv (B,1,1,2); coefficient and step perturbations.
        const std::vector<Tensor> values{randn({B, T, 1}, values_options, &generator),
                                         randn({B, 1, 1, 2}, values_options, &generator),
                                         randn({B, 1, T, 1, 3}, values_options, &generator),
                                         randn({B, T - 1, 1}, values_options, &generator)};
        const auto as_is = [](const Tensor& t) { return t; };
        const std::vector<std::function<Tensor(const Tensor&)>> views{
            [](const Tensor& t) { return t.transpose(1, 2); }, as_is, as_is, as_is};
        const std::string what = fmt::format("neurlp op {} chunks {} [{}]", formulation_name(formulation),
                                             chunks == neurlp_gpu::kAutomaticChunks ? std::string("auto")
                                                                                       : std::to_string(chunks),
                                             short_name(dtype));
        // float64: the factorisations round differently (FMAs, another elimination order on the
        // chunked path), about cond(M) eps < 1e-9 relative for steps in [0.3, 0.5]
        // (test_neurlp_cuda.cpp); 1e8 eps with scale 10 allows ~2e-7 absolute on gradients of
        // size ~10, far below what a wrong index or a missed term gives. float32: the float64
        // results rounded to float32, one ulp apart at most, then float32 arithmetic.
        const Tolerance tolerance = dtype == DType::Float64 ? Tolerance{1e8, 10} : Tolerance{16, 10};
        check_through_leaves(what, values, views,
                             [&](const std::vector<Tensor>& t) {
                               const Tensor coeffs = base.to(t[0].device()) + t[2] * 0.05;
                               const Tensor steps = t[3] * 0.02 + 0.4;
                               const NeurlpResult result = neurlp(coeffs, t[0], t[1], steps, options);
                               return cat({result.u.flatten(), result.eps}, 0);
                             },
                             tolerance, generator);
      }
    }
  }
}

TEST(CudaParity, NeurlpOpBothGpuPathsStridedRhsAndFloat32) {
  REQUIRE_CUDA_DEVICE("CPU/CUDA parity");
  run_neurlp_paths();
}

// ---- the case tables with the CPU on both sides, in every build ----------------------------------
// These compare the CPU with itself: they cannot find a GPU bug, but a case that throws, has a
// shape typo or a gradient path that does not exist fails here rather than first on a GPU machine.

TEST(ParityCaseTable, EveryOpCaseRunsOnTheCpu) {
  const CpuSelfCheck on_cpu;
  // 2 dtypes x (contiguous, strided, broadcast), contiguous only for the Tensor::view cases.
  EXPECT_EQ(run_op_table(), op_tests::kParityRuns) << "the op table lost cases";
}

// The failure messages `check` reports, intercepted (they do not fail the calling test).
std::vector<std::string> failures_of(const std::function<void()>& check) {
  testing::TestPartResultArray results;
  {
    const testing::ScopedFakeTestPartResultReporter intercept(
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    check();
  }
  std::vector<std::string> messages;
  for (int i = 0; i < results.size(); ++i) messages.emplace_back(results.GetTestPartResult(i).message());
  return messages;
}

// Every message mentions `what`, and there is at least one.
void expect_reported(const std::vector<std::string>& messages, const std::string& what) {
  EXPECT_FALSE(messages.empty()) << what << ": the harness reported nothing";
  for (const std::string& message : messages) EXPECT_NE(message.find(what), std::string::npos) << message;
}

// The harness itself can fail: a forward that differs by 1e-3 on the second side, a gradient that
// differs (same forward, a detached factor on the second side) and a write past an output.
TEST(ParityCaseTable, HarnessReportsForwardGradientAndOverrunMismatches) {
  const CpuSelfCheck on_cpu;
  Generator generator(15);
  const std::vector<Tensor> values{randn({3, 4}, TensorOptions().dtype(DType::Float64), &generator)};
  const std::vector<std::function<Tensor(const Tensor&)>> as_is{[](const Tensor& t) { return t; }};
  int calls = 0;
  expect_reported(failures_of([&] {
                    check_through_leaves(
                        "shifted", values, as_is,
                        [&](const std::vector<Tensor>& t) { return t[0] + (calls++ == 1 ? 1e-3 : 0.0); }, {8, 1},
                        generator);
                  }),
                  "shifted forward");
  calls = 0;
  expect_reported(failures_of([&] {
                    check_through_leaves(
                        "detached", values, as_is,
                        [&](const std::vector<Tensor>& t) { return t[0] * (calls++ == 1 ? t[0].detach() : t[0]); },
                        {8, 1}, generator);
                  }),
                  "detached grad of input 0");
  expect_reported(failures_of([&] {
                    check_kernel("overrun", {4}, DType::Float64, {8, 1}, [](const Tensor& out, bool second) {
                      const Tensor wider(out.storage(), out.offset(), {5}, {1}, out.dtype());
                      kernels::fill(second ? wider : out, 1.0);
                    });
                  }),
                  "overrun: buffer element");
}

TEST(ParityCaseTable, OptimizerCasesRunOnTheCpu) {
  const CpuSelfCheck on_cpu;
  run_optimizer_classes();
}

TEST(ParityCaseTable, NeurlpCasesRunOnTheCpu) {
  const CpuSelfCheck on_cpu;
  run_neurlp_paths();
}

}  // namespace
}  // namespace mech
