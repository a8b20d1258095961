// CPU batched matrix multiply: a cache-blocked, packed GEMM (the GotoBLAS loop structure) with a
// register-tiled SIMD micro-kernel, parallel over batch entries and row/column tiles.
//
// Loop nest for one C tile (rows [m0, m1), columns [n0, n1)):
//   for jc in columns step NC:       B block  (KC x NC)  packed into NR-wide panels  (L3)
//     for pc in depth step KC:
//       for ic in rows step MC:      A block  (MC x KC)  packed into MR-tall panels  (L2)
//         for jr step NR, ir step MR: micro-kernel: C[MR x NR] (+)= A panel * B panel (registers)
// Packing reads a and b through their strides, so transposed or sliced operands cost nothing extra.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_gemm.h"
#include "core/cpu_kernels.h"
#include "core/parallel.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace mech::cpu {

namespace {

// SIMD traits: Vector type, lanes, load/store/broadcast/fused multiply-add, and the micro-tile
// height MR chosen so that MR x 2 accumulators plus operands fit the register file.
template <class T> struct Simd;

#if defined(__AVX512F__)
// 32 zmm registers: 12 x 2 accumulators + 2 B vectors + 1 broadcast.
template <> struct Simd<float> {
  using Vector = __m512;
  static constexpr int kLanes = 16, kRows = 12;
  static Vector zero() { return _mm512_setzero_ps(); }
  static Vector load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vector v) { _mm512_storeu_ps(p, v); }
  static Vector broadcast(float v) { return _mm512_set1_ps(v); }
  static Vector fma(Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); }
};
template <> struct Simd<double> {
  using Vector = __m512d;
  static constexpr int kLanes = 8, kRows = 12;
  static Vector zero() { return _mm512_setzero_pd(); }
  static Vector load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Vector v) { _mm512_storeu_pd(p, v); }
  static Vector broadcast(double v) { return _mm512_set1_pd(v); }
  static Vector fma(Vector a, Vector b, Vector c) { return _mm512_fmadd_pd(a, b, c); }
};
#elif defined(__AVX2__) && defined(__FMA__)
// 16 ymm registers: 6 x 2 accumulators + 2 B vectors + 1 broadcast.
template <> struct Simd<float> {
  using Vector = __m256;
  static constexpr int kLanes = 8, kRows = 6;
  static Vector zero() { return _mm256_setzero_ps(); }
  static Vector load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vector v) { _mm256_storeu_ps(p, v); }
  static Vector broadcast(float v) { return _mm256_set1_ps(v); }
  static Vector fma(Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); }
};
template <> struct Simd<double> {
  using Vector = __m256d;
  static constexpr int kLanes = 4, kRows = 6;
  static Vector zero() { return _mm256_setzero_pd(); }
  static Vector load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, Vector v) { _mm256_storeu_pd(p, v); }
  static Vector broadcast(double v) { return _mm256_set1_pd(v); }
  static Vector fma(Vector a, Vector b, Vector c) { return _mm256_fmadd_pd(a, b, c); }
};
#else
// Portable fallback: GCC/Clang vector extensions, 16 bytes (SSE2 / NEON width).
template <class T> struct PortableSimd {
  using Vector [[gnu::vector_size(16)]] = T;
  static constexpr int kLanes = 16 / sizeof(T), kRows = 4;
  static Vector zero() { return Vector{}; }
  static Vector load(const T* p) { Vector v; std::memcpy(&v, p, sizeof v); return v; }
  static void store(T* p, Vector v) { std::memcpy(p, &v, sizeof v); }
  static Vector broadcast(T v) { return Vector{} + v; }
  static Vector fma(Vector a, Vector b, Vector c) { return a * b + c; }
};
template <> struct Simd<float> : PortableSimd<float> {};
template <> struct Simd<double> : PortableSimd<double> {};
#endif

// Block sizes in elements. KC x NR of B (one micro-panel) stays in L1, MC x KC of A in L2.
constexpr std::int64_t kDepthBlock = 256;   // KC
constexpr std::int64_t kRowBlockPanels = 16; // MC = 16 * MR
constexpr std::int64_t kColumnBlock = 2048; // NC

// Below this many multiply-adds per matrix the packing costs more than it saves.
constexpr std::int64_t kSmallWork = 16 * 16 * 16;

// One operand matrix: a pointer and element strides, or one pointer per row (core/cpu_gemm.h).
template <class T>
using Matrix = GemmOperand<T>;

