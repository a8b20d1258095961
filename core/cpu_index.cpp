// CPU gather and scatter-add along one dimension: index_select and index_add (its backward).
// A large slice (everything but `dim`) moves with the strided copy/add kernels, which run it in
// parallel. Small slices (a row of a few numbers, as when gathering time points of a trajectory)
// go through one loop over index x slice that builds no view per index: building a view tensor
// per index cost more than moving the numbers (mech-lorenz spent a quarter of its time in
// malloc/free from it).
#include <algorithm>

#include "core/cpu_kernels.h"
#include "core/cpu_loops.h"   // kElementGrain

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

// Element offsets of every element of a slice (all dims but `dim`, row-major) within a and b.
struct SliceOffsets {
  std::vector<std::int64_t> a, b;
};

SliceOffsets slice_offsets(const Tensor& a, const Tensor& b, std::int64_t dim) {
  Shape shape = a.shape(), a_strides = a.strides(), b_strides = b.strides();
  shape.erase(shape.begin() + dim);
  a_strides.erase(a_strides.begin() + dim);
  b_strides.erase(b_strides.begin() + dim);
  std::int64_t count = 1;
  for (std::int64_t size : shape) count *= size;
  SliceOffsets offsets;
  offsets.a.reserve(static_cast<std::size_t>(count));
  offsets.b.reserve(static_cast<std::size_t>(count));
  Shape counter(shape.size(), 0);
  std::int64_t at_a = 0, at_b = 0;
  for (std::int64_t element = 0; element < count; ++element) {
    offsets.a.push_back(at_a);
    offsets.b.push_back(at_b);
    // Odometer over the slice's dims, last fastest.
    for (auto d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
      at_a += a_strides[d];
      at_b += b_strides[d];
      if (++counter[d] < shape[d]) break;
      at_a -= counter[d] * a_strides[d];
      at_b -= counter[d] * b_strides[d];
      counter[d] = 0;
    }
  }
  return offsets;
}

bool small_slices(const Tensor& t, std::int64_t dim) {
  const std::int64_t size = t.shape()[dim];
  return size > 0 && t.numel() / size < kElementGrain;
}

template <class T>
void gather_small(const Tensor& x, std::int64_t dim, const std::vector<std::int64_t>& values, const Tensor& out) {
  const SliceOffsets offsets = slice_offsets(x, out, dim);
  const T* source = x.data_ptr<T>();
  T* target = out.data_ptr<T>();
  const std::int64_t x_step = x.strides()[dim], out_step = out.strides()[dim];
  const auto slice = static_cast<std::int64_t>(offsets.a.size());
  const std::int64_t grain = std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(1, slice));
  parallel_for(0, static_cast<std::int64_t>(values.size()), grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const T* from = source + values[static_cast<std::size_t>(i)] * x_step;
      T* to = target + i * out_step;
      for (std::int64_t j = 0; j < slice; ++j) to[offsets.b[j]] = from[offsets.a[j]];
    }
  });
}

template <class T>
void scatter_add_small(const Tensor& out, std::int64_t dim, const std::vector<std::int64_t>& values, const Tensor& source) {
  const SliceOffsets offsets = slice_offsets(out, source, dim);
  T* target = out.data_ptr<T>();
  const T* from_base = source.data_ptr<T>();
  const std::int64_t out_step = out.strides()[dim], source_step = source.strides()[dim];
  const auto slice = static_cast<std::int64_t>(offsets.a.size());
  // Serial over the index so repeated positions accumulate without races, in index order.
  for (std::size_t i = 0; i < values.size(); ++i) {
    T* to = target + values[i] * out_step;
    const T* from = from_base + static_cast<std::int64_t>(i) * source_step;
    for (std::int64_t j = 0; j < slice; ++j) to[offsets.a[j]] += from[offsets.b[j]];
  }
}

}  // namespace

void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out) {
  const auto values = checked_indices("index_select", index, x.shape()[dim], dim);
  if (values.empty()) return;
  if (small_slices(x, dim) && x.dtype() == out.dtype()) {
    MECH_DISPATCH_ALL(x.dtype(), "index_select", [&]<class T>() { gather_small<T>(x, dim, values, out); });
    return;
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    copy(slice_at(x, dim, values[i]), slice_at(out, dim, static_cast<std::int64_t>(i)));
  }
}

void index_add(const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source) {
  const auto values = checked_indices("index_add", index, out.shape()[dim], dim);
  MECH_CHECK(source.shape()[dim] == static_cast<std::int64_t>(values.size()),
             "index_add: source has {} slices along dimension {} but the index has {} entries (source shape {})",
             source.shape()[dim], dim, values.size(), shape_str(source.shape()));
  if (values.empty()) return;
  if (small_slices(source, dim) && source.dtype() == out.dtype()) {
    MECH_DISPATCH_ALL(out.dtype(), "index_add", [&]<class T>() { scatter_add_small<T>(out, dim, values, source); });
    return;
  }
  // Serial over the index so repeated positions accumulate without races.
  for (std::size_t i = 0; i < values.size(); ++i) {
    const Tensor target = slice_at(out, dim, values[i]);
    binary(BinaryOp::Add, target, slice_at(source, dim, static_cast<std::int64_t>(i)), target);
  }
}

}  // namespace mech::cpu
