// bench_core: Google Benchmark timings of the tensor engine's hot paths: on the CPU the packed
// matmul (float32/float64, 256-1024, and the im2col shapes of the KdV convolutions) next to a
// naive triple loop; conv1d's three products (forward, input and weight gradient) at the KdV
// encoder layers, one layer forward+backward through the op, the 10-64-128-256-256 ReLU stack
// and mech-logistic's encoder convolutions, each conv case beside the rate of the matmul of the
// same flops (of_matmul); an elementwise chain, an MLP forward+backward built from ops (matmul +
// bias + tanh) and an Adam step; on the GPU (names with "Cuda", which tools/gpu-check runs)
// cuBLAS matmul (256-4096), the elementwise chain, the MLP at batch 256 and 4096 and the fused
// Adam step. Without a CUDA device (or in a build without CUDA) the GPU benchmarks report one
// "no CUDA device" line each and the program still exits 0.
//
//   build/bin/bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   build/bin/bench_core --benchmark_filter='Conv1d|MatmulShape'
//   build/bin/bench_core --benchmark_filter=Cuda
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/generator.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "nn/adam.h"
#include "models/datasets.h"
#include "models/logistic_model.h"
#include "models/lorenz_discovery.h"
#include "nn/mlp.h"
#include "tools/common/training_run.h"

namespace {

using mech::Device;
using mech::DType;
using mech::Tensor;
using mech::TensorOptions;

template <class T>
constexpr DType dtype_for() {
  return mech::dtype_of<T>();
}

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// GFLOP/s: per wall-clock second. GFLOP/cpu-s: per second of CPU time summed over all threads
// (spin-waiting included), i.e. the throughput of one core; on a machine shared with other work
// the wall-clock rate drops while this one does not.
void set_gflops(benchmark::State& state, double flops_per_iteration, double cpu_seconds) {
  const double flops = flops_per_iteration * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  if (cpu_seconds > 0) state.counters["GFLOP/cpu-s"] = benchmark::Counter(flops * 1e-9 / cpu_seconds);
}

// Sets mech's thread count for one benchmark and restores it afterwards.
class ThreadCount {
 public:
  explicit ThreadCount(std::int64_t threads) : previous_(mech::get_num_threads()) {
    mech::set_num_threads(static_cast<int>(threads));
  }
  ~ThreadCount() { mech::set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

// ---- GPU helpers -----------------------------------------------------------------------------

// The GPU benchmarks' guard: without a device (or in a build without CUDA) the benchmark is
// reported as skipped with the reason, one line, and the program goes on (exit status 0).
bool have_cuda_device(benchmark::State& state) {
  if (mech::cuda::is_available()) return true;
  const std::string why = "no CUDA device (" + mech::cuda::availability() + ")";
  state.SkipWithError(why.c_str());
  return false;
}

// Runs `work` (which only launches GPU work) once as a warm-up (cuBLAS handle and workspace,
// allocator blocks, kernel loading), then once per iteration followed by cuda::synchronize(); the
// iteration time (UseManualTime) is launch to completion, so rate counters are per GPU second.
template <class Work>
void run_synchronised(benchmark::State& state, Work&& work) {
  work();
  mech::cuda::synchronize();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    work();
    mech::cuda::synchronize();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

// Random values made on the CPU (the same generator as the CPU benchmarks) and copied once.
Tensor device_randn(const mech::Shape& shape, DType dtype, mech::Generator& generator) {
  return mech::randn(shape, TensorOptions().dtype(dtype), &generator).to(Device::cuda());
}

// ---- matmul ----------------------------------------------------------------------------------

// C = A B through mech::matmul (no autograd), A (m x k), B (k x n).
template <class T>
void time_matmul(benchmark::State& state, std::int64_t m, std::int64_t k, std::int64_t n) {
  mech::Generator generator(1);
  const auto options = TensorOptions().dtype(dtype_for<T>());
  Tensor a = mech::randn({m, k}, options, &generator);
  Tensor b = mech::randn({k, n}, options, &generator);
  mech::NoGradGuard no_grad;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    Tensor c = mech::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_gflops(state, 2.0 * static_cast<double>(m) * n * k, process_cpu_seconds() - cpu_start);
}

// Square n x n.
template <class T>
void BM_Matmul(benchmark::State& state) {
  const auto n = state.range(0);
  time_matmul<T>(state, n, n, n);
}

// m x k times k x n (ranges 0, 1, 2) on range(3) threads: the im2col shape of a KdV conv1d
// layer, the reference the conv1d rates are compared with.
template <class T>
void BM_MatmulShape(benchmark::State& state) {
  const ThreadCount threads(state.range(3));
  time_matmul<T>(state, state.range(0), state.range(1), state.range(2));
}

// The same product on the GPU (cuBLAS gemm), operands on the device before timing starts.
template <class T>
void BM_CudaMatmul(benchmark::State& state) {
  if (!have_cuda_device(state)) return;
  const auto n = state.range(0);
  mech::Generator generator(1);
  const Tensor a = device_randn({n, n}, dtype_for<T>(), generator);
  const Tensor b = device_randn({n, n}, dtype_for<T>(), generator);
  mech::NoGradGuard no_grad;
  run_synchronised(state, [&] {
    Tensor c = mech::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  });
  set_gflops(state, 2.0 * static_cast<double>(n) * n * n, 0.0);
}

// The textbook i-j-p triple loop on raw arrays: the baseline the blocking is measured against.
template <class T>
void BM_MatmulNaive(benchmark::State& state) {
  const auto n = state.range(0);
  mech::Generator generator(1);
  std::vector<T> a(n * n), b(n * n), c(n * n);
  for (auto& v : a) v = static_cast<T>(generator.normal());
  for (auto& v : b) v = static_cast<T>(generator.normal());
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        T total = 0;
        for (std::int64_t p = 0; p < n; ++p) total += a[i * n + p] * b[p * n + j];
        c[i * n + j] = total;
      }
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * static_cast<double>(n) * n * n, process_cpu_seconds() - cpu_start);
}

// ---- conv1d ----------------------------------------------------------------------------------

// One conv1d layer's geometry. The KdV encoders' layers: batch 32, 256 points, kernel 9, circular
// padding 4 (same length), stride 1.
struct ConvShape {
  std::int64_t batch = 32, in_channels = 64, out_channels = 64, length = 256, kernel = 9;
  std::int64_t stride = 1, padding = 4, dilation = 1;
  mech::PaddingMode mode = mech::PaddingMode::Circular;

