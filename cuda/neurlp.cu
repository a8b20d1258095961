// NeuRLP on the GPU, one thread per system (cuda/neurlp.h): input validation, then
// solvers/neurlp_system.h's forward_system / backward_system, each one launch for the batch.
//
// Legend: B systems; per system n = T*D*K unknowns, an envelope of `size` stored entries of L;
// thread b owns system b and the b-th slice of every array (batch-major, as on the CPU).
//
// Why one thread per system: the envelope Cholesky is a sequential sweep over T, so each system is
// a long dependent chain; batch parallelism is what the GPU gets. At small B most of the GPU idles
// (a parallel-in-time variant is the next step, see the header of cuda/neurlp.h's caller notes in
// the report). Arrays stay batch-major because the shared per-system code walks unit-stride
// pointers; interleaving systems (element i of system b at i*B + b) would coalesce the loads and
// needs a stride parameter in solvers/neurlp_system.h.
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <vector>

#include "cuda/layout.h"  // MECH_HOST_DEVICE, identical to solvers/lane_pack.h's
#include "cuda/neurlp.h"
#include "cuda/runtime.h"
#include "solvers/neurlp_system.h"

namespace mech::cuda::neurlp {

namespace {

using neurlp_core::Envelope;
using neurlp_core::FactorStatus;
using neurlp_core::Factors;
using neurlp_core::Row;
using neurlp_core::Status;
using neurlp_core::SystemGradients;
using neurlp_core::SystemInputs;

// Outcome of one system: a neurlp_core::Status, or one of the input checks below.
enum Outcome : int {
  kOk = 0,
  kPivotNotPositive = static_cast<int>(Status::PivotNotPositive),
  kPivotTiny = static_cast<int>(Status::PivotTiny),
  kBorderNotPositive = static_cast<int>(Status::BorderNotPositive),
  kBadCoefficient = 10,
  kBadRhs = 11,
  kBadInitialValue = 12,
  kBadStep = 13,
};

struct SystemStatus {
  int outcome;
  int index;      // the failing unknown, or the flat index of the bad input within the system
  double pivot;
  double diagonal;
};

// Per-system extents of the batch-major arrays.
struct Strides {
  std::int64_t coeffs, rhs, iv, steps, unknowns;
};

Strides strides_of(const Sizes& z) {
  const std::int64_t m = z.block();
  return {static_cast<std::int64_t>(z.E) * z.T * m, static_cast<std::int64_t>(z.E) * z.T,
          static_cast<std::int64_t>(z.S) * z.D * z.n_iv, static_cast<std::int64_t>(z.T - 1) * z.D,
          static_cast<std::int64_t>(z.T) * m};
}

template <class T>
__device__ SystemInputs<T> system_inputs(const BatchInputs<T>& in, const Strides& s, std::int64_t b) {
  return {in.coeffs + b * s.coeffs, in.rhs + b * s.rhs, in.iv != nullptr ? in.iv + b * s.iv : nullptr,
          in.steps + b * s.steps};
}

// First non-finite entry of x (n), or -1.
template <class T>
__device__ std::int64_t first_non_finite(const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return i;
  return -1;
}

// B threads; thread b validates system b, then assembles, factors and solves it.
template <class T>
__global__ void forward_kernel(Sizes z, std::int64_t batch, Strides s, Envelope envelope, BatchInputs<T> in,
                               T* u, T* eps, T* env, T* inverse_diagonal, T* z2, T* schur, SystemStatus* status) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  const SystemInputs<T> system = system_inputs(in, s, b);
  SystemStatus result{kOk, -1, 0.0, 0.0};
  std::int64_t bad = -1;
  if ((bad = first_non_finite(system.coeffs, s.coeffs)) >= 0) {
    result = {kBadCoefficient, static_cast<int>(bad), 0.0, 0.0};
  } else if ((bad = first_non_finite(system.rhs, s.rhs)) >= 0) {
    result = {kBadRhs, static_cast<int>(bad), 0.0, 0.0};
  } else if (system.iv != nullptr && (bad = first_non_finite(system.iv, s.iv)) >= 0) {
    result = {kBadInitialValue, static_cast<int>(bad), 0.0, 0.0};
  } else {
    for (std::int64_t i = 0; i < s.steps; ++i) {
      const T h = system.steps[i];
      if (!(isfinite(h) && h > T(0))) {
        result = {kBadStep, static_cast<int>(i), static_cast<double>(h), 0.0};
        break;
      }
    }
  }
  if (result.outcome == kOk) {
    Row<T> row;
    const Factors<T> factors{env + b * envelope.size, inverse_diagonal + b * s.unknowns,
                             z.has_eps() ? z2 + b * s.unknowns : nullptr, z.has_eps() ? schur + b : nullptr};
    const FactorStatus factored =
        neurlp_core::forward_system(z, envelope, system, row, factors, u + b * s.unknowns, eps + b);
    result = {static_cast<int>(factored.status), factored.index, factored.pivot, factored.diagonal};
  }
  status[b] = result;
}

// B threads; thread b computes the input gradients of system b with its kept factors.
template <class T>
__global__ void backward_kernel(Sizes z, std::int64_t batch, Strides s, Envelope envelope, BatchInputs<T> in,
                                const T* u, const T* eps, const T* grad_u, const T* grad_eps, T* env,
                                T* inverse_diagonal, T* z2, T* schur, T* scratch, BatchGradients<T> out) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  Row<T> row;
  const Factors<T> factors{env + b * envelope.size, inverse_diagonal + b * s.unknowns,
                           z.has_eps() ? z2 + b * s.unknowns : nullptr, z.has_eps() ? schur + b : nullptr};
  const SystemGradients<T> gradients{out.coeffs != nullptr ? out.coeffs + b * s.coeffs : nullptr,
                                     out.rhs != nullptr ? out.rhs + b * s.rhs : nullptr,
                                     out.iv != nullptr ? out.iv + b * s.iv : nullptr,
                                     out.steps != nullptr ? out.steps + b * s.steps : nullptr};
  neurlp_core::backward_system(z, envelope, system_inputs(in, s, b), row, factors, u + b * s.unknowns, eps[b],
                               grad_u + b * s.unknowns, grad_eps != nullptr ? grad_eps[b] : T(0),
                               scratch + b * s.unknowns, gradients);
}

