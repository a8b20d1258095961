// bench_core: Google Benchmark timings of the tensor engine's hot paths on the CPU: the packed
// matmul (float32/float64, 256-1024) next to a naive triple loop, an elementwise chain, and an
// MLP forward+backward built from ops (matmul + bias + tanh).
//
//   build/bin/bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <ctime>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/generator.h"
#include "core/tensor.h"

namespace {

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

// y = tanh(x * 2 + 1) * x - exp(-x): five elementwise kernels over n float32 elements.
void BM_ElementwiseChain(benchmark::State& state) {
  const auto n = state.range(0);
  mech::Generator generator(2);
  Tensor x = mech::randn({n}, TensorOptions(), &generator);
  mech::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = mech::tanh(x * 2.0 + 1.0) * x - mech::exp(-x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * static_cast<std::int64_t>(sizeof(float)) * 2);
}

// Three-layer tanh MLP (batch 256, widths 64-256-256-1), forward, MSE loss and backward.
void BM_MlpForwardBackward(benchmark::State& state) {
  const std::int64_t batch = 256, width = state.range(0);
  mech::Generator generator(3);
  const auto options = TensorOptions();
  Tensor x = mech::randn({batch, 64}, options, &generator);
  Tensor target = mech::randn({batch, 1}, options, &generator);
  const std::vector<std::int64_t> sizes{64, width, width, 1};
  std::vector<Tensor> weights, biases;
  for (std::size_t layer = 0; layer + 1 < sizes.size(); ++layer) {
    weights.push_back(mech::mul(mech::randn({sizes[layer], sizes[layer + 1]}, options, &generator),
                                1.0 / std::sqrt(static_cast<double>(sizes[layer])))
                          .detach()
                          .requires_grad_(true));
    biases.push_back(mech::zeros({sizes[layer + 1]}, options.requires_grad(true)));
  }
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    Tensor h = x;
    for (std::size_t layer = 0; layer < weights.size(); ++layer) {
      h = mech::matmul(h, weights[layer]) + biases[layer];
      if (layer + 1 < weights.size()) h = mech::tanh(h);
    }
    Tensor loss = mech::mse_loss(h, target);
    loss.backward();
    for (auto& w : weights) w.zero_grad();
    for (auto& b : biases) b.zero_grad();
    benchmark::DoNotOptimize(loss.raw_data());
  }
  double flops = 0;
  for (std::size_t layer = 0; layer + 1 < sizes.size(); ++layer) {
    flops += 2.0 * batch * static_cast<double>(sizes[layer]) * sizes[layer + 1];
  }
  // forward + two backward products per layer
  set_gflops(state, 3.0 * flops, process_cpu_seconds() - cpu_start);
}

BENCHMARK(BM_Matmul<float>)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Matmul<double>)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulNaive<float>)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulNaive<double>)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ElementwiseChain)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MlpForwardBackward)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