  std::int64_t out_length() const { return (length + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1; }
  // Multiply-adds of the forward product, times two; each backward product costs the same.
  double flops() const {
    return 2.0 * static_cast<double>(batch) * static_cast<double>(out_length()) *
           static_cast<double>(out_channels) * static_cast<double>(in_channels * kernel);
  }
};

ConvShape kdv_layer(std::int64_t in_channels, std::int64_t out_channels) {
  ConvShape shape;
  shape.in_channels = in_channels;
  shape.out_channels = out_channels;
  return shape;
}

// The reference rates for a conv1d: GFLOP/s per wall-clock second and per CPU second of the
// matmul a conv1d is as im2col, (N * L_out) x (C_in * K) times (C_in * K) x C_out (the same
// flops), medians of 7 runs made just before the conv's own timing, so that both see the same
// machine load.
struct MatmulRate {
  double wall = 0, cpu = 0;
};

template <class T>
MatmulRate im2col_matmul_rate(const ConvShape& shape) {
  mech::Generator generator(7);
  const auto options = TensorOptions().dtype(dtype_for<T>());
  const Tensor a = mech::randn({shape.batch * shape.out_length(), shape.in_channels * shape.kernel}, options, &generator);
  const Tensor b = mech::randn({shape.in_channels * shape.kernel, shape.out_channels}, options, &generator);
  mech::NoGradGuard no_grad;
  std::vector<double> wall, cpu;
  for (int run = 0; run < 8; ++run) {
    const double cpu_start = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    Tensor c = mech::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
    if (run == 0) continue;  // warm-up
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu.push_back(process_cpu_seconds() - cpu_start);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {shape.flops() * 1e-9 / wall[wall.size() / 2], shape.flops() * 1e-9 / cpu[cpu.size() / 2]};
}

// GFLOP/s (and per CPU second) of `flops` per iteration, the im2col matmul's rates, and the
// fractions of them the conv reaches: of_matmul per CPU second (the one to read on a machine
// shared with other work, where a thread's wall-clock time depends on who else runs), and
// of_matmul_wall per wall-clock second (the same on a quiet machine unless the conv's threads
// wait on each other).
void set_conv_counters(benchmark::State& state, double flops, double cpu_seconds, double wall_seconds,
                       const MatmulRate& matmul) {
  set_gflops(state, flops, cpu_seconds);
  const double total = flops * static_cast<double>(state.iterations()) * 1e-9;
  state.counters["matmul_GFLOP/s"] = matmul.wall;
  state.counters["matmul_GFLOP/cpu-s"] = matmul.cpu;
  if (cpu_seconds > 0) state.counters["of_matmul"] = total / cpu_seconds / matmul.cpu;
  if (wall_seconds > 0) state.counters["of_matmul_wall"] = total / wall_seconds / matmul.wall;
}

// The three products of one layer: which ones a benchmark runs.
enum class ConvPass { Forward, BackwardInput, BackwardWeight };

// One conv1d product through the kernel (no autograd), KdV layer C_in -> C_out (range 0, 1) on
// range(2) threads.
template <class T, ConvPass pass>
void BM_Conv1dKdv(benchmark::State& state) {
  const ConvShape shape = kdv_layer(state.range(0), state.range(1));
  const ThreadCount threads(state.range(2));
  mech::Generator generator(5);
  const auto options = TensorOptions().dtype(dtype_for<T>());
  const Tensor input = mech::randn({shape.batch, shape.in_channels, shape.length}, options, &generator);
  const Tensor weight = mech::randn({shape.out_channels, shape.in_channels, shape.kernel}, options, &generator);
  const Tensor bias = mech::randn({shape.out_channels}, options, &generator);
  const Tensor grad_out = mech::randn({shape.batch, shape.out_channels, shape.out_length()}, options, &generator);
  Tensor out = mech::empty(grad_out.shape(), options);
  Tensor grad_input = mech::empty(input.shape(), options);
  Tensor grad_weight = mech::empty(weight.shape(), options);
  const MatmulRate matmul_rate = im2col_matmul_rate<T>(shape);
  const double cpu_start = process_cpu_seconds();
  const auto wall_start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if constexpr (pass == ConvPass::Forward) {
      mech::kernels::conv1d(input, weight, bias, out, shape.stride, shape.padding, shape.dilation, shape.mode);
      benchmark::DoNotOptimize(out.raw_data());
    } else if constexpr (pass == ConvPass::BackwardInput) {
      mech::kernels::conv1d_backward(grad_out, input, weight, grad_input, Tensor(), shape.stride, shape.padding,
                                     shape.dilation, shape.mode);
      benchmark::DoNotOptimize(grad_input.raw_data());
    } else {
      mech::kernels::conv1d_backward(grad_out, input, weight, Tensor(), grad_weight, shape.stride, shape.padding,
                                     shape.dilation, shape.mode);
      benchmark::DoNotOptimize(grad_weight.raw_data());
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  set_conv_counters(state, shape.flops(), process_cpu_seconds() - cpu_start, wall, matmul_rate);
}

// A stack of conv1d layers (each followed by an activation) as leaves, fwd+bwd through the ops.
struct ConvStack {
  std::vector<ConvShape> layers;
  Tensor input, grad_output;
  std::vector<Tensor> weights, biases;
  bool relu = true;  // else tanh
  double flops = 0;  // forward and both backward products, less the first layer's input gradient
};

template <class T>
ConvStack make_conv_stack(const std::vector<ConvShape>& layers, bool relu) {
  mech::Generator generator(6);
  const auto options = TensorOptions().dtype(dtype_for<T>());
  ConvStack stack;
  stack.layers = layers;
  stack.relu = relu;
  const ConvShape& first = layers.front();
  stack.input = mech::randn({first.batch, first.in_channels, first.length}, options, &generator);
  for (const ConvShape& layer : layers) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(layer.in_channels * layer.kernel));
    stack.weights.push_back(
        mech::mul(mech::randn({layer.out_channels, layer.in_channels, layer.kernel}, options, &generator), scale)
            .detach()
            .requires_grad_(true));
    stack.biases.push_back(mech::zeros({layer.out_channels}, options.requires_grad(true)));
    stack.flops += 3.0 * layer.flops();
  }
  stack.flops -= first.flops();  // the input is data: its gradient is not needed
  const ConvShape& last = layers.back();
  stack.grad_output = mech::randn({last.batch, last.out_channels, last.out_length()}, options, &generator);
  return stack;
}

// Forward (conv, activation per layer), backward from a fixed upstream gradient, grads dropped.
void conv_stack_step(ConvStack& stack, bool backward) {
  Tensor h = stack.input;
  for (std::size_t i = 0; i < stack.layers.size(); ++i) {
    const ConvShape& layer = stack.layers[i];
    h = mech::conv1d(h, stack.weights[i], stack.biases[i], layer.stride, layer.padding, layer.dilation, layer.mode);
    h = stack.relu ? mech::relu(h) : mech::tanh(h);
  }
  if (backward) {
    h.backward(stack.grad_output);
    for (auto& w : stack.weights) w.zero_grad();
    for (auto& b : stack.biases) b.zero_grad();
  }
  benchmark::DoNotOptimize(h.raw_data());
}

// One KdV layer C_in -> C_out forward + backward through the op (input requiring grad, so both
// backward products run), range(2) threads.
template <class T>
void BM_Conv1dKdvForwardBackward(benchmark::State& state) {
  const ConvShape shape = kdv_layer(state.range(0), state.range(1));
  const ThreadCount threads(state.range(2));
  mech::Generator generator(5);
  const auto options = TensorOptions().dtype(dtype_for<T>());
  const Tensor input = mech::randn({shape.batch, shape.in_channels, shape.length}, options.requires_grad(true),
                                   &generator);
  const Tensor weight = mech::randn({shape.out_channels, shape.in_channels, shape.kernel},
                                    options.requires_grad(true), &generator);
  const Tensor bias = mech::zeros({shape.out_channels}, options.requires_grad(true));
  const Tensor grad_out = mech::randn({shape.batch, shape.out_channels, shape.out_length()}, options, &generator);
  const MatmulRate matmul_rate = im2col_matmul_rate<T>(shape);
  const double cpu_start = process_cpu_seconds();
  const auto wall_start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    Tensor out = mech::conv1d(input, weight, bias, shape.stride, shape.padding, shape.dilation, shape.mode);
    out.backward(grad_out);
    for (Tensor leaf : {input, weight, bias}) leaf.zero_grad();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  set_conv_counters(state, 3.0 * shape.flops(), process_cpu_seconds() - cpu_start, wall, matmul_rate);
}

// Issue-15's stack: KdV layers 10-64-128-256-256 with ReLU, fwd+bwd, float32, range(0) threads.
void BM_Conv1dKdvStack(benchmark::State& state) {
  const ThreadCount threads(state.range(0));
  ConvStack stack = make_conv_stack<float>(
      {kdv_layer(10, 64), kdv_layer(64, 128), kdv_layer(128, 256), kdv_layer(256, 256)}, true);
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) conv_stack_step(stack, true);
  set_gflops(state, stack.flops, process_cpu_seconds() - cpu_start);
}

// mech-logistic's encoder convolutions (models/logistic_model.cpp): batch 32, 100 samples, three
// channels in, three layers of 16 channels, kernel 5, stride 2, zero padding 2, tanh, float64 as
// the model runs them; forward only (range(1) == 0) or forward + backward, range(0) threads.
void BM_Conv1dLogistic(benchmark::State& state) {
  const ThreadCount threads(state.range(0));
  std::vector<ConvShape> layers;
  std::int64_t in_channels = 3, length = 100;
  for (int i = 0; i < 3; ++i) {
    const ConvShape layer{.in_channels = in_channels, .out_channels = 16, .length = length, .kernel = 5,
                          .stride = 2, .padding = 2, .mode = mech::PaddingMode::Zeros};
    layers.push_back(layer);
    in_channels = 16;
    length = layer.out_length();
  }
  ConvStack stack = make_conv_stack<double>(layers, false);
  const bool backward = state.range(1) != 0;
  const mech::GradModeGuard grad_mode(backward);
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) conv_stack_step(stack, backward);
  double flops = 0;
  for (const ConvShape& layer : layers) flops += layer.flops();
  set_gflops(state, backward ? stack.flops : flops, process_cpu_seconds() - cpu_start);
}

// ---- elementwise -----------------------------------------------------------------------------

// y = tanh(x * 2 + 1) * x - exp(-x): five elementwise kernels over n float32 elements.
Tensor elementwise_chain(const Tensor& x) { return mech::tanh(x * 2.0 + 1.0) * x - mech::exp(-x); }

// Bytes counted as one read of x and one write of y per element (the chain's minimum traffic).
void set_elementwise_counters(benchmark::State& state, std::int64_t n) {
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * static_cast<std::int64_t>(sizeof(float)) * 2);
}

