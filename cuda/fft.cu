// CUDA real FFT kernels (fft_real_forward, fft_real_inverse of core/kernel_list.h) through cuFFT:
// batched R2C/D2Z and C2R/Z2D over the rows of the last dimension, on the device's stream, with
// the plans cached per (device, n, rows, dtype, direction). cuFFT is unnormalised and its C2R
// overwrites its input and reads the imaginary parts of bin 0 and bin n/2, so the inverse first
// copies its input into scratch, scaled by 1/n and with those parts zeroed (what the CPU kernel,
// numpy and torch compute).
//
// Legend: R rows (every dim but the last), n points per row, m = n/2+1 bins of (re, im) pairs.
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <cufft.h>

#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "cuda/backend.h"
#include "cuda/runtime.h"

namespace mech::cuda {

namespace {

const char* cufft_status_text(cufftResult status) {
  switch (status) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "unknown cuFFT status";
  }
}

#define MECH_CUFFT_CHECK(call)                                                                            \
  do {                                                                                                    \
    const cufftResult mech_cufft_status_ = (call);                                                        \
    if (mech_cufft_status_ != CUFFT_SUCCESS)                                                              \
      throw Error(fmt::format("cuFFT call failed: {} returned {} at {}:{}", #call,                        \
                              cufft_status_text(mech_cufft_status_), __FILE__, __LINE__));                \
  } while (0)

// Plans are costly to make (and hold their own workspace): one per shape, kept for the process.
// A long run sees few shapes (training batch, evaluation batch, a last partial batch); past
// kMaxPlans the cache is emptied rather than grown without bound.
struct PlanKey {
  int device;
  std::int64_t n, rows;
  DType dtype;
  bool inverse;
  bool operator<(const PlanKey& other) const {
    return std::tie(device, n, rows, dtype, inverse) <
           std::tie(other.device, other.n, other.rows, other.dtype, other.inverse);
  }
};

constexpr std::size_t kMaxPlans = 64;

struct PlanCache {
  std::mutex mutex;
  std::map<PlanKey, cufftHandle> plans;
};

PlanCache& plan_cache() {
  static PlanCache* cache = new PlanCache();  // never destroyed: cuFFT may be gone at exit
  return *cache;
}

// The plan for key, made on first use; the caller holds the cache's mutex and key.device is
// current. Executions through the plan are enqueued on the device's stream.
cufftHandle plan_locked(PlanCache& cache, const PlanKey& key) {
  auto found = cache.plans.find(key);
  if (found != cache.plans.end()) return found->second;
  if (cache.plans.size() >= kMaxPlans) {
    // Work may still be queued through the old plans: let it finish before they go.
    for (const auto& [old_key, old_plan] : cache.plans) {
      MECH_CUDA_CHECK(cudaStreamSynchronize(stream(old_key.device)));
      cufftDestroy(old_plan);
    }
    cache.plans.clear();
  }
  MECH_CHECK(key.n <= INT_MAX && key.rows <= INT_MAX, "cuda::fft: {} rows of {} points exceed cuFFT's int sizes",
             key.rows, key.n);
  int length = static_cast<int>(key.n);
  const int bins = static_cast<int>(key.n / 2 + 1);
  const bool single = key.dtype == DType::Float32;
  const cufftType type = key.inverse ? (single ? CUFFT_C2R : CUFFT_Z2D) : (single ? CUFFT_R2C : CUFFT_D2Z);
  // Rows packed back to back: reals n apart, complex values m apart, unit stride within a row.
  const int real_distance = length, complex_distance = bins;
  cufftHandle plan;
  MECH_CUFFT_CHECK(cufftPlanMany(&plan, 1, &length, &length, 1, key.inverse ? complex_distance : real_distance,
                                 &length, 1, key.inverse ? real_distance : complex_distance, type,
                                 static_cast<int>(key.rows)));
  const cufftResult bound = cufftSetStream(plan, stream(key.device));
  if (bound != CUFFT_SUCCESS) {
    cufftDestroy(plan);
    MECH_CUFFT_CHECK(bound);
  }
  cache.plans.emplace(key, plan);
  return plan;
}

// The inverse's input as cuFFT needs it: (R, m) pairs scaled by 1/n, with the imaginary parts of
// bin 0 and (even n) bin m-1 zeroed. One thread per pair.
template <class T>
__global__ void prepare_inverse_kernel(std::int64_t pairs, std::int64_t bins, bool even, T scale, const T* input,
                                       T* out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < pairs; i += step) {
    const std::int64_t k = i % bins;
    const bool unpaired = k == 0 || (even && k == bins - 1);
    out[2 * i] = input[2 * i] * scale;
    out[2 * i + 1] = unpaired ? T(0) : input[2 * i + 1] * scale;
  }
}

// n = 1: the spectrum is the value itself, and back.
template <class T>
__global__ void length_one_kernel(std::int64_t rows, bool inverse, const T* input, T* out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
    if (inverse) {
      out[r] = input[2 * r];
    } else {
      out[2 * r] = input[r];
      out[2 * r + 1] = T(0);
    }
  }
}

