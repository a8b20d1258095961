// NeuRLP on the GPU, one thread per system (cuda/neurlp.h): each launch runs
// cuda/neurlp_device.h's forward_one / backward_one (input validation, then
// solvers/neurlp_system.h's forward_system / backward_system) for every system of the batch.
//
// Legend: B systems; per system n = T*D*K unknowns and an envelope of `size` stored entries of L;
// thread b owns system b and the b-th slice of every array (batch-major, as on the CPU).
//
// Why one thread per system: the envelope Cholesky is a sequential sweep over T, so a system is one
// long dependent chain and the batch is the parallelism. At small B most of the GPU idles; a
// parallel-in-time variant (chunks of the grid factored concurrently plus a reduced interface
// system) is the planned next step. Arrays stay batch-major because the shared per-system code
// walks unit-stride pointers; interleaving systems (element i of system b at i*B + b) would
// coalesce the loads and needs a stride parameter in solvers/neurlp_system.h.
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <array>
#include <map>
#include <mutex>
#include <vector>

#include "cuda/neurlp.h"
#include "cuda/neurlp_device.h"
#include "cuda/runtime.h"

namespace mech::cuda::neurlp {

namespace {

// B threads; thread b validates, assembles, factors and solves system b.
template <class T>
__global__ void forward_kernel(neurlp_core::Sizes z, std::int64_t batch, Strides s, neurlp_core::Envelope envelope,
                               BatchArrays<T> arrays, SystemStatus* status) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  neurlp_core::Row<T> row;
  status[b] = forward_one(z, envelope, arrays, s, b, row);
}

// B threads; thread b computes the input gradients of system b from its kept factors.
template <class T>
__global__ void backward_kernel(neurlp_core::Sizes z, std::int64_t batch, Strides s, neurlp_core::Envelope envelope,
                                BatchArrays<T> arrays, const T* grad_u, const T* grad_eps, T* scratch,
                                BatchGradients<T> out) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  neurlp_core::Row<T> row;
  backward_one(z, envelope, arrays, s, b, grad_u, grad_eps, scratch, out, row);
}

// Systems per block: few, so that a batch of a few hundred spreads over many SMs (each thread is a
// long sequential chain; using every SM matters more than occupancy within one).
constexpr int kSystemsPerBlock = 32;

unsigned blocks_for(std::int64_t batch) {
  return static_cast<unsigned>((batch + kSystemsPerBlock - 1) / kSystemsPerBlock);
}

template <class T>
BatchArrays<T> arrays_of(const DeviceFactorization<T>& f, const BatchInputs<T>& inputs, T* u, T* eps) {
  return {inputs, u, eps, f.env.template as<T>(), f.inverse_diagonal.template as<T>(), f.z2.template as<T>(),
          f.schur.template as<T>()};
}

template <class T>
neurlp_core::Envelope envelope_of(const DeviceFactorization<T>& f) {
  return {f.structure->first.template as<int>(), f.structure->offset.template as<std::int64_t>(), f.structure->size};
}

// The envelope structure for these sizes on `device`, from a cache keyed by everything the
// structure depends on (it is independent of coefficient and step values). Training calls the
// solver with one shape over and over; this saves the host-side plan and two copies per call.
std::shared_ptr<const DeviceEnvelope> cached_structure(const Sizes& z, int device) {
  using Key = std::array<int, 8>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const DeviceEnvelope>>* cache =
      new std::map<Key, std::shared_ptr<const DeviceEnvelope>>();  // never destroyed: see allocator.cu
  const Key key{device, z.T, z.D, z.K, z.E, z.S, z.n_iv, static_cast<int>(z.formulation)};
  std::lock_guard lock(mutex);
  auto found = cache->find(key);
  if (found != cache->end()) return found->second;
  const EnvelopeStructure structure = envelope_structure(z);
  auto built = std::make_shared<DeviceEnvelope>();
  built->size = structure.size;
  built->first = DeviceBuffer(structure.first.size() * sizeof(int), device);
  built->offset = DeviceBuffer(structure.offset.size() * sizeof(std::int64_t), device);
  copy_host_to_device(built->first.template as<void>(), structure.first.data(), built->first.bytes(), device);
  copy_host_to_device(built->offset.template as<void>(), structure.offset.data(), built->offset.bytes(), device);
  (*cache)[key] = built;
  return built;
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
  factors->structure = cached_structure(sizes, device);
  const Strides s = strides_of(sizes);
  const auto count = static_cast<std::size_t>(batch);
  factors->env = DeviceBuffer(count * static_cast<std::size_t>(factors->structure->size) * sizeof(T), device);
  factors->inverse_diagonal = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
  if (sizes.has_eps()) {
    factors->z2 = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
    factors->schur = DeviceBuffer(count * sizeof(T), device);
  }
  DeviceBuffer status(count * sizeof(SystemStatus), device);
  forward_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, stream(device)>>>(
      sizes, batch, s, envelope_of(*factors), arrays_of(*factors, inputs, u, eps), status.as<SystemStatus>());
  MECH_CUDA_CHECK_LAUNCH("neurlp forward_kernel");
  std::vector<SystemStatus> statuses(count);
  copy_device_to_host(statuses.data(), status.as<void>(), count * sizeof(SystemStatus), device);
  throw_first_failure(sizes, statuses);
  return keep_factors ? factors : nullptr;
}

template <class T>
void backward_batch(const DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, const T* u,
                    const T* eps, const T* grad_u, const T* grad_eps, const BatchGradients<T>& gradients) {
  const std::int64_t batch = factors.batch;
  if (batch == 0) return;
  MECH_CHECK(u != nullptr && eps != nullptr && grad_u != nullptr,
             "neurlp (cuda) backward: u, eps and grad_u must be device pointers, got a null one");
  const Strides s = strides_of(factors.sizes);
  const int device = factors.device;
  DeviceGuard guard(device);
  // The kernels take non-const solution pointers (shared struct); backward only reads them.
  BatchArrays<T> arrays = arrays_of(factors, inputs, const_cast<T*>(u), const_cast<T*>(eps));
  DeviceBuffer scratch(static_cast<std::size_t>(batch * s.unknowns) * sizeof(T), device);
  backward_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, stream(device)>>>(
      factors.sizes, batch, s, envelope_of(factors), arrays, grad_u, grad_eps, scratch.as<T>(), gradients);
  MECH_CUDA_CHECK_LAUNCH("neurlp backward_kernel");
  // scratch returns to the cache here; the stream orders its next use after this kernel.
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
