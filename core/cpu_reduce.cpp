// CPU reductions: sum over any set of dimensions (float32 inputs: float32 partial sums of short
// blocks, added up in double) and max with indices along one dimension.
#include <limits>
#include <vector>

#include "core/cpu_kernels.h"
#include "core/cpu_loops.h"

namespace mech::cpu {

namespace {
template <class T>
using Accumulator = std::conditional_t<std::is_same_v<T, float>, double, T>;

// Sum of n contiguous elements in independent accumulators (GCC vectorises the lane loop): a
// single running sum is a chain of dependent adds, one per element at the adder's latency.
// float32 adds in float32 lanes over blocks of kFloatBlock elements and each block's total into a
// double: converting every element to double cost two conversions and two adds per 8 floats, and
// a block's 64 lanes (eight vectors, enough independent adds to keep both of the core's adders
// busy) add only 32 terms each, so their rounding stays at the level of a few float32 ulps of the
// block's sum.
constexpr std::int64_t kFloatBlock = 2048;
constexpr std::int64_t kFloatLanes = 64;

// kLanes independent running sums, added up in order or, with kFoldInHalves, in halves (fewer
// dependent rounds when the lanes are many).
template <class T, class Total, std::int64_t kLanes, bool kFoldInHalves = false>
Total lane_sum(const T* data, std::int64_t n) {
  Total total = 0;
  // A short input adds in order: for lanes added up in order, the same additions as below.
  if (n < kLanes) {
    for (std::int64_t j = 0; j < n; ++j) total += data[j];
    return total;
  }
  Total lanes[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (std::int64_t lane = 0; lane < kLanes; ++lane) lanes[lane] += data[j + lane];
  }
  for (std::int64_t lane = 0; j < n; ++j, ++lane) lanes[lane] += data[j];
  if constexpr (kFoldInHalves) {
    for (std::int64_t width = kLanes / 2; width >= 1; width /= 2)
      for (std::int64_t lane = 0; lane < width; ++lane) lanes[lane] += lanes[lane + width];
    return lanes[0];
  }
  for (auto lane : lanes) total += lane;
  return total;
}

template <class T>
Accumulator<T> contiguous_sum(const T* data, std::int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    double total = 0;
    for (std::int64_t begin = 0; begin < n; begin += kFloatBlock)
      total += lane_sum<float, float, kFloatLanes, true>(data + begin, std::min(kFloatBlock, n - begin));
    return total;
  } else {
    return lane_sum<T, T, 16>(data, n);
  }
}

// Calls visit(offset) for every element offset of a strided block, in row-major order.
template <class Visit>
void for_each_offset(const Shape& shape, const Shape& strides, Visit&& visit) {
  const std::size_t rank = shape.size();
  if (rank == 0) return visit(std::int64_t{0});
  Shape counter(rank, 0);
  std::int64_t offset = 0;
  while (true) {
    visit(offset);
    auto d = static_cast<std::int64_t>(rank) - 1;
    for (; d >= 0; --d) {
      ++counter[d];
      offset += strides[d];
      if (counter[d] < shape[d]) break;
      offset -= counter[d] * strides[d];
      counter[d] = 0;
    }
    if (d < 0) return;
  }
}

// Whether the kept dimensions are one contiguous block (innermost stride 1), so that output o's
// elements are at o + (an offset of the reduced dims).
bool kept_block_is_contiguous(const Shape& kept_shape, const Shape& kept_strides) {
  std::int64_t expected = 1;
  for (auto d = static_cast<std::int64_t>(kept_shape.size()) - 1; d >= 0; --d) {
    if (kept_shape[d] == 1) continue;
    if (kept_strides[d] != expected) return false;
    expected *= kept_shape[d];
  }
  return true;
}

// Merges neighbouring dimensions that are one run in memory (stride[d] = shape[d+1] *
// stride[d+1]) and drops those of size 1, so that a contiguous block sums as one long row instead
// of as many short ones (a (99, 51, 3) loss summed as 5049 rows of 3 was 9% of a Lorenz step).
void coalesce(Shape& shape, Shape& strides) {
  Shape merged_shape, merged_strides;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!merged_shape.empty() && merged_strides.back() == shape[d] * strides[d]) {
      merged_shape.back() *= shape[d];
      merged_strides.back() = strides[d];
    } else {
      merged_shape.push_back(shape[d]);
      merged_strides.push_back(strides[d]);
    }
  }
  shape = std::move(merged_shape);
  strides = std::move(merged_strides);
}