void BM_ElementwiseChain(benchmark::State& state) {
  const auto n = state.range(0);
  mech::Generator generator(2);
  Tensor x = mech::randn({n}, TensorOptions(), &generator);
  mech::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = elementwise_chain(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_elementwise_counters(state, n);
}

void BM_CudaElementwiseChain(benchmark::State& state) {
  if (!have_cuda_device(state)) return;
  const auto n = state.range(0);
  mech::Generator generator(2);
  const Tensor x = device_randn({n}, DType::Float32, generator);
  mech::NoGradGuard no_grad;
  run_synchronised(state, [&] {
    Tensor y = elementwise_chain(x);
    benchmark::DoNotOptimize(y.raw_data());
  });
  set_elementwise_counters(state, n);
}

// ---- MLP forward + backward ------------------------------------------------------------------

// A tanh MLP of widths 64-width-width-1 as raw leaves (float32) with an input batch and an MSE
// target, all on `device`.
struct MlpProblem {
  Tensor x, target;
  std::vector<Tensor> weights, biases;
  double flops = 0;  // forward + two backward products per layer, per step
};

MlpProblem make_mlp_problem(std::int64_t batch, std::int64_t width, Device device) {
  mech::Generator generator(3);
  const auto options = TensorOptions();
  MlpProblem problem;
  problem.x = mech::randn({batch, 64}, options, &generator).to(device);
  problem.target = mech::randn({batch, 1}, options, &generator).to(device);
  const std::vector<std::int64_t> sizes{64, width, width, 1};
  for (std::size_t layer = 0; layer + 1 < sizes.size(); ++layer) {
    // Moved before becoming leaves: a leaf moved afterwards would be a to_device node, not a leaf.
    problem.weights.push_back(mech::mul(mech::randn({sizes[layer], sizes[layer + 1]}, options, &generator),
                                        1.0 / std::sqrt(static_cast<double>(sizes[layer])))
                                  .to(device)
                                  .detach()
                                  .requires_grad_(true));
    problem.biases.push_back(mech::zeros({sizes[layer + 1]}, options.device(device).requires_grad(true)));
    problem.flops += 3.0 * 2.0 * static_cast<double>(batch) * static_cast<double>(sizes[layer]) *
                     static_cast<double>(sizes[layer + 1]);
  }
  return problem;
}

// Forward, MSE loss, backward, gradients dropped; returns the loss.
Tensor mlp_step(MlpProblem& problem) {
  Tensor h = problem.x;
  for (std::size_t layer = 0; layer < problem.weights.size(); ++layer) {
    h = mech::matmul(h, problem.weights[layer]) + problem.biases[layer];
    if (layer + 1 < problem.weights.size()) h = mech::tanh(h);
  }
  Tensor loss = mech::mse_loss(h, problem.target);
  loss.backward();
  for (auto& w : problem.weights) w.zero_grad();
  for (auto& b : problem.biases) b.zero_grad();
  return loss;
}

// Three-layer tanh MLP (batch 256, widths 64-width-width-1), forward, MSE loss and backward.
void BM_MlpForwardBackward(benchmark::State& state) {
  MlpProblem problem = make_mlp_problem(256, state.range(0), Device::cpu());
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    Tensor loss = mlp_step(problem);
    benchmark::DoNotOptimize(loss.raw_data());
  }
  set_gflops(state, problem.flops, process_cpu_seconds() - cpu_start);
}

