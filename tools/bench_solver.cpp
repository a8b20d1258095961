// bench_solver: timings of the NeuRLP CPU solver (raw batch API, the code under the op), as a plain
// median-of-N driver. For each B, T, P, D and formulation it times
//   forward   forward_batch keeping the factors,
//   backward  backward_batch with those factors,
//   fwd+bwd   the two above in sequence (a training step with NeurlpOptions::keep_factors = true,
//             hermite4's default),
//   recomp    forward without keeping factors + the fused pass without writing u again (a training
//             step with keep_factors = false, the default of mnn and scalable),
//   fused     forward_backward_batch (one pass, factors never leave the cache: mech-solve --grad-u),
// and prints the median in ms, ns per step per system, and memory (factor storage kept between
// forward and backward, and the process's peak resident set so far).
//
//   bench_solver                  the default grid (B 1/32/256, T 50/200/1000/10000, P 2/3, D 1/3,
//                                 mnn, scalable and hermite4; B=256 T=10000 D=3 only with --full),
//                                 a few minutes on the 2-core machine
// hermite4 runs through the same driver as the others (its own rows); its acceptance is fwd+bwd within
// 1.5x of mnn at B=256 T=1000 P=2 (bench_solver --quick --threads 1 --cpu-time).
//   bench_solver --quick          the acceptance cases and MNN-KdV's block (mnn B=8192 T=10 P=4
//                                 D=1, four initial values, gamma*alpha 0: "ga=0" in its name),
//                                 then B=256 T=1000 mnn as one training step through the op
//                                 (tensors, loss, autograd)
//   bench_solver --filter mnn --threads 1 --min-time 0.5 --cpu-time
//
// bench_solver --device cuda times the GPU solver (solvers/neurlp_gpu.h) on device arrays (inputs
// uploaded once; every timed call synchronised, wall time, median of >= 5 runs) for issue 5's GPU
// acceptance cases, float64 mnn P=2 D=1: B=256 T=1000 (fwd+bwd target <= 0.3 ms), B=4096
// T=1000 (<= 2 ms) and B=256 T=10000 (memory linear in T: compare the B/st/sys column with
// T=1000's). Each case runs on both GPU paths (one thread per system; the chunked parallel-in-time
// solve at C ~ sqrt(T)) and the automatic choice, then a "cusparse" row: the forward alone as
// csric02 + two SpSV (solvers/neurlp_cusparse.h; the time includes its device copy of the values,
// since csric02 factors in place, and the zero-pivot check) on the batch assembled on the host
// (assembly and the once-per-shape analysis excluded from the time; the latter printed), with the max
// difference of its u from mech's GPU u. Peak MiB is the caching allocator's peak over the row
// beyond the uploaded inputs and outputs (cuSPARSE's own internal allocations are not seen).
// --quick picks the three acceptance cases (what tools/gpu-check runs); without a device it prints
// one line and exits 0.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/parallel.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp_csr.h"
#include "solvers/neurlp_cusparse.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_batch.h"

namespace {

using namespace mech::neurlp_core;

struct Case {
  std::int64_t B;
  int T, P, D;
  Formulation formulation;
  double gamma_alpha = Sizes().gamma_alpha;   // mnn's gamma*alpha (the op's default 0.5 * 0.1)
  std::string name() const {
    return fmt::format("{} B={} T={} P={} D={}{}",
                       formulation == Formulation::Mnn        ? "mnn"
                       : formulation == Formulation::Scalable ? "scalable"
                                                              : "hermite4",
                       B, T, P, D, gamma_alpha == Sizes().gamma_alpha ? "" : fmt::format(" ga={}", gamma_alpha));
  }
};

// The MNN-KdV model's Mechanistic Block: one order-4 ODE on 10 grid points per spatial point
// (batch 32 x 256 points = 8192 systems), u, u', u'', u''' given at the first point, plain least
// squares (gamma*alpha = 0).
const Case kKdvCase{8192, 10, 4, 1, Formulation::Mnn, 0.0};

// 64-byte aligned arrays, as mech's tensors are (the solver writes whole cache lines of aligned
// outputs with non-temporal stores; a plain std::vector would time a slower path the op never takes).
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(std::size_t count) { return static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* pointer, std::size_t) { ::operator delete(pointer, std::align_val_t(64)); }
  bool operator==(const Aligned64&) const { return true; }
};
using Array = std::vector<double, Aligned64<double>>;

