// The CUDA runtime side of mech: device queries, the per-device stream and cuBLAS handle, the
// caching device allocator and host<->device copies (host->device through pinned staging buffers).
//
// Allocator: requests are rounded up to size classes (512 B minimum, then four classes per power
// of two) and released blocks go to a free list per (device, class); a later request of the same
// class reuses the block without cudaMalloc. Reuse without synchronising is safe because every op
// on a device runs in order on that device's one stream. Blocks return to the driver only in
// empty_cache(), or when cudaMalloc runs out of memory (the cache is freed and the call retried).
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <cuda_runtime.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/backend.h"
#include "cuda/check.h"
#include "cuda/runtime.h"

namespace mech::cuda {

namespace {

constexpr std::size_t kMinimumBlock = 512;
constexpr std::size_t kStagingBytes = std::size_t{4} << 20;  // per pinned staging buffer
constexpr int kStagingSlots = 2;                              // double buffering

std::size_t size_class(std::size_t nbytes) {
  if (nbytes <= kMinimumBlock) return kMinimumBlock;
  // Four classes per power of two bound the waste at 25% while keeping reuse likely.
  const int top_bit = 63 - __builtin_clzll(static_cast<unsigned long long>(nbytes - 1));
  const std::size_t base = std::size_t{1} << top_bit;
  const std::size_t step = std::max(base / 4, kMinimumBlock);
  return (nbytes + step - 1) / step * step;
}

struct DeviceState {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;  // by size class
  void* staging[kStagingSlots] = {};
  cudaEvent_t staging_done[kStagingSlots] = {};
  bool staging_used[kStagingSlots] = {};
};

// Never destroyed: at process exit the CUDA context may already be gone, and freeing into it
// would fail; the driver reclaims everything anyway.
struct Runtime {
  std::mutex mutex;
  std::vector<std::unique_ptr<DeviceState>> devices;
  std::size_t cached = 0;
  std::size_t allocated = 0;
  std::size_t peak = 0;
};

Runtime& runtime() {
  static Runtime* instance = new Runtime();
  return *instance;
}

// The device count, and the reason when it is zero (kept for availability()).
struct Probe {
  int count = 0;
  std::string reason;
};

Probe probe_devices() {
  Probe probe;
  const cudaError_t status = cudaGetDeviceCount(&probe.count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: not an error for a query
    probe.count = 0;
    probe.reason = fmt::format("cudaGetDeviceCount failed: {} ({})", cudaGetErrorName(status),
                               cudaGetErrorString(status));
  } else if (probe.count == 0) {
    probe.reason = "the CUDA runtime reports 0 devices";
  }
  return probe;
}

const Probe& probe() {
  static const Probe result = probe_devices();
  return result;
}

void check_device_index(const char* op, int device) {
  const int count = device_count();
  if (count == 0) {
    throw Error(fmt::format("{}: no CUDA device: this machine has no CUDA-capable GPU or no driver", op));
  }
  MECH_CHECK(device >= 0 && device < count, "{}: CUDA device {} does not exist (this machine has {})", op,
             device, count);
}

// The state of `device`, created on first use. Caller holds runtime().mutex.
DeviceState& state_locked(int device) {
  Runtime& rt = runtime();
  if (rt.devices.empty()) rt.devices.resize(static_cast<std::size_t>(device_count()));
  auto& slot = rt.devices[static_cast<std::size_t>(device)];
  if (!slot) {
    DeviceGuard guard(device);
    auto created = std::make_unique<DeviceState>();
    MECH_CUDA_CHECK(cudaStreamCreateWithFlags(&created->stream, cudaStreamNonBlocking));
    slot = std::move(created);
  }
  return *slot;
}

void free_cached_locked(int device, DeviceState& state) {
  DeviceGuard guard(device);
  MECH_CUDA_CHECK(cudaStreamSynchronize(state.stream));
  for (auto& [size, blocks] : state.free_blocks) {
    for (void* block : blocks) {
      MECH_CUDA_CHECK(cudaFree(block));
      runtime().cached -= size;
    }
    blocks.clear();
  }
}

}  // namespace

// ---- device queries ---------------------------------------------------------------------------

int device_count() { return probe().count; }

bool is_available() { return device_count() > 0; }

std::string availability() {
  try {
    if (!is_available()) return probe().reason;
    std::string text = fmt::format("{} CUDA device{}", device_count(), device_count() == 1 ? "" : "s");
    for (int device = 0; device < device_count(); ++device) {
      text += fmt::format("{} cuda:{} {}", device == 0 ? ":" : ",", device, device_name(device));
    }
    int runtime_version = 0, driver_version = 0;
    (void)cudaRuntimeGetVersion(&runtime_version);
    (void)cudaDriverGetVersion(&driver_version);
    return text + fmt::format(" (runtime {}, driver {})", runtime_version, driver_version);
  } catch (const std::exception& error) {
    return error.what();
  }
}

std::string device_name(int device) {
  check_device_index("cuda::device_name", device);
  cudaDeviceProp properties{};
  MECH_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
  return properties.name;
}

DeviceGuard::DeviceGuard(int device) {
  MECH_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    MECH_CUDA_CHECK(cudaSetDevice(device));
  } else {
    previous_ = -1;  // nothing to restore
  }
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

cudaStream_t stream(int device) {
  check_device_index("cuda::stream", device);
  std::lock_guard lock(runtime().mutex);
  return state_locked(device).stream;
}

cublasHandle_t cublas_handle(int device) {
  check_device_index("cuda::cublas_handle", device);
  std::lock_guard lock(runtime().mutex);
  DeviceState& state = state_locked(device);
  if (state.cublas == nullptr) {
    DeviceGuard guard(device);
    MECH_CUBLAS_CHECK(cublasCreate(&state.cublas));
    MECH_CUBLAS_CHECK(cublasSetStream(state.cublas, state.stream));
    // Full-precision float32 (no TF32), so that float32 results agree with the CPU's.
    MECH_CUBLAS_CHECK(cublasSetMathMode(state.cublas, CUBLAS_DEFAULT_MATH));
  }
  return state.cublas;
}

void synchronize() {
  if (!is_available()) return;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  for (std::size_t device = 0; device < rt.devices.size(); ++device) {
    if (!rt.devices[device]) continue;
    DeviceGuard guard(static_cast<int>(device));
    MECH_CUDA_CHECK(cudaStreamSynchronize(rt.devices[device]->stream));
  }
}

// ---- the caching allocator -------------------------------------------------------------------

void* allocate(std::size_t nbytes, int device) {
  check_device_index("cuda::allocate", device);
  if (nbytes == 0) return nullptr;
  const std::size_t rounded = size_class(nbytes);
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  DeviceState& state = state_locked(device);
  auto found = state.free_blocks.find(rounded);
  void* block = nullptr;
  if (found != state.free_blocks.end() && !found->second.empty()) {
    block = found->second.back();
    found->second.pop_back();
    rt.cached -= rounded;
  } else {
    DeviceGuard guard(device);
    cudaError_t status = cudaMalloc(&block, rounded);
    if (status == cudaErrorMemoryAllocation) {
      // Out of memory: give the cache back to the driver and try once more.
      (void)cudaGetLastError();
      free_cached_locked(device, state);
      status = cudaMalloc(&block, rounded);
    }
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      throw Error(fmt::format("cuda::allocate: cudaMalloc of {} bytes (class {}) on cuda:{} failed: {} "
                              "({} bytes in use by mech)",
                              nbytes, rounded, device, cudaGetErrorString(status), rt.allocated));
    }
  }
  rt.allocated += rounded;
  rt.peak = std::max(rt.peak, rt.allocated);
  return block;
}