// Packs rows [row0, row0 + rows) x depth [p0, p0 + depth) of A into MR-tall panels:
// panel r holds, for each p, MR consecutive values (zero past the last row).
template <class T>
void pack_a(const Matrix<T>& a, std::int64_t row0, std::int64_t rows, std::int64_t p0, std::int64_t depth, T* out) {
  constexpr std::int64_t MR = Simd<T>::kRows;
  for (std::int64_t panel = 0; panel < rows; panel += MR) {
    const std::int64_t height = std::min(MR, rows - panel);
    const T* sources[MR];
    for (std::int64_t r = 0; r < height; ++r) sources[r] = a.row(row0 + panel + r) + p0 * a.column_stride;
    if (height == MR) {
      // A whole panel: a fixed count, so the copy unrolls (the variable one compared per row).
      for (std::int64_t p = 0; p < depth; ++p) {
        T* dst = out + panel * depth + p * MR;
        const std::int64_t column = p * a.column_stride;
#pragma GCC unroll 16
        for (std::int64_t r = 0; r < MR; ++r) dst[r] = sources[r][column];
      }
      continue;
    }
    for (std::int64_t p = 0; p < depth; ++p) {
      T* dst = out + panel * depth + p * MR;
      const std::int64_t column = p * a.column_stride;
      std::int64_t r = 0;
      for (; r < height; ++r) dst[r] = sources[r][column];
      for (; r < MR; ++r) dst[r] = T(0);
    }
  }
}

// Packs depth [p0, p0 + depth) x columns [col0, col0 + columns) of B into NR-wide panels:
// panel c holds, for each p, NR consecutive values (zero past the last column).
template <class T>
void pack_b(const Matrix<T>& b, std::int64_t p0, std::int64_t depth, std::int64_t col0, std::int64_t columns,
            T* out) {
  constexpr std::int64_t NR = 2 * Simd<T>::kLanes;
  for (std::int64_t panel = 0; panel < columns; panel += NR) {
    const std::int64_t width = std::min(NR, columns - panel);
    for (std::int64_t p = 0; p < depth; ++p) {
      T* dst = out + panel * depth + p * NR;
      const T* src = b.row(p0 + p) + (col0 + panel) * b.column_stride;
      if (b.column_stride == 1 && width == NR) {
        // A fixed size: two vector moves. With the size a variable GCC called rep movs, whose
        // start-up cost per 64 bytes was 15% of a KdV convolution's time.
        std::memcpy(dst, src, NR * sizeof(T));
      } else if (b.column_stride == 1) {
        std::memcpy(dst, src, static_cast<std::size_t>(width) * sizeof(T));
      } else {
        for (std::int64_t c = 0; c < width; ++c) dst[c] = src[c * b.column_stride];
      }
      for (std::int64_t c = width; c < NR; ++c) dst[c] = T(0);
    }
  }
}

// C[MR x NR] = (or +=) packed A panel x packed B panel over `depth`; writes only rows x columns.
template <class T>
void micro_kernel(std::int64_t depth, const T* a, const T* b, T* c, std::int64_t ldc, bool accumulate,
                  std::int64_t rows, std::int64_t columns) {
  using S = Simd<T>;
  using V = typename S::Vector;
  constexpr int MR = S::kRows;
  constexpr int L = S::kLanes;
  V acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = S::zero();
  for (std::int64_t p = 0; p < depth; ++p) {
    const V b0 = S::load(b + p * 2 * L);
    const V b1 = S::load(b + p * 2 * L + L);
    const T* ap = a + p * MR;
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai = S::broadcast(ap[i]);
      acc0[i] = S::fma(ai, b0, acc0[i]);
      acc1[i] = S::fma(ai, b1, acc1[i]);
    }
  }
  if (rows == MR && columns == 2 * L) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      T* row = c + i * ldc;
      if (accumulate) {
        S::store(row, S::load(row) + acc0[i]);
        S::store(row + L, S::load(row + L) + acc1[i]);
      } else {
        S::store(row, acc0[i]);
        S::store(row + L, acc1[i]);
      }
    }
    return;
  }
  // Edge tile: spill to a buffer, then write the valid part.
  alignas(64) T tile[MR * 2 * L];
  for (int i = 0; i < MR; ++i) {
    S::store(tile + i * 2 * L, acc0[i]);
    S::store(tile + i * 2 * L + L, acc1[i]);
  }
  for (std::int64_t i = 0; i < rows; ++i) {
    T* row = c + i * ldc;
    const T* values = tile + i * 2 * L;
    if (accumulate) {
      for (std::int64_t j = 0; j < columns; ++j) row[j] += values[j];
    } else {
      for (std::int64_t j = 0; j < columns; ++j) row[j] = values[j];
    }
  }
}

