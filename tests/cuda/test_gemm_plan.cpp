// The row-major -> column-major cuBLAS mapping of matmul (cuda/gemm_plan.h), checked on the CPU:
// each plan is executed by a reference column-major strided-batched GEMM written from cuBLAS's
// documented semantics, and must reproduce the naive row-major product for contiguous,
// transposed, padded (leading dimension > size), broadcast-batch and degenerate operands.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/gemm_plan.h"

namespace mech::cuda::gemm {
namespace {

// cuBLAS: C[i + j*ldc] = sum_p op(A)[i][p] op(B)[p][j] for column-major A, B, C, per batch.
void reference_gemm(const Plan& plan, std::int64_t batch, const double* a_data, const double* b_data,
                    double* c_data) {
  for (std::int64_t s = 0; s < batch; ++s) {
    const double* A = a_data + s * plan.stride_a;
    const double* B = b_data + s * plan.stride_b;
    double* C = c_data + s * plan.stride_c;
    for (std::int64_t i = 0; i < plan.m; ++i) {
      for (std::int64_t j = 0; j < plan.n; ++j) {
        double total = 0;
        for (std::int64_t p = 0; p < plan.k; ++p) {
          const double a = plan.transpose_a ? A[p + i * plan.lda] : A[i + p * plan.lda];
          const double b = plan.transpose_b ? B[j + p * plan.ldb] : B[p + j * plan.ldb];
          total += a * b;
        }
        C[i + j * plan.ldc] = total;
      }
    }
  }
}

struct Matrix {
  std::vector<double> storage;
  std::int64_t strides[3];
  double at(std::int64_t s, std::int64_t r, std::int64_t c) const {
    return storage[s * strides[0] + r * strides[1] + c * strides[2]];
  }
};

// A (batch, rows, cols) operand stored with the given strides, filled with random values.
Matrix make_matrix(std::int64_t batch, std::int64_t rows, std::int64_t cols, std::int64_t s0, std::int64_t s1,
                   std::int64_t s2, std::mt19937& random) {
  Matrix matrix{{}, {s0, s1, s2}};
  const std::int64_t extent = (batch - 1) * s0 + (rows - 1) * s1 + (cols - 1) * s2 + 1;
  std::normal_distribution<double> normal;
  matrix.storage.resize(static_cast<std::size_t>(extent));
  for (auto& value : matrix.storage) value = normal(random);
  return matrix;
}

void expect_plan_computes_product(std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n,
                                  const Matrix& a, const Matrix& b) {
  Plan plan;
  bool a_usable = false, b_usable = false;
  ASSERT_TRUE(make_plan(m, k, n, a.strides, b.strides, plan, a_usable, b_usable));
  // Legal leading dimensions, as cuBLAS checks them.
  EXPECT_GE(plan.lda, std::max<std::int64_t>(1, plan.transpose_a ? plan.k : plan.m));
  EXPECT_GE(plan.ldb, std::max<std::int64_t>(1, plan.transpose_b ? plan.n : plan.k));
  EXPECT_GE(plan.ldc, std::max<std::int64_t>(1, plan.m));
  std::vector<double> out(static_cast<std::size_t>(batch * m * n), -1.0);
  reference_gemm(plan, batch, b.storage.data(), a.storage.data(), out.data());
  for (std::int64_t s = 0; s < batch; ++s) {
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        double want = 0;
        for (std::int64_t p = 0; p < k; ++p) want += a.at(s, i, p) * b.at(s, p, j);
        ASSERT_NEAR(out[static_cast<std::size_t>((s * m + i) * n + j)], want, 1e-12)
            << "batch " << s << " row " << i << " col " << j;
      }
    }
  }
}

TEST(CudaGemmPlan, ContiguousTransposedAndPadded) {
  std::mt19937 random(3);
  const std::int64_t B = 2, m = 3, k = 4, n = 5;
  // a: contiguous, transposed (column-major), padded rows; b likewise; all combinations.
  const std::vector<std::array<std::int64_t, 3>> a_layouts{{m * k, k, 1}, {m * k, 1, m}, {m * 7, 7, 1}, {k * 6, 1, 6}};
  const std::vector<std::array<std::int64_t, 3>> b_layouts{{k * n, n, 1}, {k * n, 1, k}, {k * 9, 9, 1}, {n * 5, 1, 5}};
  for (const auto& al : a_layouts) {
    for (const auto& bl : b_layouts) {
      const Matrix a = make_matrix(B, m, k, al[0], al[1], al[2], random);
      const Matrix b = make_matrix(B, k, n, bl[0], bl[1], bl[2], random);
      expect_plan_computes_product(B, m, k, n, a, b);
    }
  }
}

TEST(CudaGemmPlan, BroadcastBatchAndDegenerateSizes) {
  std::mt19937 random(4);
  // A weight shared over the batch (batch stride 0), as matmul(x, W) with x (B, m, k) produces.
  expect_plan_computes_product(3, 2, 4, 3, make_matrix(3, 2, 4, 8, 4, 1, random), make_matrix(3, 4, 3, 0, 3, 1, random));
  // Vectors: m = 1, n = 1, k = 1, with arbitrary strides on the size-1 dims.
  expect_plan_computes_product(2, 1, 4, 1, make_matrix(2, 1, 4, 4, 100, 1, random), make_matrix(2, 4, 1, 4, 1, 100, random));
  expect_plan_computes_product(2, 3, 1, 2, make_matrix(2, 3, 1, 3, 1, 0, random), make_matrix(2, 1, 2, 2, 0, 1, random));
}

TEST(CudaGemmPlan, RefusesLayoutsCublasCannotTake) {
  Plan plan;
  bool a_usable = true, b_usable = true;
  // Non-unit strides in both matrix dims (a slice with step 2 of both).
  const std::int64_t a_strides[3] = {0, 8, 2};
  const std::int64_t b_strides[3] = {20, 5, 1};
  EXPECT_FALSE(make_plan(3, 4, 5, a_strides, b_strides, plan, a_usable, b_usable));
  EXPECT_FALSE(a_usable);
  EXPECT_TRUE(b_usable);
  // A row-broadcast operand (row stride 0 with several rows) overlaps rows: not a GEMM layout.
  const std::int64_t broadcast_rows[3] = {0, 0, 1};
  EXPECT_FALSE(make_plan(3, 4, 5, b_strides, broadcast_rows, plan, a_usable, b_usable));
  EXPECT_FALSE(b_usable);
}

}  // namespace
}  // namespace mech::cuda::gemm
