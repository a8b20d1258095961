// Index arithmetic shared by the CUDA kernels and by the CPU tests that check it: the
// MECH_HOST_DEVICE marker, and StridedIndexer, which turns the linear index of an output element
// into one storage offset per operand for arbitrary strides (broadcast dims have stride 0).
//
// The host builds an indexer once per launch (make_indexer): it drops size-1 dims and merges
// neighbouring dims that are contiguous in every operand, so most launches run with rank 1 and no
// division at all. This header compiles without CUDA, so tests/cuda exercise it on any machine.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/shape.h"

#ifndef MECH_HOST_DEVICE
#if defined(__CUDACC__)
#define MECH_HOST_DEVICE __host__ __device__
#else
#define MECH_HOST_DEVICE
#endif
#endif

namespace mech::cuda {

inline constexpr int kMaxRank = 8;

// N operands (output first by convention) over one index space of `rank` dims.
template <int N>
struct StridedIndexer {
  int rank = 0;
  std::int64_t sizes[kMaxRank] = {};
  std::int64_t strides[N][kMaxRank] = {};

  // offsets[n] = sum_d coordinate_d(linear) * strides[n][d], coordinates row-major in `sizes`.
  MECH_HOST_DEVICE void offsets(std::int64_t linear, std::int64_t (&result)[N]) const {
    if (rank <= 1) {
      // The merged contiguous case: no division.
      for (int n = 0; n < N; ++n) result[n] = rank == 0 ? 0 : linear * strides[n][0];
      return;
    }
    for (int n = 0; n < N; ++n) result[n] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const std::int64_t size = sizes[d];
      const std::int64_t quotient = linear / size;
      const std::int64_t coordinate = linear - quotient * size;
      linear = quotient;
      for (int n = 0; n < N; ++n) result[n] += coordinate * strides[n][d];
    }
  }
};

// Builds the indexer for `shape`, operand n having strides *operand_strides[n] (each of shape's
// rank). Size-1 dims are dropped; dims d and d+1 merge when, for every operand,
// stride[d] == stride[d+1] * size[d+1]. Throws naming `op` when more than kMaxRank dims remain.
template <int N>
StridedIndexer<N> make_indexer(const Shape& shape, const std::array<const Shape*, N>& operand_strides,
                               const char* op) {
  const int rank = static_cast<int>(shape.size());
  for (int n = 0; n < N; ++n) {
    MECH_CHECK(static_cast<int>(operand_strides[n]->size()) == rank,
               "{}: internal error: operand {} has {} strides for shape {}", op, n,
               operand_strides[n]->size(), shape_str(shape));
  }
  // Kept dims in order, outermost first.
  std::vector<std::int64_t> sizes;
  std::vector<std::array<std::int64_t, N>> strides;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    std::array<std::int64_t, N> dim_strides{};
    for (int n = 0; n < N; ++n) dim_strides[n] = (*operand_strides[n])[d];
    if (!sizes.empty()) {
      bool mergeable = true;
      for (int n = 0; n < N; ++n) mergeable = mergeable && strides.back()[n] == dim_strides[n] * shape[d];
      if (mergeable) {
        // The previous dim folds into this one: the merged dim steps with the inner stride.
        sizes.back() *= shape[d];
        strides.back() = dim_strides;
        continue;
      }
    }
    sizes.push_back(shape[d]);
    strides.push_back(dim_strides);
  }
  MECH_CHECK(static_cast<int>(sizes.size()) <= kMaxRank,
             "{}: shape {} has {} non-mergeable dims after broadcasting; the CUDA backend handles at most {}",
             op, shape_str(shape), sizes.size(), kMaxRank);
  StridedIndexer<N> indexer;
  indexer.rank = static_cast<int>(sizes.size());
  for (int d = 0; d < indexer.rank; ++d) {
    indexer.sizes[d] = sizes[d];
    for (int n = 0; n < N; ++n) indexer.strides[n][d] = strides[d][n];
  }
  return indexer;
}

// Shape and strides restricted to the dims where keep[d] is true (the rest dropped).
struct DimSubset {
  Shape shape;
  Shape strides;
};
inline DimSubset select_dims(const Shape& shape, const Shape& strides, const std::vector<bool>& keep) {
  DimSubset subset;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (!keep[d]) continue;
    subset.shape.push_back(shape[d]);
    subset.strides.push_back(strides[d]);
  }
  return subset;
}

}  // namespace mech::cuda
