// The cuSPARSE comparison solver (solvers/neurlp_cusparse.h): csric02 on the batch's block-diagonal
// CSR normal matrix, then SpSV with L and with L^T, all on mech's stream for the device.
//
// csric02 (the legacy zero-fill incomplete Cholesky) is deprecated since CUDA 12 with no generic
// replacement and is still present in CUDA 13; DISABLE_CUSPARSE_DEPRECATED silences its warnings
// in this translation unit only, and must precede every include that reaches cusparse.h.
#define DISABLE_CUSPARSE_DEPRECATED

#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include "solvers/neurlp_cusparse.h"

#include <cusparse.h>

#include <string>
#include <type_traits>
#include <vector>

#include "cuda/backend.h"
#include "cuda/check.h"
#include "solvers/neurlp_gpu.h"
#include "cuda/runtime.h"
#include "solvers/neurlp_batch.h"

namespace mech::neurlp_gpu {
namespace {

// The precision-specific legacy entry points, by overload.
cusparseStatus_t csric02_buffer_size(cusparseHandle_t handle, int m, int nnz, cusparseMatDescr_t descr, double* values,
                                     const int* offsets, const int* columns, csric02Info_t info, int* bytes) {
  return cusparseDcsric02_bufferSize(handle, m, nnz, descr, values, offsets, columns, info, bytes);
}
cusparseStatus_t csric02_buffer_size(cusparseHandle_t handle, int m, int nnz, cusparseMatDescr_t descr, float* values,
                                     const int* offsets, const int* columns, csric02Info_t info, int* bytes) {
  return cusparseScsric02_bufferSize(handle, m, nnz, descr, values, offsets, columns, info, bytes);
}
cusparseStatus_t csric02_analysis(cusparseHandle_t handle, int m, int nnz, cusparseMatDescr_t descr,
                                  const double* values, const int* offsets, const int* columns, csric02Info_t info,
                                  void* buffer) {
  return cusparseDcsric02_analysis(handle, m, nnz, descr, values, offsets, columns, info,
                                   CUSPARSE_SOLVE_POLICY_USE_LEVEL, buffer);
}
cusparseStatus_t csric02_analysis(cusparseHandle_t handle, int m, int nnz, cusparseMatDescr_t descr,
                                  const float* values, const int* offsets, const int* columns, csric02Info_t info,
                                  void* buffer) {
  return cusparseScsric02_analysis(handle, m, nnz, descr, values, offsets, columns, info,
                                   CUSPARSE_SOLVE_POLICY_USE_LEVEL, buffer);
}
cusparseStatus_t csric02_factor(cusparseHandle_t handle, int m, int nnz, cusparseMatDescr_t descr, double* values,
                                const int* offsets, const int* columns, csric02Info_t info, void* buffer) {
  return cusparseDcsric02(handle, m, nnz, descr, values, offsets, columns, info, CUSPARSE_SOLVE_POLICY_USE_LEVEL,
                          buffer);
}
cusparseStatus_t csric02_factor(cusparseHandle_t handle, int m, int nnz, cusparseMatDescr_t descr, float* values,
                                const int* offsets, const int* columns, csric02Info_t info, void* buffer) {
  return cusparseScsric02(handle, m, nnz, descr, values, offsets, columns, info, CUSPARSE_SOLVE_POLICY_USE_LEVEL,
                          buffer);
}

template <class T>
constexpr cudaDataType data_type() {
  return std::is_same_v<T, double> ? CUDA_R_64F : CUDA_R_32F;
}

// A buffer's device address as U* (a plain function: DeviceBuffer::as needs `template` in the
// dependent State below).
template <class U>
U* pointer(const DeviceBuffer& buffer) {
  return buffer.as<U>();
}

// A buffer of at least one byte (cuSPARSE may report 0 bytes; the allocator wants a size).
DeviceBuffer device_buffer(std::size_t nbytes, int device) { return DeviceBuffer(nbytes > 0 ? nbytes : 1, device); }

}  // namespace

template <class T>
struct CusparseSolver<T>::State {
  int device = 0;
  neurlp_core::Sizes sizes;
  CsrLayout layout;
  DeviceBuffer row_offsets, columns;      // int, rows + 1 / nonzeros
  DeviceBuffer factor;                    // T, nonzeros: M' on entry to csric02, L after
  DeviceBuffer right, middle, result;     // T, rows: b, L^{-1} b, L^{-T} L^{-1} b
  DeviceBuffer factor_buffer, lower_buffer, upper_buffer;
  cusparseHandle_t handle = nullptr;
  cusparseMatDescr_t legacy_descr = nullptr;   // csric02's matrix description
  csric02Info_t factor_info = nullptr;
  cusparseSpMatDescr_t matrix = nullptr;        // the same arrays, as SpSV's lower-triangular L
  cusparseDnVecDescr_t right_vector = nullptr, middle_vector = nullptr, result_vector = nullptr;
  cusparseSpSVDescr_t lower = nullptr, upper = nullptr;   // L y = b, and L^T x = y