// Per-thread packing buffers, reused across calls.
template <class T>
std::vector<T>& thread_buffer(int which) {
  static thread_local std::vector<T> buffers[2];
  return buffers[which];
}

// C[m0:m1, n0:n1] = A[m0:m1, :] B[:, n0:n1] (added to C when `accumulate`), C row-major with
// leading dimension ldc.
template <class T>
void gemm_tile(const Matrix<T>& a, const Matrix<T>& b, T* c, std::int64_t ldc, std::int64_t m0, std::int64_t m1,
               std::int64_t n0, std::int64_t n1, std::int64_t k, bool accumulate = false) {
  constexpr std::int64_t MR = Simd<T>::kRows;
  constexpr std::int64_t NR = 2 * Simd<T>::kLanes;
  constexpr std::int64_t MC = kRowBlockPanels * MR;
  if (k == 0) {
    if (accumulate) return;
    for (std::int64_t i = m0; i < m1; ++i) std::fill(c + i * ldc + n0, c + i * ldc + n1, T(0));
    return;
  }
  std::vector<T>& packed_a = thread_buffer<T>(0);
  std::vector<T>& packed_b = thread_buffer<T>(1);
  const std::int64_t max_columns = std::min(kColumnBlock, n1 - n0);
  const std::int64_t max_depth = std::min(kDepthBlock, k);
  packed_b.resize(static_cast<std::size_t>((max_columns + NR - 1) / NR * NR * max_depth));
  packed_a.resize(static_cast<std::size_t>(std::min(MC, (m1 - m0 + MR - 1) / MR * MR) * max_depth));
  for (std::int64_t jc = n0; jc < n1; jc += kColumnBlock) {
    const std::int64_t columns = std::min(kColumnBlock, n1 - jc);
    for (std::int64_t pc = 0; pc < k; pc += kDepthBlock) {
      const std::int64_t depth = std::min(kDepthBlock, k - pc);
      pack_b(b, pc, depth, jc, columns, packed_b.data());
      for (std::int64_t ic = m0; ic < m1; ic += MC) {
        const std::int64_t rows = std::min(MC, m1 - ic);
        pack_a(a, ic, rows, pc, depth, packed_a.data());
        for (std::int64_t jr = 0; jr < columns; jr += NR) {
          for (std::int64_t ir = 0; ir < rows; ir += MR) {
            micro_kernel<T>(depth, packed_a.data() + ir * depth, packed_b.data() + jr * depth,
                            c + (ic + ir) * ldc + jc + jr, ldc, accumulate || pc > 0, std::min(MR, rows - ir),
                            std::min(NR, columns - jr));
          }
        }
      }
    }
  }
}

// scale * b + sum for the scalar loops below, rounded once where the target has fused
// multiply-add: GCC contracts the plain expression in some loop shapes and not in others
// (measured: the register-blocked loop stayed unfused), and the tiny-product paths must give the
// same bits as they always did, so the fusion is spelled out.
template <class T>
inline T multiply_add(T scale, T b, T sum) {
#if defined(__FMA__)
  return std::fma(scale, b, sum);
#else
  return scale * b + sum;
#endif
}

