// NeuRLP on the GPU (solvers/neurlp_gpu.h), two paths.
//
// One thread per system: each launch runs solvers/neurlp_gpu_device.h's forward_one / backward_one
// (input validation, then solvers/neurlp_system.h's forward_system / backward_system) for every
// system of the batch. Legend: B systems; per system n = T*D*K unknowns and an envelope of `size`
// stored entries of L; thread b owns system b and the b-th slice of every array (batch-major).
// The envelope Cholesky is a sequential sweep over T, so a system is one long dependent chain and
// the batch is the parallelism: at small B most of the GPU idles.
//
// Chunked (parallel in time, solvers/neurlp_chunked.h): C chunks per system. Forward: three
// launches, B*C threads (thread b*C + c: factor chunk c of system b), B threads (the reduced
// system of system b, eps), B*C threads (the interiors' u). Backward: four launches, B*C, B, B*C
// (interiors' v and the gradient rows), B (the rows between chunks). Launches on one stream are
// the only synchronisation: a phase reads what the previous one wrote.
//
// Arrays stay batch-major because the shared per-system code walks unit-stride pointers;
// interleaving systems (element i of system b at i*B + b) would coalesce the loads and needs a
// stride parameter in solvers/neurlp_system.h.
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <array>
#include <map>
#include <mutex>
#include <type_traits>
#include <vector>

#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp_gpu_device.h"
#include "cuda/runtime.h"

namespace mech::neurlp_gpu {

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

// ---- chunked kernels (legend: B systems, C chunks; thread b*C + c owns chunk c of system b) ---

struct ChunkedLaunch {
  neurlp_core::Sizes z;
  std::int64_t batch;
  Strides s;
  neurlp_chunked::Structure structure;
  neurlp_chunked::Extents extents;
};

// B*C threads: validate and factor chunk c of system b, its spikes and reduced contributions.
template <class T>
__global__ void chunk_factor_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays) {
  const std::int64_t id = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int C = l.structure.layout.C;
  if (id >= l.batch * C) return;
  neurlp_core::Row<T> row;
  factor_chunked_one(l.z, l.structure, arrays, l.s, l.extents, id / C, static_cast<int>(id % C), row);
}

// B threads: the chunks' failures, else the reduced system, eps and the separators' u of system b.
template <class T>
__global__ void chunk_reduce_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= l.batch) return;
  reduce_chunked_one(l.z, l.structure, arrays, l.s, l.extents, b);
}

// B*C threads: the interior's u of chunk c of system b.
template <class T>
__global__ void chunk_finish_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays) {
  const std::int64_t id = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int C = l.structure.layout.C;
  if (id >= l.batch * C) return;
  finish_forward_chunked_one(l.z, l.structure, arrays, l.s, l.extents, id / C, static_cast<int>(id % C));
}

// B*C threads: L^{-1} ubar on chunk c's interior and its reduced contributions (v in scratch).
template <class T>
__global__ void chunk_backward_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays, const T* grad_u, T* scratch) {
  const std::int64_t id = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int C = l.structure.layout.C;
  if (id >= l.batch * C) return;
  backward_chunked_one(l.z, l.structure, arrays, l.s, l.extents, id / C, static_cast<int>(id % C), grad_u, scratch);
}

// B threads: v_eps and the separators' v of system b.
template <class T>
__global__ void chunk_reduce_backward_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays, const T* grad_eps, T* scratch) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= l.batch) return;
  reduce_backward_chunked_one(l.z, l.structure, arrays, l.s, l.extents, b, grad_eps, scratch);
}

// B*C threads: the interior's v of chunk c and the gradient rows it owns.
template <class T>
__global__ void chunk_gradient_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays, T* scratch, BatchGradients<T> out) {
  const std::int64_t id = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int C = l.structure.layout.C;
  if (id >= l.batch * C) return;
  neurlp_core::Row<T> row;
  finish_backward_chunked_one(l.z, l.structure, arrays, l.s, l.extents, id / C, static_cast<int>(id % C), scratch, out,
                              row);
}

// B threads: the gradient rows at the C-1 times between chunks of system b.
template <class T>
__global__ void chunk_boundary_kernel(ChunkedLaunch l, ChunkedArrays<T> arrays, T* scratch, BatchGradients<T> out) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= l.batch) return;
  neurlp_core::Row<T> row;
  boundary_gradients_chunked_one(l.z, l.structure, arrays, l.s, l.extents, b, scratch, out, row);
}