  ~State() {
    // Destructors never throw: statuses ignored. The caching allocator takes the buffers back after.
    if (lower != nullptr) cusparseSpSV_destroyDescr(lower);
    if (upper != nullptr) cusparseSpSV_destroyDescr(upper);
    if (right_vector != nullptr) cusparseDestroyDnVec(right_vector);
    if (middle_vector != nullptr) cusparseDestroyDnVec(middle_vector);
    if (result_vector != nullptr) cusparseDestroyDnVec(result_vector);
    if (matrix != nullptr) cusparseDestroySpMat(matrix);
    if (factor_info != nullptr) cusparseDestroyCsric02Info(factor_info);
    if (legacy_descr != nullptr) cusparseDestroyMatDescr(legacy_descr);
    if (handle != nullptr) {
      // The buffers go back to the allocator, which reuses them for later work on the same stream:
      // the handle's queued work is ordered before that, nothing to wait for.
      cusparseDestroy(handle);
    }
  }
};

template <class T>
CusparseSolver<T>::CusparseSolver(const neurlp_core::Sizes& sizes, std::int64_t batch, int device)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.device = device;
  s.sizes = sizes;
  // neurlp_device.h's inline check and envelope: the CUDA backend links below the solvers layer
  // (test_core links it without solvers/*.cpp), so nothing here may call a solvers/ .cpp function.
  check_sizes(sizes, batch);
  const cuda::DeviceGuard guard(device);
  const EnvelopeStructure structure = envelope_structure(sizes);
  const CsrPattern pattern = csr_pattern(sizes, structure.envelope(), batch);
  s.layout = pattern.layout;
  const int rows = static_cast<int>(s.layout.rows());
  const int nonzeros = static_cast<int>(s.layout.nonzeros());

  s.row_offsets = DeviceBuffer(pattern.row_offsets.size() * sizeof(int), device);
  s.columns = DeviceBuffer(pattern.columns.size() * sizeof(int), device);
  cuda::copy_host_to_device(pointer<void>(s.row_offsets), pattern.row_offsets.data(), s.row_offsets.bytes(), device);
  cuda::copy_host_to_device(pointer<void>(s.columns), pattern.columns.data(), s.columns.bytes(), device);
  // The analyses see the identity (a valid SPD matrix on this pattern), not uninitialised memory.
  {
    std::vector<T> identity(static_cast<std::size_t>(nonzeros), T(0));
    for (int r = 0; r < rows; ++r) identity[static_cast<std::size_t>(pattern.row_offsets[r + 1] - 1)] = T(1);
    s.factor = DeviceBuffer(identity.size() * sizeof(T), device);
    cuda::copy_host_to_device(pointer<void>(s.factor), identity.data(), s.factor.bytes(), device);
    const std::vector<T> zeros(static_cast<std::size_t>(rows), T(0));
    s.right = DeviceBuffer(zeros.size() * sizeof(T), device);
    s.middle = DeviceBuffer(zeros.size() * sizeof(T), device);
    s.result = DeviceBuffer(zeros.size() * sizeof(T), device);
    for (DeviceBuffer* vector : {&s.right, &s.middle, &s.result})
      cuda::copy_host_to_device(vector->as<void>(), zeros.data(), vector->bytes(), device);
  }

  MECH_CUSPARSE_CHECK(cusparseCreate(&s.handle));
  MECH_CUSPARSE_CHECK(cusparseSetStream(s.handle, cuda::stream(device)));
  MECH_CUSPARSE_CHECK(cusparseCreateMatDescr(&s.legacy_descr));
  MECH_CUSPARSE_CHECK(cusparseSetMatType(s.legacy_descr, CUSPARSE_MATRIX_TYPE_GENERAL));
  MECH_CUSPARSE_CHECK(cusparseSetMatIndexBase(s.legacy_descr, CUSPARSE_INDEX_BASE_ZERO));
  MECH_CUSPARSE_CHECK(cusparseCreateCsric02Info(&s.factor_info));

