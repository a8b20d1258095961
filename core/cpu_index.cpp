// CPU gather and scatter-add along one dimension: index_select and index_add (its backward).
// Both move whole slices (everything but `dim`) with the strided copy/add kernels, so any input
// strides work and large slices run in parallel.
#include "core/cpu_kernels.h"

namespace mech::cpu {

namespace {

// The slice of t at position `position` along `dim`, as a raw view (no autograd).
Tensor slice_at(const Tensor& t, std::int64_t dim, std::int64_t position) {
  Shape shape = t.shape(), strides = t.strides();
  const std::int64_t offset = t.offset() + position * strides[dim];
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return Tensor(t.storage(), offset, std::move(shape), std::move(strides), t.dtype());
}

// The index values, each checked to lie in [0, size).
std::vector<std::int64_t> checked_indices(const char* op, const Tensor& index, std::int64_t size, std::int64_t dim) {
  MECH_CHECK(index.dtype() == DType::Int64 && index.dim() == 1,
             "{}: index must be a 1-D int64 tensor, got {} of shape {}", op, dtype_name(index.dtype()),
             shape_str(index.shape()));
  std::vector<std::int64_t> values = index.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    MECH_CHECK(values[i] >= 0 && values[i] < size, "{}: index {} at position {} is out of range for dimension {} of size {}",
               op, values[i], i, dim, size);
  }
  return values;
}

}  // namespace

void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out) {
  const auto values = checked_indices("index_select", index, x.shape()[dim], dim);
  for (std::size_t i = 0; i < values.size(); ++i) {
    copy(slice_at(x, dim, values[i]), slice_at(out, dim, static_cast<std::int64_t>(i)));
  }
}

void index_add(const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source) {
  const auto values = checked_indices("index_add", index, out.shape()[dim], dim);
  MECH_CHECK(source.shape()[dim] == static_cast<std::int64_t>(values.size()),
             "index_add: source has {} slices along dimension {} but the index has {} entries (source shape {})",
             source.shape()[dim], dim, values.size(), shape_str(source.shape()));
  // Serial over the index so repeated positions accumulate without races.
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Tensor target = slice_at(out, dim, values[i]);
    binary(BinaryOp::Add, target, slice_at(source, dim, static_cast<std::int64_t>(i)), target);
  }
}

}  // namespace mech::cpu