// Tiny products: a plain loop, i-p-j so the inner loop streams a row of B. Each row of C is
// accumulated in a local array, 16 columns at a time: accumulating in C itself made every
// multiply-add wait for the previous one's store (C may alias A or B as far as the compiler
// knows), about 5x slower for the skinny products of mech-lorenz. The summation order over p is
// the same either way.
template <class T>
void gemm_small(const Matrix<T>& a, const Matrix<T>& strided_b, T* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  // A small B read across its columns at a stride (a transposed weight, say) is copied into rows
  // first, so that the inner loop streams it: the same values, the same sums.
  constexpr std::int64_t kCopyLimit = 256;
  T copied[kCopyLimit];
  Matrix<T> b = strided_b;
  if (b.column_stride != 1 && b.rows == nullptr && k * n <= kCopyLimit && m > 1) {
    for (std::int64_t p = 0; p < k; ++p)
      for (std::int64_t j = 0; j < n; ++j) copied[p * n + j] = strided_b.at(p, j);
    b = Matrix<T>{copied, n, 1};
  }
  constexpr std::int64_t kColumns = 16;
  T sums[kColumns];
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j0 = 0; j0 < n; j0 += kColumns) {
      const std::int64_t width = std::min(kColumns, n - j0);
      for (std::int64_t j = 0; j < width; ++j) sums[j] = T(0);
      for (std::int64_t p = 0; p < k; ++p) {
        const T scale = a.at(i, p);
        const T* brow = b.data + p * b.row_stride + j0 * b.column_stride;
        for (std::int64_t j = 0; j < width; ++j) sums[j] = multiply_add(scale, brow[j * b.column_stride], sums[j]);
      }
      std::copy(sums, sums + width, c + i * n + j0);
    }
  }
}

// Tiny products with at most 4 columns (mech-lorenz multiplies each window's library by its
// coefficients, 51 x 10 times 10 x 3, 80 times an epoch): with N fixed at compile time the N sums
// of 4 rows at a time stay in registers and 4N independent chains overlap (6x gemm_small's
// speed there). Sums run over p in order from zero with the same operations as gemm_small, so
// the results are the same bits. (Not used for the larger products of gemm_tile: its fused
// multiply-adds round differently.)
template <int N, class T>
void gemm_narrow(const Matrix<T>& a, const Matrix<T>& b, T* c, std::int64_t m, std::int64_t k) {
  constexpr int kRows = 4;
  std::int64_t i = 0;
  for (; i + kRows <= m; i += kRows) {
    T sums[kRows][N] = {};
    for (std::int64_t p = 0; p < k; ++p) {
      T column[N];
      for (int j = 0; j < N; ++j) column[j] = b.at(p, j);
      for (int r = 0; r < kRows; ++r) {
        const T scale = a.at(i + r, p);
        for (int j = 0; j < N; ++j) sums[r][j] = multiply_add(scale, column[j], sums[r][j]);
      }
    }
    for (int r = 0; r < kRows; ++r)
      for (int j = 0; j < N; ++j) c[(i + r) * N + j] = sums[r][j];
  }
  for (; i < m; ++i) {
    T sums[N] = {};
    for (std::int64_t p = 0; p < k; ++p) {
      const T scale = a.at(i, p);
      for (int j = 0; j < N; ++j) sums[j] = multiply_add(scale, b.at(p, j), sums[j]);
    }
    for (int j = 0; j < N; ++j) c[i * N + j] = sums[j];
  }
}

// gemm_narrow for n in 1..4; false (nothing done) for wider products.
template <class T>
bool gemm_narrow_any(const Matrix<T>& a, const Matrix<T>& b, T* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  switch (n) {
    case 1: gemm_narrow<1>(a, b, c, m, k); return true;
    case 2: gemm_narrow<2>(a, b, c, m, k); return true;
    case 3: gemm_narrow<3>(a, b, c, m, k); return true;
    case 4: gemm_narrow<4>(a, b, c, m, k); return true;
    default: return false;
  }
}