void check_pair(const char* kernel, const Tensor& input, const Tensor& out) {
  check_on_device(kernel, out, {&input});
  MECH_CHECK(input.dtype() == out.dtype() && (out.dtype() == DType::Float32 || out.dtype() == DType::Float64),
             "{}: expected float32 or float64 input and out of one dtype, got {} and {}", kernel,
             dtype_name(input.dtype()), dtype_name(out.dtype()));
  MECH_CHECK(input.is_contiguous() && out.is_contiguous(), "{}: expected contiguous input and out (shapes {} and {})",
             kernel, shape_str(input.shape()), shape_str(out.shape()));
}

bool aligned(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

}  // namespace

void fft_real_forward(const Tensor& input, const Tensor& out) {
  check_pair("cuda::fft_real_forward", input, out);
  const std::int64_t n = input.size(-1);
  if (out.numel() == 0) return;
  const std::int64_t rows = input.numel() / n;
  const int device = out.device().index;
  DeviceGuard guard(device);
  MECH_DISPATCH_FLOAT(out.dtype(), "cuda::fft_real_forward", [&]<class T>() {
    if (n == 1) {
      length_one_kernel<T><<<grid_for(rows), kBlockSize, 0, stream(device)>>>(rows, false, input.data_ptr<T>(),
                                                                              out.data_ptr<T>());
      MECH_CUDA_CHECK_LAUNCH("length_one_kernel");
      return;
    }
    // cuFFT wants its operands aligned to the complex type; a view may start anywhere.
    const std::size_t input_bytes = static_cast<std::size_t>(input.numel()) * sizeof(T);
    const std::size_t out_bytes = static_cast<std::size_t>(out.numel()) * sizeof(T);
    const bool stage_input = !aligned(input.data_ptr<T>()), stage_out = !aligned(out.data_ptr<T>());
    ScratchBuffer staged_input(stage_input ? input_bytes : 0, device), staged_out(stage_out ? out_bytes : 0, device);
    T* source = stage_input ? staged_input.as<T>() : input.data_ptr<T>();
    T* target = stage_out ? staged_out.as<T>() : out.data_ptr<T>();
    if (stage_input)
      MECH_CUDA_CHECK(cudaMemcpyAsync(source, input.data_ptr<T>(), input_bytes, cudaMemcpyDeviceToDevice, stream(device)));
    {
      PlanCache& cache = plan_cache();
      std::lock_guard lock(cache.mutex);
      const cufftHandle plan = plan_locked(cache, {device, n, rows, out.dtype(), false});
      if constexpr (std::is_same_v<T, float>) {
        MECH_CUFFT_CHECK(cufftExecR2C(plan, source, reinterpret_cast<cufftComplex*>(target)));
      } else {
        MECH_CUFFT_CHECK(cufftExecD2Z(plan, source, reinterpret_cast<cufftDoubleComplex*>(target)));
      }
    }
    if (stage_out)
      MECH_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr<T>(), target, out_bytes, cudaMemcpyDeviceToDevice, stream(device)));
  });
}

void fft_real_inverse(const Tensor& input, const Tensor& out) {
  check_pair("cuda::fft_real_inverse", input, out);
  const std::int64_t n = out.size(-1);
  if (out.numel() == 0) return;
  const std::int64_t rows = out.numel() / n, bins = n / 2 + 1;
  const int device = out.device().index;
  DeviceGuard guard(device);
  MECH_DISPATCH_FLOAT(out.dtype(), "cuda::fft_real_inverse", [&]<class T>() {
    if (n == 1) {
      length_one_kernel<T><<<grid_for(rows), kBlockSize, 0, stream(device)>>>(rows, true, input.data_ptr<T>(),
                                                                              out.data_ptr<T>());
      MECH_CUDA_CHECK_LAUNCH("length_one_kernel");
      return;
    }
    const std::int64_t pairs = rows * bins;
    ScratchBuffer spectrum(static_cast<std::size_t>(pairs) * 2 * sizeof(T), device);
    prepare_inverse_kernel<T><<<grid_for(pairs), kBlockSize, 0, stream(device)>>>(
        pairs, bins, n % 2 == 0, static_cast<T>(1.0 / static_cast<double>(n)), input.data_ptr<T>(), spectrum.as<T>());
    MECH_CUDA_CHECK_LAUNCH("prepare_inverse_kernel");
    const std::size_t out_bytes = static_cast<std::size_t>(out.numel()) * sizeof(T);
    const bool stage_out = !aligned(out.data_ptr<T>());
    ScratchBuffer staged_out(stage_out ? out_bytes : 0, device);
    T* target = stage_out ? staged_out.as<T>() : out.data_ptr<T>();
    {
      PlanCache& cache = plan_cache();
      std::lock_guard lock(cache.mutex);
      const cufftHandle plan = plan_locked(cache, {device, n, rows, out.dtype(), true});
      if constexpr (std::is_same_v<T, float>) {
        MECH_CUFFT_CHECK(cufftExecC2R(plan, spectrum.as<cufftComplex>(), target));
      } else {
        MECH_CUFFT_CHECK(cufftExecZ2D(plan, spectrum.as<cufftDoubleComplex>(), target));
      }
    }
    if (stage_out)
      MECH_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr<T>(), target, out_bytes, cudaMemcpyDeviceToDevice, stream(device)));
  });
}

}  // namespace mech::cuda
