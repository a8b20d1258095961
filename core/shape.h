// Shapes and strides: the small integer-vector helpers every op uses (element counts, contiguous
// strides, NumPy broadcasting, negative-dimension wrapping, printing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mech {

using Shape = std::vector<std::int64_t>;

std::string shape_str(const Shape& shape);               // "[2, 3]"
std::int64_t shape_numel(const Shape& shape);            // product of sizes, 1 for a scalar
Shape contiguous_strides(const Shape& shape);            // row-major strides in elements
// The NumPy broadcast of two shapes; throws mech::Error naming op and both shapes if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Wraps a possibly negative dim into [0, rank); throws naming op, the dim and the rank.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op);

}  // namespace mech
