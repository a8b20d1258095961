// The strided loop under every CPU elementwise kernel: walks N operands that share one shape but
// have their own strides (0 where broadcast), coalescing dimensions so contiguous data runs as one
// flat loop, and splitting the work over threads.
#pragma once

#include <array>
#include <cstdint>

#include "core/parallel.h"
#include "core/shape.h"

namespace mech::cpu {

// Rows shorter than this many elements are grouped so a thread gets enough work.
constexpr std::int64_t kElementGrain = 32768;

// Calls body(offsets, count, inner_strides) for runs of `count` elements: element j of the run
// is at offsets[n] + j * inner_strides[n] (in elements) for operand n.
template <std::size_t N, class Body>
void for_each_strided(const Shape& shape, const std::array<Shape, N>& strides, Body&& body) {
  // Drop size-1 dimensions, then merge neighbours that are contiguous in every operand.
  Shape sizes;
  std::array<Shape, N> steps;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    const bool mergeable = !sizes.empty() && [&] {
      for (std::size_t n = 0; n < N; ++n) {
        if (steps[n].back() != strides[n][d] * shape[d]) return false;
      }
      return true;
    }();
    if (mergeable) {
      sizes.back() *= shape[d];
      for (std::size_t n = 0; n < N; ++n) steps[n].back() = strides[n][d];
    } else {
      sizes.push_back(shape[d]);
      for (std::size_t n = 0; n < N; ++n) steps[n].push_back(strides[n][d]);
    }
  }
  std::array<std::int64_t, N> inner_strides{};
  if (sizes.empty()) {
    std::array<std::int64_t, N> offsets{};
    body(offsets, std::int64_t{1}, inner_strides);
    return;
  }
  const std::size_t rank = sizes.size();
  const std::int64_t inner = sizes.back();
  for (std::size_t n = 0; n < N; ++n) inner_strides[n] = steps[n].back();
  std::int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < rank; ++d) rows *= sizes[d];

  if (rows == 1) {
    parallel_for(0, inner, kElementGrain, [&](std::int64_t begin, std::int64_t end) {
      std::array<std::int64_t, N> offsets{};
      for (std::size_t n = 0; n < N; ++n) offsets[n] = begin * inner_strides[n];
      body(offsets, end - begin, inner_strides);
    });
    return;
  }
  const std::int64_t row_grain = std::max<std::int64_t>(1, kElementGrain / inner);
  parallel_for(0, rows, row_grain, [&](std::int64_t begin, std::int64_t end) {
    // Decompose the first row index once, then step an odometer over the outer dimensions.
    Shape counter(rank - 1, 0);
    std::array<std::int64_t, N> offsets{};
    std::int64_t remainder = begin;
    for (auto d = static_cast<std::int64_t>(rank) - 2; d >= 0; --d) {
      counter[d] = remainder % sizes[d];
      remainder /= sizes[d];
      for (std::size_t n = 0; n < N; ++n) offsets[n] += counter[d] * steps[n][d];
    }
    for (std::int64_t row = begin; row < end; ++row) {
      body(offsets, inner, inner_strides);
      for (auto d = static_cast<std::int64_t>(rank) - 2; d >= 0; --d) {
        ++counter[d];
        for (std::size_t n = 0; n < N; ++n) offsets[n] += steps[n][d];
        if (counter[d] < sizes[d]) break;
        for (std::size_t n = 0; n < N; ++n) offsets[n] -= counter[d] * steps[n][d];
        counter[d] = 0;
      }
    }
  });
}

}  // namespace mech::cpu