struct Data {
  Sizes sizes;
  std::int64_t B;
  Array coeffs, rhs, iv, steps, u, eps, grad_u, grad_eps;
  Array g_coeffs, g_rhs, g_iv, g_steps;
  BatchInputs<double> inputs() const { return {coeffs.data(), rhs.data(), iv.data(), steps.data()}; }
  BatchGradients<double> gradients() {
    return {g_coeffs.data(), g_rhs.data(), g_iv.data(), g_steps.data()};
  }
};

// A damped oscillator per dimension (u'' + 0.2 u' + u = 0, and u''' + ... for P = 3), coupled
// weakly across dimensions, with h = 10 / T: a realistic, well-conditioned workload.
Data make_data(const Case& c) {
  Data data;
  Sizes& z = data.sizes;
  z.T = c.T;
  z.D = c.D;
  z.K = c.P + 1;
  z.E = c.D;
  z.S = 1;
  z.n_iv = c.P;
  z.formulation = c.formulation;
  z.gamma_alpha = c.gamma_alpha;
  data.B = c.B;
  const std::int64_t m = z.D * z.K;
  std::mt19937_64 engine(42);
  std::uniform_real_distribution<double> jitter(-0.05, 0.05);
  data.coeffs.assign(c.B * z.E * z.T * m, 0.0);
  for (std::int64_t b = 0; b < c.B; ++b)
    for (int e = 0; e < z.E; ++e)
      for (int t = 0; t < z.T; ++t) {
        double* row = data.coeffs.data() + ((b * z.E + e) * z.T + t) * m;
        for (int d = 0; d < z.D; ++d) row[d * z.K] = d == e ? 1.0 + jitter(engine) : 0.1;
        row[e * z.K + 1] = 0.2;
        row[e * z.K + c.P] = 1.0;
      }
  data.rhs.assign(c.B * z.E * z.T, 0.0);
  data.iv.assign(c.B * z.D * z.n_iv, 0.0);
  for (std::int64_t b = 0; b < c.B; ++b)
    for (int d = 0; d < z.D; ++d) data.iv[(b * z.D + d) * z.n_iv + 1] = 1.0;
  data.steps.assign(c.B * (z.T - 1) * z.D, 10.0 / z.T);
  data.u.assign(c.B * z.unknowns(), 0.0);
  data.eps.assign(c.B, 0.0);
  data.grad_u.assign(data.u.size(), 0.0);
  for (double& value : data.grad_u) value = jitter(engine);
  data.grad_eps.assign(c.B, 0.1);
  data.g_coeffs.assign(data.coeffs.size(), 0.0);
  data.g_rhs.assign(data.rhs.size(), 0.0);
  data.g_iv.assign(data.iv.size(), 0.0);
  data.g_steps.assign(data.steps.size(), 0.0);
  return data;
}

// The batch entry points: one driver for every formulation (solvers/neurlp_batch.h; hermite4 writes
// eps as zeros).
using Kept = std::shared_ptr<Factorization<double>>;

Kept forward_any(Data& d, bool keep) {
  return forward_batch<double>(d.sizes, d.B, d.inputs(), d.u.data(), d.eps.data(), keep);
}

void backward_any(const Kept& kept, Data& d) {
  backward_batch<double>(*kept, d.grad_u.data(), d.grad_eps.data(), d.gradients());
}

// write_u false: the solution is not written out again (the op's backward without kept factors
// has it from the forward).
void fused_any(Data& d, bool write_u = true) {
  forward_backward_batch<double>(d.sizes, d.B, d.inputs(), write_u ? d.u.data() : nullptr,
                                 write_u ? d.eps.data() : nullptr, d.grad_u.data(), d.grad_eps.data(), d.gradients());
}

