// StridedIndexer (cuda/layout.h), the index arithmetic of every CUDA elementwise kernel, run on the
// CPU: offsets must equal the naive sum of coordinates times strides for any strides, including
// broadcast (stride 0), transposed, sliced and size-1 dims; merging must reduce contiguous
// layouts to rank 1; too many dims must be refused with a mech::Error.
#include <gtest/gtest.h>

#include <random>

#include "cuda/layout.h"

namespace mech::cuda {
namespace {

// Offsets by definition: decompose `linear` row-major in `shape`, dot with each operand's strides.
template <int N>
std::array<std::int64_t, N> naive_offsets(const Shape& shape, const std::array<Shape, N>& strides,
                                          std::int64_t linear) {
  std::array<std::int64_t, N> result{};
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    const std::int64_t coordinate = linear % shape[d];
    linear /= shape[d];
    for (int n = 0; n < N; ++n) result[n] += coordinate * strides[n][d];
  }
  return result;
}

template <int N>
void expect_matches_naive(const Shape& shape, const std::array<Shape, N>& strides) {
  std::array<const Shape*, N> pointers{};
  for (int n = 0; n < N; ++n) pointers[n] = &strides[n];
  const StridedIndexer<N> indexer = make_indexer<N>(shape, pointers, "test");
  const std::int64_t count = shape_numel(shape);
  for (std::int64_t i = 0; i < count; ++i) {
    std::int64_t got[N];
    indexer.offsets(i, got);
    const auto want = naive_offsets<N>(shape, strides, i);
    for (int n = 0; n < N; ++n) {
      ASSERT_EQ(got[n], want[n]) << "operand " << n << " element " << i << " of shape " << shape_str(shape);
    }
  }
}

TEST(CudaLayout, ContiguousMergesToRankOne) {
  const Shape shape{3, 4, 5};
  const Shape strides = contiguous_strides(shape);
  const auto indexer = make_indexer<2>(shape, {&strides, &strides}, "test");
  EXPECT_EQ(indexer.rank, 1);
  EXPECT_EQ(indexer.sizes[0], 60);
  EXPECT_EQ(indexer.strides[0][0], 1);
  expect_matches_naive<2>(shape, {strides, strides});
}

TEST(CudaLayout, ScalarAndSizeOneDims) {
  expect_matches_naive<1>({}, {Shape{}});
  const Shape strides{99, 42, 3, 5};
  const auto indexer = make_indexer<1>({1, 1, 7, 1}, {&strides}, "test");
  EXPECT_EQ(indexer.rank, 1);  // size-1 dims dropped, whatever their strides
  EXPECT_EQ(indexer.strides[0][0], 3);
  expect_matches_naive<1>({1, 1, 7, 1}, {Shape{99, 42, 3, 5}});
}

TEST(CudaLayout, BroadcastTransposeAndSlices) {
  // out contiguous (2, 3, 4); a broadcast along dim 1; b a transposed view; c sliced with step 2.
  const Shape shape{2, 3, 4};
  expect_matches_naive<4>(shape, {contiguous_strides(shape), Shape{4, 0, 1}, Shape{1, 8, 2}, Shape{48, 16, 2}});
  // A broadcast scalar operand next to a contiguous one does not merge the dims of the other.
  expect_matches_naive<2>({5, 6}, {Shape{6, 1}, Shape{0, 0}});
}

TEST(CudaLayout, RandomLayoutsMatchNaive) {
  std::mt19937 random(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int rank = std::uniform_int_distribution<int>(0, 6)(random);
    Shape shape;
    for (int d = 0; d < rank; ++d) shape.push_back(std::uniform_int_distribution<int>(1, 4)(random));
    std::array<Shape, 3> strides;
    for (auto& operand : strides) {
      // Random permutation of contiguous strides of a padded shape, with random broadcast dims.
      Shape padded = shape;
      for (auto& size : padded) size += std::uniform_int_distribution<int>(0, 1)(random);
      Shape base = contiguous_strides(padded);
      std::shuffle(base.begin(), base.end(), random);
      for (int d = 0; d < rank; ++d) {
        if (std::uniform_int_distribution<int>(0, 5)(random) == 0) base[d] = 0;
      }
      operand = base;
    }
    expect_matches_naive<3>(shape, strides);
  }
}

TEST(CudaLayout, RefusesMoreThanMaxRankDims) {
  // Nine dims of size 2, each broadcast in a different pattern, cannot merge.
  const Shape shape(9, 2);
  Shape strides(9);
  for (int d = 0; d < 9; ++d) strides[d] = d % 2 == 0 ? 0 : (std::int64_t{1} << (2 * d));
  EXPECT_THROW((make_indexer<1>(shape, {&strides}, "test_op")), Error);
  try {
    make_indexer<1>(shape, {&strides}, "test_op");
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("test_op"), std::string::npos) << error.what();
  }
}

TEST(CudaLayout, SelectDimsKeepsOrder) {
  const DimSubset subset = select_dims({2, 3, 4}, {12, 4, 1}, {true, false, true});
  EXPECT_EQ(subset.shape, (Shape{2, 4}));
  EXPECT_EQ(subset.strides, (Shape{12, 1}));
}

}  // namespace
}  // namespace mech::cuda