// Systems per block: few, so that a batch of a few hundred spreads over many SMs (each thread is a
// long sequential chain; occupancy per SM matters less than using every SM).
constexpr int kSystemsPerBlock = 32;

void check_sizes(const Sizes& z, std::int64_t batch) {
  MECH_CHECK(batch >= 0, "neurlp (cuda): negative batch {}", batch);
  MECH_CHECK(z.T >= 2 && z.D >= 1 && z.E >= 1 && z.K >= 2 && z.K <= neurlp_core::kMaxOrder + 1,
             "neurlp (cuda): expected T >= 2, D >= 1, E >= 1 and 1 <= order <= {}, got T={} D={} E={} order={}",
             neurlp_core::kMaxOrder, z.T, z.D, z.E, z.K - 1);
  MECH_CHECK(z.block() <= neurlp_core::kMaxRowEntries, "neurlp (cuda): D*(order+1) = {} exceeds {}", z.block(),
             neurlp_core::kMaxRowEntries);
  MECH_CHECK(z.S >= 0 && z.S <= z.T && z.n_iv >= 0 && z.n_iv < z.K,
             "neurlp (cuda): expected 0 <= S <= T and 0 <= n_iv < order+1, got S={} n_iv={} (T={}, order={})", z.S,
             z.n_iv, z.T, z.K - 1);
  MECH_CHECK(z.formulation == neurlp_core::Formulation::Mnn || z.formulation == neurlp_core::Formulation::Scalable,
             "neurlp (cuda): formulation {} is not implemented", static_cast<int>(z.formulation));
}