// The same step on the GPU, widths 64-256-256-1, batch state.range(0).
void BM_CudaMlpForwardBackward(benchmark::State& state) {
  if (!have_cuda_device(state)) return;
  MlpProblem problem = make_mlp_problem(state.range(0), 256, Device::cuda());
  run_synchronised(state, [&] {
    Tensor loss = mlp_step(problem);
    benchmark::DoNotOptimize(loss.raw_data());
  });
  set_gflops(state, problem.flops, 0.0);
}

// ---- optimizer step ----------------------------------------------------------------------------

// One Adam step (the fused per-parameter kernel) over an MLP 512-1024-512-1: 1,050,625 float32
// parameters in six tensors, gradients from one backward made before timing (a step leaves them).
struct AdamProblem {
  std::shared_ptr<mech::nn::Sequential> model;
  std::unique_ptr<mech::nn::Adam> optimizer;
  std::int64_t parameters = 0;
};

AdamProblem make_adam_problem(Device device) {
  mech::Generator generator(4);
  AdamProblem problem;
  problem.model = mech::nn::make_mlp(mech::nn::MLPOptions({512, 1024, 512, 1}), &generator);
  problem.model->to(device);
  problem.parameters = problem.model->parameter_count();
  const Tensor x = mech::randn({64, 512}, TensorOptions(), &generator).to(device);
  mech::sum(problem.model->forward(x)).backward();
  problem.optimizer = std::make_unique<mech::nn::Adam>(problem.model->parameters(),
                                                       mech::nn::AdamOptions(1e-3).weight_decay(1e-4));
  return problem;
}

