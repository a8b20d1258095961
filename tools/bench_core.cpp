// bench_core: Google Benchmark timings of the tensor engine's hot paths: on the CPU the packed
// matmul (float32/float64, 256-1024) next to a naive triple loop, an elementwise chain, an MLP
// forward+backward built from ops (matmul + bias + tanh) and an Adam step; on the GPU (names with
// "Cuda", which tools/gpu-check runs) cuBLAS matmul (256-4096), the elementwise chain, the MLP at
// batch 256 and 4096 and the fused Adam step. Without a CUDA device (or in a build without CUDA)
// the GPU benchmarks report one "no CUDA device" line each and the program still exits 0.
//
//   build/bin/bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   build/bin/bench_core --benchmark_filter=Cuda
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/generator.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "nn/adam.h"
#include "models/datasets.h"
#include "models/logistic_model.h"
#include "models/lorenz_discovery.h"
#include "nn/mlp.h"

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

// C = A B through mech::matmul (no autograd), square n x n.
template <class T>
void BM_Matmul(benchmark::State& state) {
  const auto n = state.range(0);
  mech::Generator generator(1);
  const auto options = TensorOptions().dtype(dtype_for<T>());
  Tensor a = mech::randn({n, n}, options, &generator);
  Tensor b = mech::randn({n, n}, options, &generator);
  mech::NoGradGuard no_grad;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    Tensor c = mech::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_gflops(state, 2.0 * static_cast<double>(n) * n * n, process_cpu_seconds() - cpu_start);
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

BENCHMARK(BM_Matmul<float>)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Matmul<double>)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulNaive<float>)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulNaive<double>)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ElementwiseChain)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MlpForwardBackward)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AdamStep)->Unit(benchmark::kMillisecond)->UseRealTime();

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
enum class Activation { Tanh, Sigmoid, Relu, Elu };

Tensor activation(Activation kind, const Tensor& x) {
  switch (kind) {
    case Activation::Tanh: return mech::tanh(x);
    case Activation::Sigmoid: return mech::sigmoid(x);
    case Activation::Relu: return mech::relu(x);
    case Activation::Elu: return mech::elu(x);
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
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, tanh, Activation::Tanh)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, sigmoid, Activation::Sigmoid)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, relu, Activation::Relu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActivationForwardBackward, elu, Activation::Elu)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LorenzTrainingStep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LogisticTrainingStep)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