// The envelope structure on the host (structural: any finite inputs give it), copied to the device.
template <class T>
void plan_envelope(DeviceFactorization<T>& f) {
  const Sizes& z = f.sizes;
  const Strides s = strides_of(z);
  const std::vector<double> coeffs(static_cast<std::size_t>(s.coeffs), 1.0), rhs(static_cast<std::size_t>(s.rhs), 1.0);
  const std::vector<double> iv(static_cast<std::size_t>(s.iv) + 1, 1.0), steps(static_cast<std::size_t>(s.steps), 1.0);
  const SystemInputs<double> ones{coeffs.data(), rhs.data(), iv.data(), steps.data()};
  auto row = std::make_unique<Row<double>>();
  const int n = z.unknowns();
  std::vector<int> first(static_cast<std::size_t>(n));
  std::vector<std::int64_t> offset(static_cast<std::size_t>(n));
  neurlp_core::envelope_first_columns(z, ones, *row, first.data());
  f.envelope_size = neurlp_core::envelope_offsets(n, first.data(), offset.data());
  f.first = DeviceBuffer(first.size() * sizeof(int), f.device);
  f.offset = DeviceBuffer(offset.size() * sizeof(std::int64_t), f.device);
  copy_host_to_device(f.first.template as<void>(), first.data(), first.size() * sizeof(int), f.device);
  copy_host_to_device(f.offset.template as<void>(), offset.data(), offset.size() * sizeof(std::int64_t), f.device);
}

std::string describe_failure(const Sizes& z, std::int64_t b, const SystemStatus& status) {
  const int m = z.block();
  auto unknown = [&](int i) {
    return fmt::format("u[t={}][d={}][k={}]", i / m, (i % m) / z.K, i % z.K);
  };
  switch (status.outcome) {
    case kBadCoefficient: return fmt::format("coefficient {} of batch element {} is not finite", status.index, b);
    case kBadRhs: return fmt::format("rhs entry {} of batch element {} is not finite", status.index, b);
    case kBadInitialValue: return fmt::format("initial value {} of batch element {} is not finite", status.index, b);
    case kBadStep:
      return fmt::format("step {} of batch element {} is {} (steps must be finite and > 0)", status.index, b,
                         status.pivot);
    case kPivotNotPositive:
    case kPivotTiny:
      return fmt::format("batch element {}: the system is singular: pivot of {} is {:.3g} (diagonal {:.3g}) when "
                         "factoring M_uu",
                         b, unknown(status.index), status.pivot, status.diagonal);
    case kBorderNotPositive:
      return fmt::format("batch element {}: the eps border is singular (Schur complement {:.3g}, a = {:.3g})", b,
                         status.pivot, status.diagonal);
    default: return fmt::format("batch element {}: unknown failure {}", b, status.outcome);
  }
}

}  // namespace