// The machine's multiply-add peak: on every thread, 12 independent chains of fused multiply-adds
// on vectors of the register width (enough to cover the FMA latency on two pipes), 2 flops per
// lane. The ceiling for the matmul and conv cases (a float32 conv at 1.5x another library's speed
// cannot exceed it).
template <class T>
void BM_FmaPeak(benchmark::State& state) {
#if defined(__AVX512F__)
  constexpr int kBytes = 64;
#else
  constexpr int kBytes = 32;
#endif
  typedef T Pack __attribute__((vector_size(kBytes)));
  constexpr int kLanes = kBytes / sizeof(T), kChains = 12;
  constexpr std::int64_t kRounds = 1 << 16;
  const std::int64_t threads = mech::get_num_threads();
  std::vector<T> sink(static_cast<std::size_t>(threads), T(0));
  for (auto _ : state) {
    mech::parallel_for(0, threads, 1, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t thread = first; thread < last; ++thread) {
        Pack chains[kChains] = {};
        Pack scale = {}, shift = {};
        for (int lane = 0; lane < kLanes; ++lane) scale[lane] = T(0.999999), shift[lane] = T(1e-7) * T(thread + 1);
        for (int chain = 0; chain < kChains; ++chain)
          for (int lane = 0; lane < kLanes; ++lane) chains[chain][lane] = T(chain + lane);
        for (std::int64_t round = 0; round < kRounds; ++round)
          for (int chain = 0; chain < kChains; ++chain) chains[chain] = chains[chain] * scale + shift;
        T total = 0;
        for (int chain = 0; chain < kChains; ++chain)
          for (int lane = 0; lane < kLanes; ++lane) total += chains[chain][lane];
        sink[static_cast<std::size_t>(thread)] = total;
      }
    });
  }
  benchmark::DoNotOptimize(sink.data());
  const double flops = 2.0 * kLanes * kChains * double(kRounds) * double(threads) * double(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
}