  // csric02: buffer, then the level analysis (structural zero pivots are reported here already).
  int factor_bytes = 0;
  MECH_CUSPARSE_CHECK(csric02_buffer_size(s.handle, rows, nonzeros, s.legacy_descr, pointer<T>(s.factor),
                                          pointer<int>(s.row_offsets), pointer<int>(s.columns), s.factor_info,
                                          &factor_bytes));
  s.factor_buffer = device_buffer(static_cast<std::size_t>(factor_bytes), device);
  MECH_CUSPARSE_CHECK(csric02_analysis(s.handle, rows, nonzeros, s.legacy_descr, pointer<T>(s.factor),
                                       pointer<int>(s.row_offsets), pointer<int>(s.columns), s.factor_info,
                                       pointer<void>(s.factor_buffer)));
  int position = -1;
  const cusparseStatus_t structural = cusparseXcsric02_zeroPivot(s.handle, s.factor_info, &position);
  MECH_CHECK(structural != CUSPARSE_STATUS_ZERO_PIVOT,
             "neurlp cusparse: csric02's analysis found a structural zero pivot at row {} (the CSR pattern "
             "must store every diagonal)", position);
  MECH_CUSPARSE_CHECK(structural);

  // SpSV: L (lower, non-unit diagonal) applied as is and transposed; one analysis each.
  MECH_CUSPARSE_CHECK(cusparseCreateCsr(&s.matrix, rows, rows, nonzeros, pointer<void>(s.row_offsets),
                                        pointer<void>(s.columns), pointer<void>(s.factor), CUSPARSE_INDEX_32I,
                                        CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, data_type<T>()));
  cusparseFillMode_t fill = CUSPARSE_FILL_MODE_LOWER;
  cusparseDiagType_t diagonal = CUSPARSE_DIAG_TYPE_NON_UNIT;
  MECH_CUSPARSE_CHECK(cusparseSpMatSetAttribute(s.matrix, CUSPARSE_SPMAT_FILL_MODE, &fill, sizeof(fill)));
  MECH_CUSPARSE_CHECK(cusparseSpMatSetAttribute(s.matrix, CUSPARSE_SPMAT_DIAG_TYPE, &diagonal, sizeof(diagonal)));
  MECH_CUSPARSE_CHECK(cusparseCreateDnVec(&s.right_vector, rows, pointer<void>(s.right), data_type<T>()));
  MECH_CUSPARSE_CHECK(cusparseCreateDnVec(&s.middle_vector, rows, pointer<void>(s.middle), data_type<T>()));
  MECH_CUSPARSE_CHECK(cusparseCreateDnVec(&s.result_vector, rows, pointer<void>(s.result), data_type<T>()));
  MECH_CUSPARSE_CHECK(cusparseSpSV_createDescr(&s.lower));
  MECH_CUSPARSE_CHECK(cusparseSpSV_createDescr(&s.upper));
  const T one = T(1);
  std::size_t lower_bytes = 0, upper_bytes = 0;
  MECH_CUSPARSE_CHECK(cusparseSpSV_bufferSize(s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, s.matrix,
                                              s.right_vector, s.middle_vector, data_type<T>(),
                                              CUSPARSE_SPSV_ALG_DEFAULT, s.lower, &lower_bytes));
  MECH_CUSPARSE_CHECK(cusparseSpSV_bufferSize(s.handle, CUSPARSE_OPERATION_TRANSPOSE, &one, s.matrix,
                                              s.middle_vector, s.result_vector, data_type<T>(),
                                              CUSPARSE_SPSV_ALG_DEFAULT, s.upper, &upper_bytes));
  // The external buffers must outlive every solve with these descriptors: the state keeps them.
  s.lower_buffer = device_buffer(lower_bytes, device);
  s.upper_buffer = device_buffer(upper_bytes, device);
  MECH_CUSPARSE_CHECK(cusparseSpSV_analysis(s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, s.matrix,
                                            s.right_vector, s.middle_vector, data_type<T>(),
                                            CUSPARSE_SPSV_ALG_DEFAULT, s.lower, pointer<void>(s.lower_buffer)));
  MECH_CUSPARSE_CHECK(cusparseSpSV_analysis(s.handle, CUSPARSE_OPERATION_TRANSPOSE, &one, s.matrix,
                                            s.middle_vector, s.result_vector, data_type<T>(),
                                            CUSPARSE_SPSV_ALG_DEFAULT, s.upper, pointer<void>(s.upper_buffer)));
  MECH_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(device)));
}

template <class T>
CusparseSolver<T>::~CusparseSolver() = default;

template <class T>
const CsrLayout& CusparseSolver<T>::layout() const {
  return state_->layout;
}

template <class T>
std::int64_t CusparseSolver<T>::bytes() const {
  const State& s = *state_;
  return static_cast<std::int64_t>(s.row_offsets.bytes() + s.columns.bytes() + s.factor.bytes() + s.right.bytes() +
                                   s.middle.bytes() + s.result.bytes() + s.factor_buffer.bytes() +
                                   s.lower_buffer.bytes() + s.upper_buffer.bytes());
}