template <class T>
std::shared_ptr<DeviceFactorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch,
                                                      const BatchInputs<T>& inputs, T* u, T* eps,
                                                      bool keep_factors, int device) {
  check_sizes(sizes, batch);
  MECH_CHECK(batch == 0 || (inputs.coeffs != nullptr && inputs.rhs != nullptr && inputs.steps != nullptr &&
                            u != nullptr && eps != nullptr),
             "neurlp (cuda): coeffs, rhs, steps, u and eps must be device pointers, got a null one");
  MECH_CHECK(inputs.iv != nullptr || sizes.S * sizes.n_iv == 0, "neurlp (cuda): {} initial values but iv is null",
             sizes.S * sizes.n_iv);
  auto factors = std::make_shared<DeviceFactorization<T>>();
  factors->sizes = sizes;
  factors->batch = batch;
  factors->device = device;
  if (batch == 0) return keep_factors ? factors : nullptr;
  DeviceGuard guard(device);
  plan_envelope(*factors);
  const Strides s = strides_of(sizes);
  const std::size_t count = static_cast<std::size_t>(batch);
  factors->env = DeviceBuffer(count * static_cast<std::size_t>(factors->envelope_size) * sizeof(T), device);
  factors->inverse_diagonal = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
  if (sizes.has_eps()) {
    factors->z2 = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
    factors->schur = DeviceBuffer(count * sizeof(T), device);
  }
  DeviceBuffer status(count * sizeof(SystemStatus), device);
  const Envelope envelope{factors->first.template as<int>(), factors->offset.template as<std::int64_t>(),
                          factors->envelope_size};
  const unsigned blocks = static_cast<unsigned>((batch + kSystemsPerBlock - 1) / kSystemsPerBlock);
  forward_kernel<T><<<blocks, kSystemsPerBlock, 0, stream(device)>>>(
      sizes, batch, s, envelope, inputs, u, eps, factors->env.template as<T>(), factors->inverse_diagonal.template as<T>(),
      factors->z2.template as<T>(), factors->schur.template as<T>(), status.as<SystemStatus>());
  MECH_CUDA_CHECK_LAUNCH("neurlp forward_kernel");
  std::vector<SystemStatus> outcomes(count);
  copy_device_to_host(outcomes.data(), status.as<void>(), count * sizeof(SystemStatus), device);
  for (std::size_t b = 0; b < count; ++b) {
    if (outcomes[b].outcome != kOk) {
      throw SolverError("neurlp (cuda): " + describe_failure(sizes, static_cast<std::int64_t>(b), outcomes[b]),
                        static_cast<long>(b));
    }
  }
  return keep_factors ? factors : nullptr;
}

template <class T>
void backward_batch(const DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, const T* u,
                    const T* eps, const T* grad_u, const T* grad_eps, const BatchGradients<T>& gradients) {
  const std::int64_t batch = factors.batch;
  if (batch == 0) return;
  MECH_CHECK(u != nullptr && eps != nullptr && grad_u != nullptr,
             "neurlp (cuda) backward: u, eps and grad_u must be device pointers, got a null one");
  const Sizes& sizes = factors.sizes;
  const Strides s = strides_of(sizes);
  const int device = factors.device;
  DeviceGuard guard(device);
  DeviceBuffer scratch(static_cast<std::size_t>(batch * s.unknowns) * sizeof(T), device);
  const Envelope envelope{factors.first.template as<int>(), factors.offset.template as<std::int64_t>(),
                          factors.envelope_size};
  const unsigned blocks = static_cast<unsigned>((batch + kSystemsPerBlock - 1) / kSystemsPerBlock);
  backward_kernel<T><<<blocks, kSystemsPerBlock, 0, stream(device)>>>(
      sizes, batch, s, envelope, inputs, u, eps, grad_u, grad_eps, factors.env.template as<T>(),
      factors.inverse_diagonal.template as<T>(), factors.z2.template as<T>(), factors.schur.template as<T>(),
      scratch.as<T>(), gradients);
  MECH_CUDA_CHECK_LAUNCH("neurlp backward_kernel");
  // scratch goes back to the cache now; the stream orders its reuse after this kernel.
}

template std::shared_ptr<DeviceFactorization<float>> forward_batch<float>(const Sizes&, std::int64_t,
                                                                          const BatchInputs<float>&, float*, float*,
                                                                          bool, int);
template std::shared_ptr<DeviceFactorization<double>> forward_batch<double>(const Sizes&, std::int64_t,
                                                                            const BatchInputs<double>&, double*,
                                                                            double*, bool, int);
template void backward_batch<float>(const DeviceFactorization<float>&, const BatchInputs<float>&, const float*,
                                    const float*, const float*, const float*, const BatchGradients<float>&);
template void backward_batch<double>(const DeviceFactorization<double>&, const BatchInputs<double>&, const double*,
                                     const double*, const double*, const double*, const BatchGradients<double>&);

}  // namespace mech::cuda::neurlp