// Wall-clock time, or with --cpu-time the process's CPU time (on a shared, loaded machine the CPU
// time of a single-threaded run is the stable measure; with several threads it sums them).
bool use_cpu_time = false;
// --best reports the fastest run instead of the median (less sensitive to other load when
// comparing two versions of the code).
bool report_best = false;

double now_seconds() {
  if (use_cpu_time) {
    timespec spec{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec);
    return spec.tv_sec + spec.tv_nsec * 1e-9;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
double median_ms(F&& body, double min_seconds, int min_runs) {
  std::vector<double> times;
  double total = 0.0;
  // Warm up (allocations, page faults of the output arrays). A case whose single run takes over
  // a second is timed twice only, to keep the default grid near a minute.
  const double warm_start = now_seconds();
  body();
  if (now_seconds() - warm_start > 1.0) min_runs = 1;
  while (total < min_seconds || static_cast<int>(times.size()) < min_runs) {
    const double start = now_seconds();
    body();
    const double seconds = now_seconds() - start;
    times.push_back(seconds * 1e3);
    total += seconds;
    if (times.size() >= 1000) break;
  }
  std::sort(times.begin(), times.end());
  return report_best ? times.front() : times[times.size() / 2];
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

// One training step through the differentiable op, as a user's loop runs it: tensors in,
// mech::neurlp (default options), the loss sum(u * g), backward to coeffs, rhs and steps. Adds
// to the batch API's time the tensor allocations, the loss and the autograd bookkeeping.
double op_step_ms(const Case& c, double min_seconds, int min_runs) {
  Data data = make_data(c);
  const Sizes& z = data.sizes;
  const std::int64_t B = c.B;
  auto tensor = [](const Array& values, const mech::Shape& shape) {
    return mech::from_vector(std::vector<double>(values.begin(), values.end()), shape);
  };
  mech::Tensor coeffs = tensor(data.coeffs, {B, z.E, z.T, z.D, z.K}).requires_grad_(true);
  mech::Tensor rhs = tensor(data.rhs, {B, z.E, z.T}).requires_grad_(true);
  mech::Tensor iv = tensor(data.iv, {B, z.S, z.D, z.n_iv});
  mech::Tensor steps = tensor(data.steps, {B, z.T - 1, z.D}).requires_grad_(true);
  mech::Tensor upstream = tensor(data.grad_u, {B, z.T, z.D, z.K});
  mech::NeurlpOptions options;
  options.formulation = c.formulation;
  options.gamma = c.gamma_alpha / options.alpha;
  return median_ms([&] {
    coeffs.zero_grad();
    rhs.zero_grad();
    steps.zero_grad();
    mech::NeurlpResult result = mech::neurlp(coeffs, rhs, iv, steps, options);
    (result.u * upstream).sum().backward();
  }, min_seconds, min_runs);
}

// ---- --device cuda ------------------------------------------------------------------------------

namespace gpu = mech::neurlp_gpu;

// A device copy of a host array.
gpu::DeviceBuffer upload(const Array& values) {
  gpu::DeviceBuffer buffer(values.size() * sizeof(double), 0);
  mech::cuda::copy_host_to_device(buffer.as<void>(), values.data(), buffer.bytes(), 0);
  return buffer;
}

std::vector<double> download(const gpu::DeviceBuffer& buffer, std::size_t count) {
  std::vector<double> values(count);
  mech::cuda::copy_device_to_host(values.data(), buffer.as<void>(), count * sizeof(double), 0);
  return values;
}

// The batch's inputs, outputs and upstream gradients on the device, uploaded once per case.
struct DeviceData {
  gpu::DeviceBuffer coeffs, rhs, iv, steps, u, eps, grad_u, grad_eps, g_coeffs, g_rhs, g_iv, g_steps;
  explicit DeviceData(const Data& d)
      : coeffs(upload(d.coeffs)), rhs(upload(d.rhs)), iv(upload(d.iv)), steps(upload(d.steps)), u(upload(d.u)),
        eps(upload(d.eps)), grad_u(upload(d.grad_u)), grad_eps(upload(d.grad_eps)), g_coeffs(upload(d.g_coeffs)),
        g_rhs(upload(d.g_rhs)), g_iv(upload(d.g_iv)), g_steps(upload(d.g_steps)) {}
  BatchInputs<double> inputs() const {
    return {coeffs.as<double>(), rhs.as<double>(), iv.as<double>(), steps.as<double>()};
  }
  BatchGradients<double> gradients() const {
    return {g_coeffs.as<double>(), g_rhs.as<double>(), g_iv.as<double>(), g_steps.as<double>()};
  }
};

// Median wall time of `body`, each call synchronised with the device.
template <class F>
double device_median_ms(F&& body, double min_seconds, int min_runs) {
  return median_ms([&] {
    body();
    mech::cuda::synchronize();
  }, min_seconds, min_runs);
}

double mib(double bytes) { return bytes / (1 << 20); }

// Issue 5's GPU targets for the fwd+bwd time of float64 mnn P=2 D=1 (0: none for this case).
double target_ms(const Case& c) {
  if (c.formulation != Formulation::Mnn || c.P != 2 || c.D != 1 || c.T != 1000) return 0;
  return c.B == 256 ? 0.3 : c.B == 4096 ? 2.0 : 0;
}

std::string path_name(int chunks) {
  return chunks == 0 ? std::string("one thread per system") : fmt::format("chunked C={}", chunks);
}

// One case on the device: the three solver rows and the cusparse row. `bytes_per_step` records
// each path's peak bytes per step per system by case (B, path) for the memory-linearity note.
void run_cuda_case(const Case& c, double min_seconds, int min_runs,
                   std::vector<std::pair<std::string, double>>& bytes_per_step) {
  const Data data = make_data(c);
  const Sizes& z = data.sizes;
  const std::int64_t n = z.unknowns();
  const double per_step = 1e6 / (double(c.B) * c.T);
  const int balanced = static_cast<int>(std::lround(std::sqrt(static_cast<double>(c.T))));
  const int chunked = gpu::choose_chunks(c.B, c.T, 1, balanced);   // clipped to what T allows
  DeviceData device(data);
  const std::size_t with_data = mech::cuda::allocated_bytes();
  std::vector<double> mech_u;
  struct Path {
    int request;
    std::string label;
  };
  std::vector<Path> paths{{0, path_name(0)}};
  if (chunked >= 2) paths.push_back({chunked, path_name(chunked)});
  paths.push_back({gpu::kAutomaticChunks, "auto"});
  for (const Path& path : paths) {
    std::string label = path.label;
    const std::string key =
        fmt::format("{} B={} P={} D={} {}", static_cast<int>(c.formulation), c.B, c.P, c.D,
                    path.request == 0 ? "thread" : path.request < 0 ? "auto" : "chunked");
    try {
      const gpu::ChunkOverride forced(path.request);
      std::shared_ptr<gpu::DeviceFactorization<double>> factors;
      auto forward = [&] {
        factors.reset();
        factors = gpu::forward_batch<double>(z, c.B, device.inputs(), device.u.as<double>(), device.eps.as<double>(),
                                             true, 0);
      };
      auto backward = [&] {
        gpu::backward_batch<double>(*factors, device.inputs(), device.u.as<double>(), device.eps.as<double>(),
                                    device.grad_u.as<double>(), device.grad_eps.as<double>(), device.gradients());
      };
      mech::cuda::synchronize();
      mech::cuda::reset_peak_allocated_bytes();
      const double forward_ms = device_median_ms(forward, min_seconds, min_runs);
      if (path.request == gpu::kAutomaticChunks) label = "auto: " + path_name(factors->chunks);
      const double backward_ms = device_median_ms(backward, min_seconds, min_runs);
      const double both_ms = device_median_ms([&] {
        forward();
        backward();
      }, min_seconds, min_runs);
      factors.reset();
      const double peak = static_cast<double>(mech::cuda::peak_allocated_bytes() - with_data);
      const double bytes_step = peak / (double(c.B) * c.T);
      std::string note;
      if (const double target = target_ms(c); target > 0)
        note = fmt::format("target fwd+bwd <= {} ms: {}", target, both_ms <= target ? "met" : "MISSED");
      for (const auto& [name, value] : bytes_per_step) {
        // Memory linear in T: the same bytes per step per system at another T, same B and path.
        if (name == key && value > 0 && c.T != 1000)
          note += fmt::format("{}memory {:.2f}x T=1000's per step", note.empty() ? "" : "; ", bytes_step / value);
      }
      if (c.T == 1000) bytes_per_step.emplace_back(key, bytes_step);
      std::printf("%-28s %-28s %9.3f %9.3f %10.3f %9.2f %9.1f %8.0f  %s\n", c.name().c_str(), label.c_str(), forward_ms,
                  backward_ms, both_ms, both_ms * per_step, mib(peak), bytes_step, note.c_str());
      // u of the last path that ran (the automatic choice's, unless it failed) for the cusparse row.
      mech_u = download(device.u, static_cast<std::size_t>(c.B * n));
    } catch (const std::exception& error) {
      std::printf("%-28s %-28s failed: %s\n", c.name().c_str(), label.c_str(), error.what());
    }
    std::fflush(stdout);
  }
  // cuSPARSE: the forward only, on the batch assembled here on the host.
  try {
    const EnvelopePlan plan(z);
    const gpu::CsrLayout layout = gpu::csr_layout(z, plan.size(), c.B);
    Array values(static_cast<std::size_t>(layout.nonzeros())), rhs(static_cast<std::size_t>(layout.rows()));
    gpu::csr_batch_values(z, plan.envelope(), c.B, data.inputs(), values.data(), rhs.data());
    mech::cuda::synchronize();
    mech::cuda::reset_peak_allocated_bytes();
    const gpu::DeviceBuffer device_values = upload(values), device_rhs = upload(rhs);
    gpu::DeviceBuffer solution(static_cast<std::size_t>(layout.rows()) * sizeof(double), 0);
    values = Array();
    const auto analysis_start = std::chrono::steady_clock::now();
    gpu::CusparseSolver<double> solver(z, c.B, 0);
    const double analysis_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - analysis_start).count();
    const double forward_ms = device_median_ms([&] {
      solver.solve(device_values.as<double>(), device_rhs.as<double>(), solution.as<double>());
    }, min_seconds, min_runs);
    const double peak = static_cast<double>(mech::cuda::peak_allocated_bytes() - with_data);
    const std::vector<double> y = download(solution, static_cast<std::size_t>(layout.rows()));
    std::vector<double> u(static_cast<std::size_t>(c.B * n));
    gpu::csr_split_solution(layout, y.data(), u.data(), static_cast<double*>(nullptr));
    std::string agreement = "no mech GPU u to compare";
    if (mech_u.size() == u.size()) {
      double difference = 0, scale = 0;
      for (std::size_t i = 0; i < u.size(); ++i) {
        difference = std::max(difference, std::abs(u[i] - mech_u[i]));
        scale = std::max(scale, std::abs(mech_u[i]));
      }
      agreement = fmt::format("max |u - mech's GPU u| {:.2g} (relative {:.2g})", difference,
                              scale > 0 ? difference / scale : difference);
    }
    std::printf("%-28s %-28s %9.3f %9s %10s %9.2f %9.1f %8.0f  %s; csric02 + 2 SpSV; excluded: host assembly, "
                "pattern upload and analyses (once per shape: %.0f ms); %lld stored entries\n",
                c.name().c_str(), "cusparse (forward only)", forward_ms, "-", "-", forward_ms * per_step, mib(peak),
                peak / (double(c.B) * c.T), agreement.c_str(), analysis_ms, static_cast<long long>(layout.nonzeros()));
  } catch (const std::exception& error) {
    std::printf("%-28s %-28s failed: %s\n", c.name().c_str(), "cusparse (forward only)", error.what());
  }
  std::fflush(stdout);
}

int run_cuda(bool quick, const std::string& filter, double min_seconds, int min_runs) {
  if (!mech::cuda::is_available()) {
    std::printf("bench_solver --device cuda: no GPU to time (%s); nothing run\n", mech::cuda::availability().c_str());
    return 0;
  }
  std::vector<Case> cases = {{256, 1000, 2, 1, Formulation::Mnn},
                             {4096, 1000, 2, 1, Formulation::Mnn},
                             {256, 10000, 2, 1, Formulation::Mnn}};
  if (!quick) {
    for (std::int64_t B : {1, 32}) cases.push_back({B, 1000, 2, 1, Formulation::Mnn});
    cases.push_back({32, 200, 2, 1, Formulation::Mnn});
    cases.push_back({256, 1000, 2, 1, Formulation::Scalable});
    cases.push_back({256, 1000, 3, 3, Formulation::Mnn});
    cases.push_back(kKdvCase);
  }
  min_runs = std::max(min_runs, 5);
  std::printf("%s, float64, median of >= %d synchronised runs and >= %.2f s per row, wall time\n",
              mech::cuda::availability().c_str(), min_runs, min_seconds);
  std::printf("%-28s %-28s %9s %9s %10s %9s %9s %8s  %s\n", "case", "path", "fwd ms", "bwd ms", "fwd+bwd ms",
              "ns/st/sys", "peak MiB", "B/st/sys", "note");
  std::vector<std::pair<std::string, double>> bytes_per_step;
  for (const Case& c : cases) {
    if (!filter.empty() && c.name().find(filter) == std::string::npos) continue;
    try {
      run_cuda_case(c, min_seconds, min_runs, bytes_per_step);
    } catch (const std::exception& error) {   // e.g. the device arrays do not fit
      std::printf("%-28s failed: %s\n", c.name().c_str(), error.what());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, fused_only = false, full = false;
  std::string filter, device = "cpu";
  double min_seconds = 0.15;
  int min_runs = 3;
  std::int64_t memory_limit = std::int64_t(3) << 30;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_solver: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--quick") quick = true;
    else if (arg == "--filter") filter = value();
    else if (arg == "--threads") mech::set_num_threads(std::stoi(value()));
    else if (arg == "--min-time") min_seconds = std::stod(value());
    else if (arg == "--min-runs") min_runs = std::stoi(value());
    else if (arg == "--cpu-time") use_cpu_time = true;
    else if (arg == "--fused-only") fused_only = true;
    else if (arg == "--best") report_best = true;
    else if (arg == "--full") full = true;
    else if (arg == "--device") {
      device = value();
      if (device != "cpu" && device != "cuda") {
        std::fprintf(stderr, "bench_solver: --device must be cpu or cuda, got %s\n", device.c_str());
        return 2;
      }
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: bench_solver [--quick] [--filter TEXT] [--threads N] [--min-time SECONDS] [--min-runs N] [--cpu-time] [--fused-only] [--best] [--full] [--device cpu|cuda]\n");
      return 0;
    } else {
      std::fprintf(stderr, "bench_solver: unknown option %s (try --help)\n", arg.c_str());
      return 2;
    }
  }
  if (device == "cuda") {
    // GPU timings are synchronised wall time: --cpu-time would time the host thread waiting.
    use_cpu_time = false;
    return run_cuda(quick, filter, min_seconds, min_runs);
  }
  std::vector<Case> cases;
  if (quick) {
    cases = {{32, 200, 2, 1, Formulation::Mnn}, {256, 1000, 2, 1, Formulation::Mnn},
             {256, 10000, 2, 1, Formulation::Mnn}, {256, 1000, 2, 1, Formulation::Scalable},
             {256, 1000, 2, 1, Formulation::Hermite4}, kKdvCase};
  } else {
    for (Formulation f : {Formulation::Mnn, Formulation::Scalable, Formulation::Hermite4})
      for (int D : {1, 3})
        for (int P : {2, 3})
          for (std::int64_t B : {1, 32, 256})
            for (int T : {50, 200, 1000, 10000}) cases.push_back({B, T, P, D, f});
    cases.push_back(kKdvCase);
  }
  std::printf("threads %d, float64, median of >= %d runs and >= %.2f s per row, %s\n",
              mech::get_num_threads(), min_runs, min_seconds, use_cpu_time ? "CPU time" : "wall time");
  std::printf("%-30s %10s %10s %10s %10s %10s %9s %9s %11s %9s\n", "case", "fwd ms", "bwd ms", "fwd+bwd ms",
              "recomp ms", "fused ms", "ns/st/sys", "fused ns", "factors MiB", "peak MiB");
  for (const Case& c : cases) {
    if (!filter.empty() && c.name().find(filter) == std::string::npos) continue;
    if (!full && c.D == 3 && c.B * c.T >= 256 * 10000) {
      // About 15 s per run and 5 GB of factors on this machine: only with --full.
      std::printf("%-30s skipped (--full runs it)\n", c.name().c_str());
      continue;
    }
    Sizes probe;
    probe.T = c.T;
    probe.D = c.D;
    probe.K = c.P + 1;
    probe.E = c.D;
    probe.formulation = c.formulation;
    // What a kept Factorization holds per system (see Factorization<T>::bytes()): L, 1/diag L, for
    // mnn q and the Schur complement, the packed inputs, and the solution and eps (hermite4's over
    // T*D*(K+1) unknowns).
    const double inputs_size = double(probe.E) * probe.T * (probe.D * probe.K + 1) + (probe.T - 1.0) * probe.D +
                               double(probe.D) * c.P;   // iv: S = 1, n_iv = P
    const double per_system = double(EnvelopePlan(probe).size()) + 2.0 * probe.unknowns() + 1 +
                              (probe.has_eps() ? probe.unknowns() + 1.0 : 0.0) + inputs_size;
    const double factor_bytes = per_system * 8 * ((c.B + 7) / 8 * 8);
    try {
      Data data = make_data(c);
      double forward = -1, backward = -1, both = -1;
      if (factor_bytes < memory_limit && !fused_only) {
        Kept kept;
        forward = median_ms([&] {
          kept.reset();
          kept = forward_any(data, true);
        }, min_seconds, min_runs);
        backward = median_ms([&] { backward_any(kept, data); }, min_seconds, min_runs);
        kept.reset();
        both = median_ms([&] {
          Kept factors = forward_any(data, true);
          backward_any(factors, data);
        }, min_seconds, min_runs);
      }
      const double fused = median_ms([&] { fused_any(data); }, min_seconds, min_runs);
      // The op with keep_factors = false: forward without keeping, backward = the fused pass.
      const double recompute = fused_only ? -1 : median_ms([&] {
        forward_any(data, false);
        fused_any(data, false);
      }, min_seconds, min_runs);
      const double per_step = 1e6 / (double(c.B) * c.T);
      auto text = [](double ms) { return ms < 0 ? std::string("skipped") : fmt::format("{:.3f}", ms); };
      std::printf("%-30s %10s %10s %10s %10s %10.3f %9s %9.1f %11.1f %9.0f\n", c.name().c_str(),
                  text(forward).c_str(), text(backward).c_str(), text(both).c_str(), text(recompute).c_str(), fused,
                  both < 0 ? "-" : fmt::format("{:.1f}", both * per_step).c_str(), fused * per_step,
                  factor_bytes / (1 << 20), peak_rss_mib());
    } catch (const std::exception& error) {
      std::printf("%-30s failed: %s\n", c.name().c_str(), error.what());
    }
    std::fflush(stdout);
  }
  // The acceptance case once more through the op (--quick, unless filtered out).
  const Case step{256, 1000, 2, 1, Formulation::Mnn};
  if (quick && (filter.empty() || step.name().find(filter) != std::string::npos))
    std::printf("op training step (mech::neurlp, loss sum(u*g), backward) %s: %.3f ms\n", step.name().c_str(),
                op_step_ms(step, min_seconds, min_runs));
  return 0;
}