void set_adam_counters(benchmark::State& state, std::int64_t parameters) {
  state.counters["params"] = static_cast<double>(parameters);
  state.SetItemsProcessed(state.iterations() * parameters);
}

void BM_AdamStep(benchmark::State& state) {
  AdamProblem problem = make_adam_problem(Device::cpu());
  for (auto _ : state) problem.optimizer->step();
  set_adam_counters(state, problem.parameters);
}

void BM_CudaAdamStep(benchmark::State& state) {
  if (!have_cuda_device(state)) return;
  AdamProblem problem = make_adam_problem(Device::cuda());
  run_synchronised(state, [&] { problem.optimizer->step(); });
  set_adam_counters(state, problem.parameters);
}

// The KdV layers (C_in, C_out) on 1 and 2 threads.
void kdv_layer_args(benchmark::internal::Benchmark* benchmark) {
  for (std::int64_t threads : {1, 2})
    for (auto [in, out] : {std::pair<std::int64_t, std::int64_t>{10, 64}, {64, 64}, {128, 128}, {256, 256}})
      benchmark->Args({in, out, threads});
  benchmark->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Matmul<float>)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Matmul<double>)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulNaive<float>)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulNaive<double>)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulShape<float>)
    ->Args({32 * 256, 10 * 9, 64, 1})->Args({32 * 256, 64 * 9, 64, 1})->Args({32 * 256, 128 * 9, 128, 1})
    ->Args({32 * 256, 256 * 9, 256, 1})->Args({32 * 256, 10 * 9, 64, 2})->Args({32 * 256, 64 * 9, 64, 2})
    ->Args({32 * 256, 128 * 9, 128, 2})->Args({32 * 256, 256 * 9, 256, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1dKdv<float, ConvPass::Forward>)->Apply(kdv_layer_args);
BENCHMARK(BM_Conv1dKdv<float, ConvPass::BackwardInput>)->Apply(kdv_layer_args);
BENCHMARK(BM_Conv1dKdv<float, ConvPass::BackwardWeight>)->Apply(kdv_layer_args);
BENCHMARK(BM_Conv1dKdvForwardBackward<float>)->Apply(kdv_layer_args);
BENCHMARK(BM_Conv1dKdvStack)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1dLogistic)->Args({1, 0})->Args({1, 1})->Args({2, 0})->Args({2, 1})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ElementwiseChain)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MlpForwardBackward)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AdamStep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FmaPeak<float>)->Name("BM_FmaPeak/f32")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_FmaPeak<double>)->Name("BM_FmaPeak/f64")->Unit(benchmark::kMicrosecond)->UseRealTime();