template <class T>
BatchArrays<T> arrays_of(const DeviceFactorization<T>& f, const BatchInputs<T>& inputs, T* u, T* eps) {
  return {inputs, u, eps, f.env.template as<T>(), f.inverse_diagonal.template as<T>(), f.z2.template as<T>(),
          f.schur.template as<T>(), f.latent.template as<T>()};
}

template <class T>
neurlp_core::Envelope envelope_of(const DeviceFactorization<T>& f) {
  return {f.structure->first.template as<int>(), f.structure->offset.template as<std::int64_t>(), f.structure->size};
}

// Waits for the kernel that wrote `status` (one per system) and throws mech::SolverError for the
// first failed system, in the CPU driver's words.
template <class T>
void throw_first_failure_on_device(const Sizes& z, const DeviceBuffer& status, std::size_t count, int device) {
  std::vector<SystemStatus> statuses(count);
  cuda::copy_device_to_host(statuses.data(), status.as<void>(), count * sizeof(SystemStatus), device);
  throw_first_failure(z, statuses, sizeof(T) == sizeof(float));
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
  cuda::copy_host_to_device(built->first.template as<void>(), structure.first.data(), built->first.bytes(), device);
  cuda::copy_host_to_device(built->offset.template as<void>(), structure.offset.data(), built->offset.bytes(), device);
  (*cache)[key] = built;
  return built;
}

// The chunked structure for (shape, chunk count) on `device`, cached like cached_structure.
std::shared_ptr<const DeviceChunkStructure> cached_chunk_structure(const Sizes& z, int chunks, int device) {
  using Key = std::array<int, 9>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const DeviceChunkStructure>>* cache =
      new std::map<Key, std::shared_ptr<const DeviceChunkStructure>>();  // never destroyed: see allocator.cu
  const Key key{device, z.T, z.D, z.K, z.E, z.S, z.n_iv, static_cast<int>(z.formulation), chunks};
  std::lock_guard lock(mutex);
  auto found = cache->find(key);
  if (found != cache->end()) return found->second;
  const neurlp_chunked::Plan plan(z, neurlp_chunked::balanced_begins(z.T, chunks));
  auto built = std::make_shared<DeviceChunkStructure>();
  built->chunks = plan.chunks();
  built->size = plan.structure().full.size;
  built->reduced_size = plan.structure().reduced.size;
  auto upload = [&](DeviceBuffer& buffer, const auto& values) {
    using Value = typename std::decay_t<decltype(values)>::value_type;
    const std::size_t bytes = std::max<std::size_t>(values.size(), 1) * sizeof(Value);   // R may be empty
    buffer = DeviceBuffer(bytes, device);
    if (!values.empty())
      cuda::copy_host_to_device(buffer.template as<void>(), values.data(), values.size() * sizeof(Value), device);
  };
  upload(built->begin, plan.begin());
  upload(built->first, plan.first());
  upload(built->offset, plan.offset());
  upload(built->clipped_first, plan.clipped_first());
  upload(built->clipped_offset, plan.clipped_offset());
  upload(built->reduced_first, plan.reduced_first());
  upload(built->reduced_offset, plan.reduced_offset());
  (*cache)[key] = built;
  return built;
}

neurlp_chunked::Structure structure_of(const Sizes& z, const DeviceChunkStructure& d) {
  neurlp_chunked::Structure st;
  st.layout = {z.T, z.block(), d.chunks, d.begin.as<int>()};
  st.full = {d.first.as<int>(), d.offset.as<std::int64_t>(), d.size};
  st.clipped = {d.clipped_first.as<int>(), d.clipped_offset.as<std::int64_t>(), d.size};
  st.reduced = {d.reduced_first.as<int>(), d.reduced_offset.as<std::int64_t>(), d.reduced_size};
  return st;
}

template <class T>
ChunkedArrays<T> chunked_arrays_of(const DeviceFactorization<T>& f, const BatchInputs<T>& inputs, T* u, T* eps,
                                   SystemStatus* chunk_status, SystemStatus* system_status) {
  return {inputs,
          u,
          eps,
          f.env.template as<T>(),
          f.inverse_diagonal.template as<T>(),
          f.z2.template as<T>(),
          f.schur.template as<T>(),
          f.spike_left.template as<T>(),
          f.spike_right.template as<T>(),
          f.reduced.template as<T>(),
          f.reduced_inverse_diagonal.template as<T>(),
          f.records.template as<T>(),
          f.reduced_vectors.template as<T>(),
          chunk_status,
          system_status};
}