void release(void* pointer, std::size_t nbytes, int device) noexcept {
  if (pointer == nullptr) return;
  // Runs from Storage's destructor: must not throw. The block is only listed, not freed.
  try {
    const std::size_t rounded = size_class(nbytes);
    Runtime& rt = runtime();
    std::lock_guard lock(rt.mutex);
    state_locked(device).free_blocks[rounded].push_back(pointer);
    rt.cached += rounded;
    rt.allocated -= std::min(rt.allocated, rounded);
  } catch (...) {
    // Only bookkeeping allocation can fail here; losing one block to the cache is harmless.
  }
}

void empty_cache() {
  if (!is_available()) return;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  for (std::size_t device = 0; device < rt.devices.size(); ++device) {
    if (rt.devices[device]) free_cached_locked(static_cast<int>(device), *rt.devices[device]);
  }
}

std::size_t cached_bytes() {
  std::lock_guard lock(runtime().mutex);
  return runtime().cached;
}

std::size_t allocated_bytes() {
  std::lock_guard lock(runtime().mutex);
  return runtime().allocated;
}

std::size_t peak_allocated_bytes() {
  std::lock_guard lock(runtime().mutex);
  return runtime().peak;
}

void reset_peak_allocated_bytes() {
  std::lock_guard lock(runtime().mutex);
  runtime().peak = runtime().allocated;
}