BENCHMARK(BM_CudaMatmul<float>)->Arg(256)->Arg(1024)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(BM_CudaMatmul<double>)->Arg(256)->Arg(1024)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(BM_CudaElementwiseChain)->Arg(1 << 20)->Arg(1 << 24)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(BM_CudaMlpForwardBackward)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(BM_CudaAdamStep)->Unit(benchmark::kMicrosecond)->UseManualTime();

// ---- issue 15: the rows tools/bench_vs_pytorch sets beside PyTorch ------------------------------
// Plain arithmetic, reductions, activations and whole training steps of two drivers (the other
// rows are cases above). Each case's name is in the table at the top of that script, whose PyTorch
// side runs the same computation (same sizes, dtype, and threads: OMP_NUM_THREADS for mech,
// torch.set_num_threads).

// y = a * b + c over n float32 elements: two kernels of plain arithmetic.
void BM_ElementwiseArithmetic(benchmark::State& state) {
  const auto n = state.range(0);
  mech::Generator generator(2);
  const Tensor a = mech::randn({n}, TensorOptions(), &generator);
  const Tensor b = mech::randn({n}, TensorOptions(), &generator);
  const Tensor c = mech::randn({n}, TensorOptions(), &generator);
  mech::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = a * b + c;
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// Reductions of a 1024 x 1024 float32 matrix: the sum of all, the mean of each row (over dim 1)
// and of each column (over dim 0).
enum class ReductionKind { Sum, MeanRows, MeanColumns };

template <ReductionKind kind>
void BM_Reduction(benchmark::State& state) {
  mech::Generator generator(8);
  const Tensor x = mech::randn({1024, 1024}, TensorOptions(), &generator);
  mech::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = kind == ReductionKind::Sum        ? mech::sum(x)
               : kind == ReductionKind::MeanRows ? mech::mean(x, {1})
                                                 : mech::mean(x, {0});
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * x.numel());
}

// The activations of the models over 2^20 float32 elements: forward only, or forward and the
// backward from a fixed upstream gradient (the input a leaf requiring grad).
enum class Activation { Tanh, Sigmoid, Relu, Elu, Gelu };

