// The packed GEMM of core/cpu_matmul.cpp for CPU kernels that describe an operand by one pointer
// per row instead of a strided matrix: conv1d's unfolded input is a set of shifted rows of one
// padded buffer, so the GEMM's packing reads it in place and no im2col matrix is written.
#pragma once

#include <cstdint>

namespace mech::cpu {

// One GEMM operand: element (row, column) is rows[row][column * column_stride] when `rows` is set,
// else data[row * row_stride + column * column_stride].
template <class T>
struct GemmOperand {
  const T* data = nullptr;
  std::int64_t row_stride = 0;
  std::int64_t column_stride = 1;
  const T* const* rows = nullptr;

  const T* row(std::int64_t index) const { return rows != nullptr ? rows[index] : data + index * row_stride; }
  const T& at(std::int64_t index, std::int64_t column) const { return row(index)[column * column_stride]; }
};

// c[m x n] (row-major, leading dimension ldc) = a[m x k] b[k x n], added to c's values when
// `accumulate`. One thread: callers parallelise over independent products or tiles of c.
template <class T>
void gemm(const GemmOperand<T>& a, const GemmOperand<T>& b, T* c, std::int64_t ldc, std::int64_t m, std::int64_t n,
          std::int64_t k, bool accumulate);

extern template void gemm<float>(const GemmOperand<float>&, const GemmOperand<float>&, float*, std::int64_t,
                                 std::int64_t, std::int64_t, std::int64_t, bool);
extern template void gemm<double>(const GemmOperand<double>&, const GemmOperand<double>&, double*, std::int64_t,
                                  std::int64_t, std::int64_t, std::int64_t, bool);

}  // namespace mech::cpu