ChunkedLaunch launch_of(const Sizes& z, std::int64_t batch, const DeviceChunkStructure& d) {
  ChunkedLaunch l;
  l.z = z;
  l.batch = batch;
  l.s = strides_of(z);
  l.structure = structure_of(z, d);
  l.extents = neurlp_chunked::extents(z, l.structure);
  return l;
}

int multiprocessors(int device) {
  static std::mutex mutex;
  static std::map<int, int> known;
  std::lock_guard lock(mutex);
  auto found = known.find(device);
  if (found != known.end()) return found->second;
  int count = 0;
  MECH_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  known[device] = count;
  return count;
}

// The chunked forward: allocates the chunked factors in `factors` and runs the three phases.
template <class T>
void forward_chunked(DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, T* u, T* eps, int chunks) {
  const Sizes& z = factors.sizes;
  const std::int64_t batch = factors.batch;
  const int device = factors.device;
  factors.chunk_structure = cached_chunk_structure(z, chunks, device);
  factors.chunks = factors.chunk_structure->chunks;
  const ChunkedLaunch l = launch_of(z, batch, *factors.chunk_structure);
  const neurlp_chunked::Extents& x = l.extents;
  const auto count = static_cast<std::size_t>(batch);
  auto per_system = [&](std::int64_t elements) {
    return DeviceBuffer(count * static_cast<std::size_t>(std::max<std::int64_t>(elements, 1)) * sizeof(T), device);
  };
  factors.env = per_system(x.env);
  factors.inverse_diagonal = per_system(x.unknowns);
  if (z.has_eps()) {
    factors.z2 = per_system(x.unknowns);
    factors.schur = per_system(1);
  }
  factors.spike_left = per_system(x.spike_left);
  factors.spike_right = per_system(x.spike_right);
  factors.reduced = per_system(x.reduced);
  factors.reduced_inverse_diagonal = per_system(x.reduced_unknowns);
  factors.records = per_system(x.records);
  factors.reduced_vectors = per_system(x.reduced_vectors);
  const int C = factors.chunks;
  DeviceBuffer chunk_status(count * static_cast<std::size_t>(C) * sizeof(SystemStatus), device);
  DeviceBuffer status(count * sizeof(SystemStatus), device);
  const ChunkedArrays<T> arrays =
      chunked_arrays_of(factors, inputs, u, eps, chunk_status.as<SystemStatus>(), status.as<SystemStatus>());
  const cudaStream_t on = cuda::stream(device);
  chunk_factor_kernel<T><<<blocks_for(batch * C), kSystemsPerBlock, 0, on>>>(l, arrays);
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_factor_kernel");
  chunk_reduce_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, on>>>(l, arrays);
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_reduce_kernel");
  chunk_finish_kernel<T><<<blocks_for(batch * C), kSystemsPerBlock, 0, on>>>(l, arrays);
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_finish_kernel");
  throw_first_failure_on_device<T>(z, status, count, device);
}

template <class T>
void backward_chunked(const DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, const T* u, const T* eps,
                      const T* grad_u, const T* grad_eps, const BatchGradients<T>& gradients) {
  const std::int64_t batch = factors.batch;
  const int device = factors.device;
  const ChunkedLaunch l = launch_of(factors.sizes, batch, *factors.chunk_structure);
  // The kernels take non-const solution pointers (shared struct); backward only reads them.
  const ChunkedArrays<T> arrays =
      chunked_arrays_of(factors, inputs, const_cast<T*>(u), const_cast<T*>(eps), nullptr, nullptr);
  DeviceBuffer scratch(static_cast<std::size_t>(batch * l.s.unknowns) * sizeof(T), device);
  const int C = factors.chunks;
  const cudaStream_t on = cuda::stream(device);
  chunk_backward_kernel<T><<<blocks_for(batch * C), kSystemsPerBlock, 0, on>>>(l, arrays, grad_u, scratch.as<T>());
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_backward_kernel");
  chunk_reduce_backward_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, on>>>(l, arrays, grad_eps, scratch.as<T>());
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_reduce_backward_kernel");
  chunk_gradient_kernel<T><<<blocks_for(batch * C), kSystemsPerBlock, 0, on>>>(l, arrays, scratch.as<T>(), gradients);
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_gradient_kernel");
  chunk_boundary_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, on>>>(l, arrays, scratch.as<T>(), gradients);
  MECH_CUDA_CHECK_LAUNCH("neurlp chunk_boundary_kernel");
}

}  // namespace

