// matmul: hand-computed products, agreement of the packed kernel with a plain double-precision
// triple loop over sizes that cross every block and micro-tile edge (strided operands included),
// and NumPy's 1-D and batched-broadcast rules (the gradient checks are cases of op_cases.h).
#include <gtest/gtest.h>

#include "core/parallel.h"
#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {

// Row-major product of two 2-D tensors (any strides, any float dtype), in double.
std::vector<double> reference_product(const Tensor& a, const Tensor& b) {
  const auto m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  const auto x = a.to_vector<double>();
  const auto y = b.to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t p = 0; p < k; ++p) {
      for (std::int64_t j = 0; j < n; ++j) out[i * n + j] += x[i * k + p] * y[p * n + j];
    }
  }
  return out;
}

void expect_matches_reference(const Tensor& a, const Tensor& b, double tolerance) {
  const Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{a.shape()[0], b.shape()[1]}));
  const auto expected = reference_product(a, b);
  const auto actual = c.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::abs(expected[i] - actual[i]));
  EXPECT_LE(worst, tolerance) << "a " << shape_str(a.shape()) << " strides " << shape_str(a.strides()) << ", b "
                              << shape_str(b.shape()) << " strides " << shape_str(b.strides());
}

}  // namespace

TEST(Matmul, HandComputed2x3By3x2) {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2});
  // [1 2 3; 4 5 6] [7 8; 9 10; 11 12] = [58 64; 139 154]
  expect_values(matmul(a, b), {2, 2}, {58, 64, 139, 154});
  Tensor af = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor bf = from_vector<float>({7, 8, 9, 10, 11, 12}, {3, 2});
  expect_values(matmul(af, bf), {2, 2}, {58, 64, 139, 154}, 0.0);
}

TEST(Matmul, OneDimensionalOperandsFollowNumPy) {
  Tensor v = from_vector<double>({1, 2, 3}, {3});
  Tensor w = from_vector<double>({4, 5, 6}, {3});
  Tensor m = from_vector<double>({1, 0, 2, 1, 0, 3}, {3, 2});  // [1 0; 2 1; 0 3]
  Tensor mt = from_vector<double>({1, 2, 0, 0, 1, 3}, {2, 3});
  expect_values(matmul(v, w), {}, {32});             // dot product, a scalar
  expect_values(matmul(v, m), {2}, {5, 11});         // row vector times matrix
  expect_values(matmul(mt, v), {2}, {5, 11});        // matrix times column vector
  Tensor batch = stack({m, m * 2.0}, 0);             // (2, 3, 2)
  expect_values(matmul(v, batch), {2, 2}, {5, 11, 10, 22});
  Tensor batch_t = stack({mt, mt * 2.0}, 0);         // (2, 2, 3)
  expect_values(matmul(batch_t, v), {2, 2}, {5, 11, 10, 22});
}

TEST(Matmul, PackedKernelMatchesTripleLoopAcrossEdges) {
  // Sizes straddle MR (6/12), NR (16/32), MC (96/192) and KC (256) so that every partial tile,
  // partial panel and multi-pass accumulation path runs, in both dtypes.
  const std::vector<std::array<std::int64_t, 3>> sizes = {
      {1, 1, 1}, {3, 5, 7}, {13, 17, 33}, {12, 256, 32}, {25, 300, 49}, {200, 257, 70}, {70, 40, 300}, {1, 600, 1}};
  std::uint64_t seed = 10;
  for (const auto& [m, k, n] : sizes) {
    Tensor a = random64({m, k}, ++seed);
    Tensor b = random64({k, n}, ++seed);
    expect_matches_reference(a, b, 1e-11);
    // float32: error grows like sqrt(k) * eps * |a||b|.
    expect_matches_reference(a.to(DType::Float32), b.to(DType::Float32), 2e-4 * std::sqrt(static_cast<double>(k)));
  }
}

TEST(Matmul, StridedOperandsArePackedThroughTheirStrides) {
  Tensor base_a = random64({90, 130}, 1);
  Tensor base_b = random64({70, 150}, 2);
  // Transposed a, column-sliced b with step 2, and a narrowed window: none is contiguous.
  Tensor a = base_a.t().slice(0, 3, 120);         // (117, 90), strides (1, 130)
  Tensor b = base_b.slice(1, 0, 150, 2).t();      // (75, 70) -> need (90, n): build below
  Tensor b2 = random64({95, 90}, 3).t().narrow(1, 5, 61);  // (90, 61), column stride 90
  expect_matches_reference(a, b2, 1e-11);
  expect_matches_reference(b, base_a.narrow(0, 0, 70).narrow(1, 0, 33), 1e-11);
  expect_matches_reference(a.to(DType::Float32), b2.to(DType::Float32), 1e-3);
}

TEST(Matmul, LargeProductSplitAcrossThreadsMatchesSerial) {
  Tensor a = random64({150, 200}, 4).to(DType::Float32);
  Tensor b = random64({200, 333}, 5).to(DType::Float32);
  const int saved = get_num_threads();
  set_num_threads(1);
  const auto serial = matmul(a, b).to_vector<float>();
  set_num_threads(2);
  const auto parallel = matmul(a, b).to_vector<float>();
  set_num_threads(saved);
  // Each output element is computed by the same instruction sequence either way.
  EXPECT_EQ(serial, parallel);
  // Wide and short: the split goes along columns.
  Tensor wide_a = random64({20, 300}, 6);
  Tensor wide_b = random64({300, 500}, 7);
  expect_matches_reference(wide_a, wide_b, 1e-11);
}

TEST(Matmul, BatchedWithBroadcastBatchDimensions) {
  Tensor a = random64({2, 1, 3, 4}, 8);
  Tensor b = random64({5, 4, 6}, 9);
  Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{2, 5, 3, 6}));
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < 5; ++j) {
      const auto expected = reference_product(a.select(0, i).select(0, 0), b.select(0, j));
      const auto actual = c.select(0, i).select(0, j).to_vector<double>();
      for (std::size_t e = 0; e < expected.size(); ++e) ASSERT_NEAR(actual[e], expected[e], 1e-12);
    }
  }
  // A 2-D operand broadcasts against a batch, and a non-mergeable broadcast pattern (batch
  // strides (0, s)) still gives the right answer.
  Tensor m = random64({4, 6}, 10);
  Tensor batched = matmul(a, m);
  ASSERT_EQ(batched.shape(), (Shape{2, 1, 3, 6}));
  const auto expected = reference_product(a.select(0, 1).select(0, 0), m);
  const auto actual = batched.select(0, 1).select(0, 0).to_vector<double>();
  for (std::size_t e = 0; e < expected.size(); ++e) EXPECT_NEAR(actual[e], expected[e], 1e-12);
  Tensor left = random64({1, 3, 2, 4}, 11).expand({5, 3, 2, 4});
  Tensor right = random64({5, 1, 4, 2}, 12);
  Tensor product = matmul(left, right);
  ASSERT_EQ(product.shape(), (Shape{5, 3, 2, 2}));
  const auto want = reference_product(left.select(0, 4).select(0, 2), right.select(0, 4).select(0, 0));
  const auto got = product.select(0, 4).select(0, 2).to_vector<double>();
  for (std::size_t e = 0; e < want.size(); ++e) EXPECT_NEAR(got[e], want[e], 1e-12);
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  Tensor a = zeros({3, 0}, f64);
  Tensor b = zeros({0, 2}, f64);
  expect_values(matmul(a, b), {3, 2}, std::vector<double>(6, 0.0), 0.0);
}
