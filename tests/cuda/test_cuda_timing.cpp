// GPU timings that tools/gpu-check runs explicitly (--gtest_also_run_disabled_tests): they are
// DISABLED_ so the ordinary suite stays fast. Each prints one "gpu-timing:" line (median of
// several synchronised runs, wall clock) and checks what the numbers rest on: finite results, and
// for the solver, device memory that grows linearly in T (issue 5, acceptance 3). The solver is
// timed on both GPU paths (one thread per system; the chunked parallel-in-time solve) and with the
// automatic choice, so one run shows whether solvers/neurlp_gpu.h's choose_chunks picks the faster
// one.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <random>
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "solvers/neurlp_gpu.h"

namespace mech::cuda {
namespace {

// Median wall time in ms of `runs` calls of `work`, each synchronised, after one warm-up call.
double median_ms(const std::function<void()>& work, int runs) {
  work();
  synchronize();
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    work();
    synchronize();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct SolverTiming {
  double forward_ms, backward_ms, both_ms;
  double peak_mib;
};

// Forward (keeping factors) and backward of B random mnn/P=2/D=1 systems of T points, float64, on
// the path `chunks` selects (0: one thread per system, N: N chunks, kAutomaticChunks: by shape).
SolverTiming time_solver(std::int64_t batch, int T, int chunks) {
  const neurlp_gpu::ChunkOverride path(chunks);
  neurlp_core::Sizes z;
  z.T = T;
  z.D = 1;
  z.K = 3;
  z.E = 1;
  z.S = 1;
  z.n_iv = 2;
  const auto options = TensorOptions().dtype(DType::Float64).device(Device::cuda());
  Generator generator(3);
  // Coefficients [1, 0.1, 1] + noise (a damped oscillator each), steps 10/T.
  Tensor coeffs = (randn({batch, 1, T, 1, 3}, TensorOptions().dtype(DType::Float64), &generator) * 0.05 +
                   from_vector<double>({1.0, 0.1, 1.0}, {3}))
                      .contiguous()
                      .to(Device::cuda());
  Tensor rhs = zeros({batch, 1, T}, options);
  Tensor iv = ones({batch, 1, 1, 2}, options);
  Tensor steps = full({batch, T - 1, 1}, 10.0 / T, options);
  Tensor u = empty({batch, T, 1, 3}, options), eps = empty({batch}, options);
  Tensor grad_u = ones({batch, T, 1, 3}, options), grad_eps = ones({batch}, options);
  Tensor d_coeffs = empty_like(coeffs), d_rhs = empty_like(rhs), d_iv = empty_like(iv), d_steps = empty_like(steps);
  const neurlp_gpu::BatchInputs<double> inputs{coeffs.data_ptr<double>(), rhs.data_ptr<double>(),
                                               iv.data_ptr<double>(), steps.data_ptr<double>()};
  const neurlp_gpu::BatchGradients<double> gradients{d_coeffs.data_ptr<double>(), d_rhs.data_ptr<double>(),
                                                     d_iv.data_ptr<double>(), d_steps.data_ptr<double>()};
  std::shared_ptr<neurlp_gpu::DeviceFactorization<double>> factors;
  synchronize();
  reset_peak_allocated_bytes();
  const std::size_t base = allocated_bytes();
  auto forward = [&] {
    factors.reset();
    factors =
        neurlp_gpu::forward_batch<double>(z, batch, inputs, u.data_ptr<double>(), eps.data_ptr<double>(), true, 0);
  };
  auto backward = [&] {
    neurlp_gpu::backward_batch<double>(*factors, inputs, u.data_ptr<double>(), eps.data_ptr<double>(),
                                   grad_u.data_ptr<double>(), grad_eps.data_ptr<double>(), gradients);
  };
  SolverTiming timing{};
  timing.forward_ms = median_ms(forward, 5);
  timing.backward_ms = median_ms(backward, 5);
  timing.both_ms = median_ms([&] { forward(); backward(); }, 5);
  timing.peak_mib = static_cast<double>(peak_allocated_bytes() - base) / (1 << 20);
  for (const Tensor& t : {u, eps, d_coeffs, d_steps}) {
    const double total = mech::abs(t).sum().item();
    EXPECT_TRUE(std::isfinite(total)) << "non-finite solver output";
  }
  return timing;
}

std::string path_name(int chunks) {
  if (chunks == neurlp_gpu::kAutomaticChunks) {
    return "auto";
  }
  return chunks == 0 ? "one thread per system" : "chunked C=" + std::to_string(chunks);
}

TEST(CudaTiming, DISABLED_NeurlpForwardBackward) {
  if (!is_available()) GTEST_SKIP() << "no CUDA device: timings need a GPU";
  std::printf("gpu-timing: device %s\n", device_name(0).c_str());
  for (const auto& [batch, T] : {std::pair<std::int64_t, int>{256, 1000}, {4096, 1000}, {32, 200}}) {
    const int sqrt_T = static_cast<int>(std::lround(std::sqrt(static_cast<double>(T))));
    for (int chunks : {0, sqrt_T / 2, sqrt_T, 2 * sqrt_T, neurlp_gpu::kAutomaticChunks}) {
      const SolverTiming t = time_solver(batch, T, chunks);
      std::printf("gpu-timing: neurlp mnn P=2 D=1 float64 B=%lld T=%d %s: forward %.3f ms, backward %.3f ms, "
                  "fwd+bwd %.3f ms, peak %.1f MiB\n",
                  static_cast<long long>(batch), T, path_name(chunks).c_str(), t.forward_ms, t.backward_ms,
                  t.both_ms, t.peak_mib);
    }
  }
  // Memory linear in T on both paths: doubling T doubles the factors (within the allocator's size
  // classes; the chunked path at a fixed chunk count, whose spikes and envelope grow with T).
  for (int chunks : {0, 16}) {
    const double peak_1000 = time_solver(256, 1000, chunks).peak_mib, peak_2000 = time_solver(256, 2000, chunks).peak_mib;
    std::printf("gpu-timing: neurlp B=256 %s peak memory T=1000 %.1f MiB, T=2000 %.1f MiB\n",
                path_name(chunks).c_str(), peak_1000, peak_2000);
    EXPECT_GT(peak_2000 / peak_1000, 1.6) << chunks;
    EXPECT_LT(peak_2000 / peak_1000, 2.5) << chunks;
  }
}

TEST(CudaTiming, DISABLED_Kernels) {
  if (!is_available()) GTEST_SKIP() << "no CUDA device: timings need a GPU";
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const auto options = TensorOptions().dtype(dtype).device(Device::cuda());
    const Tensor a = ones({1 << 24}, options), b = ones({1 << 24}, options);
    const double add_ms = median_ms([&] { (void)(a + b); }, 10);
    const double bytes = 3.0 * (1 << 24) * dtype_size(dtype);
    const Tensor x = ones({4096, 4096}, options), y = ones({4096, 4096}, options);
    const double gemm_ms = median_ms([&] { (void)matmul(x, y); }, 5);
    const double sum_ms = median_ms([&] { (void)a.sum(); }, 10);
    std::printf("gpu-timing: %s add 16M: %.3f ms (%.0f GB/s); sum 16M: %.3f ms; matmul 4096^3: %.2f ms (%.1f TFLOP/s)\n",
                dtype_name(dtype), add_ms, bytes / add_ms / 1e6, sum_ms, gemm_ms, 2.0 * 4096.0 * 4096 * 4096 / gemm_ms / 1e9);
    // Every entry of a row of ones times ones is 4096, exact in both dtypes.
    EXPECT_EQ(matmul(x.narrow(0, 0, 2), y).sum().item(), 2.0 * 4096 * 4096);
  }
}

}  // namespace
}  // namespace mech::cuda