template <class T>
void CusparseSolver<T>::solve(const T* values, const T* rhs, T* solution) {
  State& s = *state_;
  MECH_CHECK(values != nullptr && rhs != nullptr && solution != nullptr,
             "neurlp cusparse: solve needs the values, the right-hand side and the solution (device arrays)");
  const cuda::DeviceGuard guard(s.device);
  const cudaStream_t queue = cuda::stream(s.device);
  const int rows = static_cast<int>(s.layout.rows());
  const int nonzeros = static_cast<int>(s.layout.nonzeros());
  // csric02 factors in place: on the solver's copy, so that the caller's M' survives.
  MECH_CUDA_CHECK(cudaMemcpyAsync(pointer<void>(s.factor), values, s.factor.bytes(), cudaMemcpyDeviceToDevice, queue));
  MECH_CUDA_CHECK(cudaMemcpyAsync(pointer<void>(s.right), rhs, s.right.bytes(), cudaMemcpyDeviceToDevice, queue));
  MECH_CUSPARSE_CHECK(csric02_factor(s.handle, rows, nonzeros, s.legacy_descr, pointer<T>(s.factor),
                                     pointer<int>(s.row_offsets), pointer<int>(s.columns), s.factor_info,
                                     pointer<void>(s.factor_buffer)));
  int position = -1;
  const cusparseStatus_t pivot = cusparseXcsric02_zeroPivot(s.handle, s.factor_info, &position);
  if (pivot == CUSPARSE_STATUS_ZERO_PIVOT) {
    const long b = static_cast<long>(position / s.layout.system_rows);
    const int local = position % s.layout.system_rows;
    const int m = s.sizes.block();
    const std::string unknown =
        local == s.layout.unknowns
            ? std::string("the eps row")
            : fmt::format("u[t={}][d={}][k={}]", local / m, (local % m) / s.sizes.K, local % s.sizes.K);
    throw SolverError(fmt::format("neurlp cusparse: batch element {}: csric02 found a zero pivot at {} (row {} of "
                                  "the batch's CSR matrix): the system is singular",
                                  b, unknown, position),
                      b);
  }
  MECH_CUSPARSE_CHECK(pivot);
  // SpSV's analysis may have copied or rearranged the values (the transposed solve in particular):
  // hand it the new factor. Should a cuSPARSE version not support the update for a descriptor, the
  // analysis is run again instead (correct, only slower: the timing then includes it).
  const T one = T(1);
  const auto refresh = [&](cusparseSpSVDescr_t descr, cusparseOperation_t operation, cusparseDnVecDescr_t in,
                           cusparseDnVecDescr_t out, void* buffer) {
    const cusparseStatus_t updated =
        cusparseSpSV_updateMatrix(s.handle, descr, pointer<void>(s.factor), CUSPARSE_SPSV_UPDATE_GENERAL);
    if (updated != CUSPARSE_STATUS_NOT_SUPPORTED) {
      MECH_CUSPARSE_CHECK(updated);
      return;
    }
    MECH_CUSPARSE_CHECK(cusparseSpSV_analysis(s.handle, operation, &one, s.matrix, in, out, data_type<T>(),
                                              CUSPARSE_SPSV_ALG_DEFAULT, descr, buffer));
  };
  refresh(s.lower, CUSPARSE_OPERATION_NON_TRANSPOSE, s.right_vector, s.middle_vector, pointer<void>(s.lower_buffer));
  refresh(s.upper, CUSPARSE_OPERATION_TRANSPOSE, s.middle_vector, s.result_vector, pointer<void>(s.upper_buffer));
  MECH_CUSPARSE_CHECK(cusparseSpSV_solve(s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, s.matrix, s.right_vector,
                                         s.middle_vector, data_type<T>(), CUSPARSE_SPSV_ALG_DEFAULT, s.lower));
  MECH_CUSPARSE_CHECK(cusparseSpSV_solve(s.handle, CUSPARSE_OPERATION_TRANSPOSE, &one, s.matrix, s.middle_vector,
                                         s.result_vector, data_type<T>(), CUSPARSE_SPSV_ALG_DEFAULT, s.upper));
  MECH_CUDA_CHECK(
      cudaMemcpyAsync(solution, pointer<void>(s.result), s.result.bytes(), cudaMemcpyDeviceToDevice, queue));
}

template class CusparseSolver<float>;
template class CusparseSolver<double>;

}  // namespace mech::neurlp_gpu