// a (batch, m, k), b (batch, k, n), out (batch, m, n) contiguous. B batch, m/n/k matrix sizes.
template <class T>
void matmul_typed(const Tensor& a, const Tensor& b, const Tensor& out) {
  const std::int64_t batch = out.shape()[0], m = out.shape()[1], n = out.shape()[2], k = a.shape()[2];
  if (batch == 0 || m == 0 || n == 0) return;
  const T* a_data = a.data_ptr<T>();
  const T* b_data = b.data_ptr<T>();
  T* c_data = out.data_ptr<T>();
  const std::int64_t work = m * n * std::max<std::int64_t>(k, 1);
  // Few columns and a short inner dimension (n <= 4, k <= 64) or little work per row (n k <= 64):
  // the packed tiles would be mostly padding or packing, so the plain loops run every size, split
  // over threads by row blocks (a stack of Lorenz windows' libraries times their coefficients,
  // folded into one 5049 x 10 times 10 x 3 product, and its gradients). Each row's sums are the
  // same either way.
  if ((n <= 4 && k <= 64) || n * k <= 64) {
    constexpr std::int64_t kRowBlock = 64;
    const std::int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
    const std::int64_t block_work = kRowBlock * n * std::max<std::int64_t>(k, 1);
    parallel_for(0, batch * blocks, std::max<std::int64_t>(1, (1 << 16) / block_work),
                 [&](std::int64_t begin, std::int64_t end) {
                   for (std::int64_t item = begin; item < end; ++item) {
                     const std::int64_t entry = item / blocks, first = item % blocks * kRowBlock;
                     const std::int64_t rows = std::min(kRowBlock, m - first);
                     const Matrix<T> a_rows{a_data + entry * a.strides()[0] + first * a.strides()[1], a.strides()[1],
                                            a.strides()[2]};
                     const Matrix<T> b_matrix{b_data + entry * b.strides()[0], b.strides()[1], b.strides()[2]};
                     T* c_rows = c_data + entry * m * n + first * n;
                     if (!gemm_narrow_any(a_rows, b_matrix, c_rows, rows, n, k)) gemm_small(a_rows, b_matrix, c_rows, rows, n, k);
                   }
                 });
    return;
  }
  // Split each matrix into `splits` tiles along its longer side when the batch alone cannot
  // occupy every thread; tiles are independent (each packs what it needs), so no barriers.
  const std::int64_t threads = get_num_threads();
  std::int64_t splits = 1;
  const bool split_rows = m >= n;
  if (batch < threads && work >= 64 * 64 * 64) {
    const std::int64_t unit = split_rows ? Simd<T>::kRows : 2 * Simd<T>::kLanes;
    const std::int64_t length = split_rows ? m : n;
    splits = std::clamp<std::int64_t>((length + unit - 1) / unit, 1, threads);
  }
  const std::int64_t grain = std::max<std::int64_t>(1, (1 << 18) / work);
  parallel_for(0, batch * splits, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t entry = item / splits, part = item % splits;
      const Matrix<T> a_matrix{a_data + entry * a.strides()[0], a.strides()[1], a.strides()[2]};
      const Matrix<T> b_matrix{b_data + entry * b.strides()[0], b.strides()[1], b.strides()[2]};
      T* c_matrix = c_data + entry * m * n;
      if (splits == 1 && work <= kSmallWork) {
        if (!gemm_narrow_any(a_matrix, b_matrix, c_matrix, m, n, k)) gemm_small(a_matrix, b_matrix, c_matrix, m, n, k);
        continue;
      }
      // Tile boundaries rounded to whole micro-tiles so no two tiles share one.
      const std::int64_t unit = split_rows ? Simd<T>::kRows : 2 * Simd<T>::kLanes;
      const std::int64_t length = split_rows ? m : n;
      const std::int64_t units = (length + unit - 1) / unit;
      const std::int64_t from = std::min(length, units * part / splits * unit);
      const std::int64_t to = std::min(length, units * (part + 1) / splits * unit);
      if (split_rows) gemm_tile(a_matrix, b_matrix, c_matrix, n, from, to, 0, n, k);
      else gemm_tile(a_matrix, b_matrix, c_matrix, n, 0, m, from, to, k);
    }
  });
}

}  // namespace

template <class T>
void gemm(const GemmOperand<T>& a, const GemmOperand<T>& b, T* c, std::int64_t ldc, std::int64_t m, std::int64_t n,
          std::int64_t k, bool accumulate) {
  if (m > 0 && n > 0) gemm_tile(a, b, c, ldc, 0, m, 0, n, k, accumulate);
}

template void gemm<float>(const GemmOperand<float>&, const GemmOperand<float>&, float*, std::int64_t, std::int64_t,
                          std::int64_t, std::int64_t, bool);
template void gemm<double>(const GemmOperand<double>&, const GemmOperand<double>&, double*, std::int64_t,
                           std::int64_t, std::int64_t, std::int64_t, bool);

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  MECH_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3 && a.shape()[0] == out.shape()[0] &&
                 b.shape()[0] == out.shape()[0] && a.shape()[1] == out.shape()[1] && b.shape()[2] == out.shape()[2] &&
                 a.shape()[2] == b.shape()[1] && out.is_contiguous(),
             "matmul kernel: expected a (batch, m, k), b (batch, k, n) and a contiguous out (batch, m, n), got {}, {} "
             "and {}",
             shape_str(a.shape()), shape_str(b.shape()), shape_str(out.shape()));
  MECH_DISPATCH_FLOAT(out.dtype(), "matmul", [&]<class T>() { matmul_typed<T>(a, b, out); });
}

}  // namespace mech::cpu
