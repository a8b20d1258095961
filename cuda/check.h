// Status checks for CUDA runtime, cuBLAS and cuSPARSE calls: a failed call throws mech::Error
// naming the call as written, the library's error text and file:line, so a failure on a GPU
// machine that is only lent for minutes can be located from one log line.
//
//   MECH_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream));
//   MECH_CUBLAS_CHECK(cublasDgemm(...));
//   MECH_CUDA_CHECK_LAUNCH("unary");   // after a <<<...>>> launch
//
// Only CUDA translation units (and .cpp files of a CUDA build) include this header.
#pragma once

#include "cuda/nvcc_fmt.h"  // before fmt

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusparse.h>

#include <fmt/format.h>

#include "core/error.h"

namespace mech::cuda::detail {

inline const char* cublas_status_text(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

[[noreturn]] inline void throw_cuda(cudaError_t status, const char* call, const char* file, int line) {
  // Reset the runtime's last-error slot so that the next check does not report this failure again.
  (void)cudaGetLastError();
  throw Error(fmt::format("CUDA call failed: {} returned {} ({}) at {}:{}", call,
                          cudaGetErrorName(status), cudaGetErrorString(status), file, line));
}

[[noreturn]] inline void throw_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error(fmt::format("cuBLAS call failed: {} returned {} at {}:{}", call, cublas_status_text(status),
                          file, line));
}

[[noreturn]] inline void throw_cusparse(cusparseStatus_t status, const char* call, const char* file,
                                        int line) {
  throw Error(fmt::format("cuSPARSE call failed: {} returned {} ({}) at {}:{}", call,
                          cusparseGetErrorName(status), cusparseGetErrorString(status), file, line));
}

}  // namespace mech::cuda::detail

#define MECH_CUDA_CHECK(call)                                                      \
  do {                                                                             \
    const cudaError_t mech_cuda_status_ = (call);                                  \
    if (mech_cuda_status_ != cudaSuccess)                                          \
      ::mech::cuda::detail::throw_cuda(mech_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define MECH_CUBLAS_CHECK(call)                                                        \
  do {                                                                                 \
    const cublasStatus_t mech_cublas_status_ = (call);                                 \
    if (mech_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                  \
      ::mech::cuda::detail::throw_cublas(mech_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define MECH_CUSPARSE_CHECK(call)                                                          \
  do {                                                                                     \
    const cusparseStatus_t mech_cusparse_status_ = (call);                                 \
    if (mech_cusparse_status_ != CUSPARSE_STATUS_SUCCESS)                                  \
      ::mech::cuda::detail::throw_cusparse(mech_cusparse_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports a bad launch configuration (the launch itself returns nothing).
#define MECH_CUDA_CHECK_LAUNCH(op_name)                                                         \
  do {                                                                                          \
    const cudaError_t mech_cuda_status_ = cudaGetLastError();                                   \
    if (mech_cuda_status_ != cudaSuccess)                                                       \
      ::mech::cuda::detail::throw_cuda(mech_cuda_status_, "kernel launch of " op_name, __FILE__, \
                                       __LINE__);                                               \
  } while (0)