// Sum of the elements of a strided block (shape, strides) starting at data.
template <class T>
Accumulator<T> strided_sum(const T* data, const Shape& shape, const Shape& strides) {
  if (shape.empty()) return data[0];
  const std::int64_t inner = shape.back();
  const std::int64_t inner_stride = strides.back();
  const Shape outer_shape(shape.begin(), shape.end() - 1), outer_strides(strides.begin(), strides.end() - 1);
  Accumulator<T> total = 0;
  for_each_offset(outer_shape, outer_strides, [&](std::int64_t offset) {
    const T* row = data + offset;
    if (inner_stride == 1) {
      total += contiguous_sum(row, inner);
    } else {
      for (std::int64_t j = 0; j < inner; ++j) total += row[j * inner_stride];
    }
  });
  return total;
}
}  // namespace

void sum(const Tensor& x, const std::vector<bool>& reduce, const Tensor& out) {
  MECH_DISPATCH_ALL(out.dtype(), "sum", [&]<class T>() {
    const T* in = x.data_ptr<T>();
    T* result = out.data_ptr<T>();
    Shape kept_shape, kept_strides, reduced_shape, reduced_strides;
    for (std::size_t d = 0; d < x.shape().size(); ++d) {
      if (x.shape()[d] == 0 && reduce[d]) {  // an empty reduction sums to zero
        for (std::int64_t i = 0; i < out.numel(); ++i) result[i] = T(0);
        return;
      }
      (reduce[d] ? reduced_shape : kept_shape).push_back(x.shape()[d]);
      (reduce[d] ? reduced_strides : kept_strides).push_back(x.strides()[d]);
    }
    coalesce(reduced_shape, reduced_strides);
    const std::int64_t outputs = shape_numel(kept_shape);
    const std::int64_t per_output = shape_numel(reduced_shape);
    auto base_offset = [&](std::int64_t index) {
      std::int64_t offset = 0;
      for (auto d = static_cast<std::int64_t>(kept_shape.size()) - 1; d >= 0; --d) {
        offset += (index % kept_shape[d]) * kept_strides[d];
        index /= kept_shape[d];
      }
      return offset;
    };
    // Outputs side by side in memory (a sum over the rows of a matrix, say): add each reduced
    // slice into a row of accumulators, in the order strided_sum would, so the loop runs along the
    // outputs and vectorises instead of walking each output's elements at a stride.
    constexpr std::int64_t kMinimumOutputs = 16;
    if (outputs >= kMinimumOutputs && per_output > 1 && kept_block_is_contiguous(kept_shape, kept_strides)) {
      const std::int64_t grain = std::max<std::int64_t>(kMinimumOutputs, kElementGrain / per_output);
      parallel_for(0, outputs, grain, [&](std::int64_t begin, std::int64_t end) {
        std::vector<Accumulator<T>> totals(end - begin, 0);
        Accumulator<T>* total = totals.data();
        const std::int64_t count = end - begin;
        if constexpr (std::is_same_v<T, float>) {
          // As contiguous_sum: float32 partial sums over kSlicesPerBlock slices, then into double.
          constexpr std::int64_t kSlicesPerBlock = 64;
          std::vector<float> block(count, 0.0f);
          float* partial = block.data();
          std::int64_t slices = 0;
          for_each_offset(reduced_shape, reduced_strides, [&](std::int64_t offset) {
            const float* slice = in + offset + begin;
            for (std::int64_t o = 0; o < count; ++o) partial[o] += slice[o];
            if (++slices % kSlicesPerBlock == 0)
              for (std::int64_t o = 0; o < count; ++o) total[o] += partial[o], partial[o] = 0.0f;
          });
          for (std::int64_t o = 0; o < count; ++o) total[o] += partial[o];
        } else {
          for_each_offset(reduced_shape, reduced_strides, [&](std::int64_t offset) {
            const T* slice = in + offset + begin;
            for (std::int64_t o = 0; o < count; ++o) total[o] += slice[o];
          });
        }
        for (std::int64_t o = 0; o < count; ++o) result[begin + o] = static_cast<T>(total[o]);
      });
      return;
    }
    if (outputs >= 2 * get_num_threads() || per_output < kElementGrain) {
      const std::int64_t grain = std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(per_output, 1));
      parallel_for(0, outputs, grain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t o = begin; o < end; ++o) {
          result[o] = static_cast<T>(strided_sum(in + base_offset(o), reduced_shape, reduced_strides));
        }
      });
      return;
    }
    // Few outputs, long reductions: split over threads the leading reduced dimension, or, when the
    // reduction coalesced into one run of memory, the run itself in whole float blocks.
    const std::int64_t chunks = get_num_threads();
    const std::int64_t lead = reduced_shape[0], lead_stride = reduced_strides[0];
    const Shape rest_shape(reduced_shape.begin() + 1, reduced_shape.end());
    const Shape rest_strides(reduced_strides.begin() + 1, reduced_strides.end());
    const std::int64_t blocks = (lead + kFloatBlock - 1) / kFloatBlock;
    auto chunk_sum = [&](const T* base, std::int64_t c) {
      if (rest_shape.empty()) {
        const std::int64_t first = std::min(lead, blocks * c / chunks * kFloatBlock);
        const std::int64_t last = std::min(lead, blocks * (c + 1) / chunks * kFloatBlock);
        return strided_sum(base + first * lead_stride, Shape{last - first}, Shape{lead_stride});
      }
      Accumulator<T> chunk_total = 0;
      for (std::int64_t i = lead * c / chunks; i < lead * (c + 1) / chunks; ++i)
        chunk_total += strided_sum(base + i * lead_stride, rest_shape, rest_strides);
      return chunk_total;
    };
    for (std::int64_t o = 0; o < outputs; ++o) {
      const T* base = in + base_offset(o);
      std::vector<Accumulator<T>> partial(chunks, 0);
      parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t c = begin; c < end; ++c) partial[c] = chunk_sum(base, c);
      });
      Accumulator<T> total = 0;
      for (auto value : partial) total += value;
      result[o] = static_cast<T>(total);
    }
  });
}