template <class T>
std::shared_ptr<DeviceFactorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch,
                                                      const BatchInputs<T>& inputs, T* u, T* eps,
                                                      bool keep_factors, int device) {
  check_sizes(sizes, batch);
  MECH_CHECK(batch == 0 || (inputs.coeffs != nullptr && inputs.rhs != nullptr && inputs.steps != nullptr &&
                            u != nullptr && eps != nullptr),
             "{}: coeffs, rhs, steps, u and eps must be device pointers, got a null one", kOp);
  MECH_CHECK(inputs.iv != nullptr || sizes.S * sizes.n_iv == 0, "{}: {} initial values but iv is null", kOp,
             sizes.S * sizes.n_iv);
  auto factors = std::make_shared<DeviceFactorization<T>>();
  factors->sizes = sizes;
  factors->batch = batch;
  factors->device = device;
  if (batch == 0) return keep_factors ? factors : nullptr;
  cuda::DeviceGuard guard(device);
  // hermite4 runs one thread per system: the chunked solve has the rows of mnn and scalable only.
  const bool chunkable = sizes.formulation != neurlp_core::Formulation::Hermite4;
  const int chunks = chunkable ? choose_chunks(batch, sizes.T, multiprocessors(device), requested_chunks()) : 0;
  if (chunks >= 1) {
    forward_chunked(*factors, inputs, u, eps, chunks);
    return keep_factors ? factors : nullptr;
  }
  factors->structure = cached_structure(sizes, device);
  const Strides s = strides_of(sizes);
  const auto count = static_cast<std::size_t>(batch);
  factors->env = DeviceBuffer(count * static_cast<std::size_t>(factors->structure->size) * sizeof(T), device);
  factors->inverse_diagonal = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
  if (sizes.has_eps()) {
    factors->z2 = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
    factors->schur = DeviceBuffer(count * sizeof(T), device);
  }
  if (sizes.formulation == neurlp_core::Formulation::Hermite4)
    factors->latent = DeviceBuffer(count * static_cast<std::size_t>(s.unknowns) * sizeof(T), device);
  DeviceBuffer status(count * sizeof(SystemStatus), device);
  forward_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, cuda::stream(device)>>>(
      sizes, batch, s, envelope_of(*factors), arrays_of(*factors, inputs, u, eps), status.as<SystemStatus>());
  MECH_CUDA_CHECK_LAUNCH("neurlp forward_kernel");
  throw_first_failure_on_device<T>(sizes, status, count, device);
  return keep_factors ? factors : nullptr;
}

template <class T>
void backward_batch(const DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, const T* u,
                    const T* eps, const T* grad_u, const T* grad_eps, const BatchGradients<T>& gradients) {
  const std::int64_t batch = factors.batch;
  if (batch == 0) return;
  MECH_CHECK(u != nullptr && eps != nullptr && grad_u != nullptr,
             "{} backward: u, eps and grad_u must be device pointers, got a null one", kOp);
  const Strides s = strides_of(factors.sizes);
  const int device = factors.device;
  cuda::DeviceGuard guard(device);
  if (factors.chunks >= 1) {
    backward_chunked(factors, inputs, u, eps, grad_u, grad_eps, gradients);
    return;
  }
  // The kernels take non-const solution pointers (shared struct); backward only reads them.
  BatchArrays<T> arrays = arrays_of(factors, inputs, const_cast<T*>(u), const_cast<T*>(eps));
  DeviceBuffer scratch(static_cast<std::size_t>(batch * s.scratch) * sizeof(T), device);
  backward_kernel<T><<<blocks_for(batch), kSystemsPerBlock, 0, cuda::stream(device)>>>(
      factors.sizes, batch, s, envelope_of(factors), arrays, grad_u, grad_eps, scratch.as<T>(), gradients);
  MECH_CUDA_CHECK_LAUNCH("neurlp backward_kernel");
  // scratch returns to the cache here; the stream orders its next use after this kernel.
}

MECH_NEURLP_GPU_INSTANTIATE(float)
MECH_NEURLP_GPU_INSTANTIATE(double)

}  // namespace mech::neurlp_gpu