Tensor activation(Activation kind, const Tensor& x) {
  switch (kind) {
    case Activation::Tanh: return mech::tanh(x);
    case Activation::Sigmoid: return mech::sigmoid(x);
    case Activation::Relu: return mech::relu(x);
    case Activation::Elu: return mech::elu(x);
    case Activation::Gelu: return mech::gelu(x);  // exact (erf) form, PyTorch's default
  }
  return x;
}

void BM_ActivationForward(benchmark::State& state, Activation kind) {
  mech::Generator generator(9);
  const Tensor x = mech::randn({1 << 20}, TensorOptions(), &generator);
  mech::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = activation(kind, x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * x.numel());
}

void BM_ActivationForwardBackward(benchmark::State& state, Activation kind) {
  mech::Generator generator(9);
  Tensor x = mech::randn({1 << 20}, TensorOptions().requires_grad(true), &generator);
  const Tensor upstream = mech::randn({1 << 20}, TensorOptions(), &generator);
  for (auto _ : state) {
    Tensor y = activation(kind, x);
    y.backward(upstream);
    benchmark::DoNotOptimize(x.grad().raw_data());
    x.zero_grad();
  }
  state.SetItemsProcessed(state.iterations() * x.numel());
}

// One training step of mech-lorenz as its driver runs one epoch early in the schedule (default
// data: 5000 samples at dt 0.01, windows of 51, s = x, no ridge or offsets yet): forward_loss
// (library, NeuRLP solve of every window, misfits), backward, Adam step.
void BM_LorenzTrainingStep(benchmark::State& state) {
  mech::tools::keep_freed_memory();  // as the driver's RunScope does
  const mech::models::LorenzData data = mech::models::make_lorenz(mech::models::LorenzOptions{});
  mech::Generator generator(10);
  const mech::models::LorenzDiscoveryOptions options;
  mech::models::LorenzDiscovery model(data.noisy, 0.01, options, &generator);
  const auto samples = static_cast<std::int64_t>(data.times.size());
  const Tensor trajectory = mech::from_vector(data.noisy, {samples, 3});
  mech::nn::Adam optimizer(model.parameters(), mech::nn::AdamOptions(2e-2));
  for (auto _ : state) {
    optimizer.zero_grad();
    mech::models::LorenzLosses losses = model.forward_loss(trajectory, 0.0, false, false);
    losses.total.backward();
    optimizer.step();
    benchmark::DoNotOptimize(losses.solution);
  }
}

// One training step of mech-logistic (batch 32 of 100 samples, float64): the Conv1d encoder,
// NeuRLP, the reconstruction loss, backward, Adam step.
void BM_LogisticTrainingStep(benchmark::State& state) {
  mech::tools::keep_freed_memory();  // as the driver's RunScope does
  mech::models::LogisticOptions data_options;
  data_options.count = 32;
  data_options.noise = 0.01;
  const mech::models::LogisticData data = mech::models::make_logistic(data_options);
  const Tensor batch = mech::from_vector(data.noisy, {32, 100});
  mech::Generator generator(11);
  mech::models::LogisticModel model(mech::models::LogisticModelOptions{}, &generator);
  mech::nn::Adam optimizer(model.parameters(), mech::nn::AdamOptions(3e-3));
  for (auto _ : state) {
    optimizer.zero_grad();
    Tensor loss = model.loss(batch);
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.raw_data());
  }
}

BENCHMARK(BM_ElementwiseArithmetic)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Reduction<ReductionKind::Sum>)->Name("BM_Reduction/sum")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Reduction<ReductionKind::MeanRows>)
    ->Name("BM_Reduction/mean_rows")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_Reduction<ReductionKind::MeanColumns>)
    ->Name("BM_Reduction/mean_columns")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForward, tanh, Activation::Tanh)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForward, sigmoid, Activation::Sigmoid)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForward, relu, Activation::Relu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForward, elu, Activation::Elu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForward, gelu, Activation::Gelu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, tanh, Activation::Tanh)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, sigmoid, Activation::Sigmoid)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, relu, Activation::Relu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, elu, Activation::Elu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, gelu, Activation::Gelu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LorenzTrainingStep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LogisticTrainingStep)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