void max(const Tensor& x, std::int64_t dim, const Tensor& values, const Tensor& indices) {
  MECH_DISPATCH_ALL(x.dtype(), "max", [&]<class T>() {
    const T* in = x.data_ptr<T>();
    T* best_values = values.data_ptr<T>();
    std::int64_t* best_indices = indices.data_ptr<std::int64_t>();
    const Shape& shape = x.shape();
    const std::int64_t length = shape[dim];
    const std::int64_t stride = x.strides()[dim];
    const std::int64_t outputs = values.numel();
    parallel_for(0, outputs, std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(length, 1)),
                 [&](std::int64_t begin, std::int64_t end) {
                   for (std::int64_t o = begin; o < end; ++o) {
                     std::int64_t offset = 0, remainder = o;
                     for (auto d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
                       if (d == dim) continue;
                       offset += (remainder % shape[d]) * x.strides()[d];
                       remainder /= shape[d];
                     }
                     T best = in[offset];
                     std::int64_t best_index = 0;
                     for (std::int64_t i = 1; i < length; ++i) {
                       const T value = in[offset + i * stride];
                       // NaN propagates, as in PyTorch: the first NaN wins.
                       if (value > best || (value != value && best == best)) {
                         best = value;
                         best_index = i;
                       }
                     }
                     best_values[o] = best;
                     best_indices[o] = best_index;
                   }
                 });
  });
}

}  // namespace mech::cpu
