// Shape helpers: element counts, contiguous strides, broadcasting, dimension wrapping.
#include "core/shape.h"

#include <algorithm>

#include "core/error.h"

namespace mech {

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t count = 1;
  for (auto size : shape) count *= size;
  return count;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t stride = 1;
  for (auto d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= std::max<std::int64_t>(shape[d], 1);
  }
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t size_a = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t size_b = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (size_a != size_b && size_a != 1 && size_b != 1) {
      throw Error(fmt::format("{}: shapes {} and {} cannot be broadcast together (dimension {}: {} vs {})",
                              op, shape_str(a), shape_str(b), i, size_a, size_b));
    }
    result[i] = size_a == 1 ? size_b : size_a;
  }
  return result;
}

std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op) {
  const std::int64_t effective_rank = std::max<std::int64_t>(rank, 1);
  if (dim < -effective_rank || dim >= effective_rank) {
    throw Error(fmt::format("{}: dimension {} out of range for a tensor of rank {}", op, dim, rank));
  }
  return dim < 0 ? dim + effective_rank : dim;
}

}  // namespace mech