ScratchBuffer::ScratchBuffer(std::size_t nbytes, int device)
    : data_(allocate(nbytes, device)), nbytes_(nbytes), device_(device) {}
ScratchBuffer::~ScratchBuffer() { release(data_, nbytes_, device_); }

// ---- copies ------------------------------------------------------------------------------------

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  check_device_index("to(cuda)", device);
  if (nbytes == 0) return;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.mutex);
  DeviceState& state = state_locked(device);
  DeviceGuard guard(device);
  // Staging through pinned memory makes the transfer asynchronous: the caller's pageable buffer
  // is free to change as soon as this returns, and the next chunk is copied on the host while
  // the previous one crosses the bus.
  for (int slot = 0; slot < kStagingSlots; ++slot) {
    if (state.staging[slot] == nullptr) {
      MECH_CUDA_CHECK(cudaMallocHost(&state.staging[slot], kStagingBytes));
      MECH_CUDA_CHECK(cudaEventCreateWithFlags(&state.staging_done[slot], cudaEventDisableTiming));
    }
  }
  const auto* source = static_cast<const unsigned char*>(src);
  auto* destination = static_cast<unsigned char*>(dst);
  int slot = 0;
  for (std::size_t offset = 0; offset < nbytes; offset += kStagingBytes, slot = (slot + 1) % kStagingSlots) {
    const std::size_t length = std::min(kStagingBytes, nbytes - offset);
    if (state.staging_used[slot]) MECH_CUDA_CHECK(cudaEventSynchronize(state.staging_done[slot]));
    std::memcpy(state.staging[slot], source + offset, length);
    MECH_CUDA_CHECK(cudaMemcpyAsync(destination + offset, state.staging[slot], length, cudaMemcpyHostToDevice,
                                    state.stream));
    MECH_CUDA_CHECK(cudaEventRecord(state.staging_done[slot], state.stream));
    state.staging_used[slot] = true;
  }
}

void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device) {
  check_device_index("to(cpu)", device);
  if (nbytes == 0) return;
  cudaStream_t device_stream = stream(device);
  DeviceGuard guard(device);
  MECH_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, device_stream));
  // The caller reads dst next.
  MECH_CUDA_CHECK(cudaStreamSynchronize(device_stream));
}

void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  check_device_index("cuda copy", device);
  if (nbytes == 0) return;
  cudaStream_t device_stream = stream(device);
  DeviceGuard guard(device);
  MECH_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, device_stream));
}

void check_on_device(const char* op, const Tensor& out, std::initializer_list<const Tensor*> inputs) {
  MECH_CHECK(out.device().is_cuda(), "{}: expected a CUDA output tensor, got one on {}", op, out.device().str());
  for (const Tensor* input : inputs) {
    if (input == nullptr || !input->defined()) continue;
    MECH_CHECK(input->device() == out.device(), "{}: expected all tensors on {}, got one on {}", op,
               out.device().str(), input->device().str());
  }
}

}  // namespace mech::cuda
