// How a row-major batched product out = a @ b maps onto one column-major cuBLAS
// strided-batched GEMM without copies, and when it cannot. Pure host logic, tested on the CPU
// (tests/cuda/test_gemm_plan.cpp) by running the plan through a reference column-major GEMM.
//
// cuBLAS is column-major, and a row-major (m, n) matrix is the column-major (n, m) matrix of its
// transpose, so out^T = b^T a^T is computed: cuBLAS's "A" is our b, its "B" is our a, its
// (M, N, K) = (n, m, k), and out (contiguous) is column-major (n, m) with ldc = n.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mech::cuda::gemm {

// One operand, a row-major (rows, cols) matrix with element strides (row_stride, col_stride), as
// cuBLAS sees it after the overall transpose: either its transpose is stored column-major
// (transpose == false: the data is row-major compatible, leading dimension = row stride) or the
// matrix itself is (transpose == true: column-major compatible, leading dimension = col stride).
struct Operand {
  bool usable = false;    // false: the strides fit neither layout; make a contiguous copy
  bool transpose = false;
  std::int64_t leading_dimension = 1;
};

inline Operand plan_operand(std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
                            std::int64_t col_stride) {
  // Row-major compatible: consecutive columns adjacent, rows at least a row apart. A size-1 dim's
  // stride is irrelevant and only has to keep the leading dimension legal.
  if ((cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= cols)) {
    return {true, false, rows == 1 ? std::max<std::int64_t>(cols, 1) : row_stride};
  }
  if ((rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= rows)) {
    return {true, true, cols == 1 ? std::max<std::int64_t>(rows, 1) : col_stride};
  }
  return {};
}

// The whole call: cublas<t>gemmStridedBatched(handle, transa, transb, M, N, K, alpha, A, lda,
// strideA, B, ldb, strideB, beta, C, ldc, strideC, batch) with A = b's data, B = a's data.
struct Plan {
  bool transpose_a = false;  // cuBLAS's op(A), i.e. applied to our b
  bool transpose_b = false;  // cuBLAS's op(B), i.e. applied to our a
  std::int64_t m = 0, n = 0, k = 0;  // cuBLAS's M = our n, N = our m, K = k
  std::int64_t lda = 1, ldb = 1, ldc = 1;
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// a (batch, m, k) with strides a_strides, b (batch, k, n) with b_strides; out contiguous.
// Returns false when an operand needs a contiguous copy first (`a_usable` / `b_usable` say which).
inline bool make_plan(std::int64_t m, std::int64_t k, std::int64_t n, const std::int64_t a_strides[3],
                      const std::int64_t b_strides[3], Plan& plan, bool& a_usable, bool& b_usable) {
  const Operand a = plan_operand(m, k, a_strides[1], a_strides[2]);
  const Operand b = plan_operand(k, n, b_strides[1], b_strides[2]);
  a_usable = a.usable;
  b_usable = b.usable;
  if (!a.usable || !b.usable) return false;
  plan.transpose_a = b.transpose;
  plan.transpose_b = a.transpose;
  plan.m = n;
  plan.n = m;
  plan.k = k;
  plan.lda = b.leading_dimension;
  plan.ldb = a.leading_dimension;
  plan.ldc = std::max<std::int64_t>(n, 1);
  plan.stride_a = b_strides[0];
  plan.stride_b = a_strides[0];
  plan.stride_c = m * n;
  return true;
}

}  // namespace mech::cuda::gemm
