// CUDA reductions and indexing: sum over any set of dims, max with indices along one dim,
// index_select and index_add along one dim. Inputs may have any strides; outputs are contiguous
// (as core/kernels.h promises), except index_add's destination, which may be strided.
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <array>

#include "cuda/backend.h"
#include "cuda/layout.h"
#include "cuda/runtime.h"

namespace mech::cuda {

namespace {

// Sums accumulate in double for both float types (and int64 for int64): the GPU's summation order
// differs from the CPU's, and the wider accumulator keeps that difference at rounding level.
template <class T> struct Accumulator { using type = double; };
template <> struct Accumulator<std::int64_t> { using type = std::int64_t; };

// M outputs, each the sum of R elements: output i starts at x + outer(i), element r at + inner(r).
// One thread per output: for short reductions.
template <class T>
__global__ void sum_thread_per_output(std::int64_t outputs, std::int64_t reduced, StridedIndexer<1> outer,
                                      StridedIndexer<1> inner, const T* x, T* out) {
  using Acc = typename Accumulator<T>::type;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outputs; i += step) {
    std::int64_t base[1];
    outer.offsets(i, base);
    Acc total = 0;
    for (std::int64_t r = 0; r < reduced; ++r) {
      std::int64_t offset[1];
      inner.offsets(r, offset);
      total += static_cast<Acc>(x[base[0] + offset[0]]);
    }
    out[i] = static_cast<T>(total);
  }
}

// As above, one block per output: for long reductions (tree reduction in shared memory).
template <class T>
__global__ void sum_block_per_output(std::int64_t outputs, std::int64_t reduced, StridedIndexer<1> outer,
                                     StridedIndexer<1> inner, const T* x, T* out) {
  using Acc = typename Accumulator<T>::type;
  __shared__ Acc partial[kBlockSize];
  for (std::int64_t i = blockIdx.x; i < outputs; i += gridDim.x) {
    std::int64_t base[1];
    outer.offsets(i, base);
    Acc total = 0;
    for (std::int64_t r = threadIdx.x; r < reduced; r += blockDim.x) {
      std::int64_t offset[1];
      inner.offsets(r, offset);
      total += static_cast<Acc>(x[base[0] + offset[0]]);
    }
    partial[threadIdx.x] = total;
    __syncthreads();
    for (int width = blockDim.x / 2; width > 0; width /= 2) {
      if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[i] = static_cast<T>(partial[0]);
    __syncthreads();  // partial[0] is read before the next output overwrites it
  }
}

// M outputs; each scans `length` elements `stride` apart starting at x + outer(i). Ties keep the
// first index; a NaN wins over numbers and the first NaN is kept, as on the CPU.
template <class T>
__global__ void max_kernel(std::int64_t outputs, std::int64_t length, std::int64_t stride, StridedIndexer<1> outer,
                           const T* x, T* values, std::int64_t* indices) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < outputs; i += step) {
    std::int64_t base[1];
    outer.offsets(i, base);
    T best = x[base[0]];
    std::int64_t best_index = 0;
    for (std::int64_t j = 1; j < length; ++j) {
      const T value = x[base[0] + j * stride];
      if (best != best) break;  // NaN found: it stays
      if (value > best || value != value) {
        best = value;
        best_index = j;
      }
    }
    values[i] = best;
    indices[i] = best_index;
  }
}

// Output element i (contiguous, shape of out) reads x at outer(i) + index[c] * dim_stride, where
// c = (i / inner_count) % count is its coordinate along dim. Bad indices set *error and write 0.
template <class T>
__global__ void index_select_kernel(std::int64_t n, StridedIndexer<1> outer, std::int64_t inner_count,
                                    std::int64_t count, const std::int64_t* index, std::int64_t index_stride,
                                    std::int64_t dim_size, std::int64_t dim_stride, const T* x, T* out,
                                    int* error) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t base[1];
    outer.offsets(i, base);
    const std::int64_t coordinate = (i / inner_count) % count;
    const std::int64_t position = index[coordinate * index_stride];
    if (position < 0 || position >= dim_size) {
      *error = 1;
      out[i] = T(0);
      continue;
    }
    out[i] = x[base[0] + position * dim_stride];
  }
}

// Source element i (of source's shape) adds into out at offsets[1] + index[c] * dim_stride.
template <class T>
__global__ void index_add_kernel(std::int64_t n, StridedIndexer<2> indexer, std::int64_t inner_count,
                                 std::int64_t count, const std::int64_t* index, std::int64_t index_stride,
                                 std::int64_t dim_size, std::int64_t dim_stride, const T* source, T* out,
                                 int* error) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t offsets[2];
    indexer.offsets(i, offsets);
    const std::int64_t coordinate = (i / inner_count) % count;
    const std::int64_t position = index[coordinate * index_stride];
    if (position < 0 || position >= dim_size) {
      *error = 1;
      continue;
    }
    atomicAdd(out + offsets[1] + position * dim_stride, source[offsets[0]]);
  }
}

// A device flag for kernels to report bad input; read() waits for the stream.
class ErrorFlag {
 public:
  explicit ErrorFlag(int device) : buffer_(sizeof(int), device), device_(device) {
    MECH_CUDA_CHECK(cudaMemsetAsync(buffer_.data(), 0, sizeof(int), stream(device)));
  }
  int* data() const { return buffer_.as<int>(); }
  bool raised() const {
    int value = 0;
    copy_device_to_host(&value, buffer_.data(), sizeof(int), device_);
    return value != 0;
  }

 private:
  ScratchBuffer buffer_;
  int device_;
};

std::int64_t product(const Shape& shape, std::size_t begin) {
  std::int64_t total = 1;
  for (std::size_t d = begin; d < shape.size(); ++d) total *= shape[d];
  return total;
}

void check_index(const char* op, const Tensor& index) {
  MECH_CHECK(index.defined() && index.dtype() == DType::Int64 && index.dim() == 1,
             "{}: expected a 1-D int64 index, got {} of shape {}", op,
             index.defined() ? dtype_name(index.dtype()) : "undefined",
             index.defined() ? shape_str(index.shape()) : "[]");
}

}  // namespace

void sum(const Tensor& x, const std::vector<bool>& reduce, const Tensor& out) {
  check_on_device("cuda::sum", out, {&x});
  const Shape& shape = x.shape();
  MECH_CHECK(reduce.size() == shape.size(), "sum: {} reduce flags for input shape {}", reduce.size(),
             shape_str(shape));
  std::vector<bool> keep(reduce.size());
  Shape expected = shape;
  for (std::size_t d = 0; d < reduce.size(); ++d) {
    keep[d] = !reduce[d];
    if (reduce[d]) expected[d] = 1;
  }
  MECH_CHECK(out.shape() == expected && out.is_contiguous(),
             "sum: output must be contiguous of shape {} for input {}, got {}", shape_str(expected),
             shape_str(shape), shape_str(out.shape()));
  const std::int64_t outputs = out.numel();
  if (outputs == 0) return;
  const DimSubset kept = select_dims(shape, x.strides(), keep);
  const DimSubset reduced_dims = select_dims(shape, x.strides(), reduce);
  const StridedIndexer<1> outer = make_indexer<1>(kept.shape, {&kept.strides}, "sum");
  const StridedIndexer<1> inner = make_indexer<1>(reduced_dims.shape, {&reduced_dims.strides}, "sum");
  const std::int64_t reduced = shape_numel(reduced_dims.shape);
  const int device = out.device().index;
  DeviceGuard guard(device);
  MECH_DISPATCH_ALL(out.dtype(), "cuda::sum", [&]<class T>() {
    // Long reductions, or too few outputs to fill the GPU with threads: a block per output.
    if (reduced >= 128 || (outputs <= 1024 && reduced >= 16)) {
      const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(outputs, 132 * 32));
      sum_block_per_output<T><<<blocks, kBlockSize, 0, stream(device)>>>(outputs, reduced, outer, inner,
                                                                        x.data_ptr<T>(), out.data_ptr<T>());
    } else {
      sum_thread_per_output<T><<<grid_for(outputs), kBlockSize, 0, stream(device)>>>(
          outputs, reduced, outer, inner, x.data_ptr<T>(), out.data_ptr<T>());
    }
    MECH_CUDA_CHECK_LAUNCH("sum");
  });
}

void max(const Tensor& x, std::int64_t dim, const Tensor& values, const Tensor& indices) {
  check_on_device("cuda::max", values, {&x, &indices});
  dim = wrap_dim(dim, x.dim(), "max");
  Shape expected = x.shape();
  expected[dim] = 1;
  MECH_CHECK(x.size(dim) > 0, "max: dim {} of input shape {} is empty", dim, shape_str(x.shape()));
  MECH_CHECK(values.shape() == expected && values.is_contiguous() && indices.shape() == expected &&
                 indices.is_contiguous() && indices.dtype() == DType::Int64,
             "max: expected contiguous values and int64 indices of shape {}, got {} and {}", shape_str(expected),
             shape_str(values.shape()), shape_str(indices.shape()));
  const std::int64_t outputs = values.numel();
  if (outputs == 0) return;
  std::vector<bool> keep(x.shape().size(), true);
  keep[dim] = false;
  const DimSubset kept = select_dims(x.shape(), x.strides(), keep);
  const StridedIndexer<1> outer = make_indexer<1>(kept.shape, {&kept.strides}, "max");
  const int device = values.device().index;
  DeviceGuard guard(device);
  MECH_DISPATCH_ALL(values.dtype(), "cuda::max", [&]<class T>() {
    max_kernel<T><<<grid_for(outputs), kBlockSize, 0, stream(device)>>>(
        outputs, x.size(dim), x.stride(dim), outer, x.data_ptr<T>(), values.data_ptr<T>(),
        indices.data_ptr<std::int64_t>());
    MECH_CUDA_CHECK_LAUNCH("max");
  });
}

void index_select(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& out) {
  check_on_device("cuda::index_select", out, {&x, &index});
  check_index("index_select", index);
  dim = wrap_dim(dim, x.dim(), "index_select");
  Shape expected = x.shape();
  expected[dim] = index.numel();
  MECH_CHECK(out.shape() == expected && out.is_contiguous(),
             "index_select: output must be contiguous of shape {}, got {}", shape_str(expected),
             shape_str(out.shape()));
  const std::int64_t n = out.numel();
  if (n == 0) return;
  Shape strides = x.strides();
  strides[dim] = 0;  // the dim's contribution comes from the index
  const StridedIndexer<1> outer = make_indexer<1>(out.shape(), {&strides}, "index_select");
  const int device = out.device().index;
  DeviceGuard guard(device);
  ErrorFlag error(device);
  MECH_DISPATCH_ALL(out.dtype(), "cuda::index_select", [&]<class T>() {
    index_select_kernel<T><<<grid_for(n), kBlockSize, 0, stream(device)>>>(
        n, outer, product(out.shape(), static_cast<std::size_t>(dim) + 1), index.numel(),
        index.data_ptr<std::int64_t>(), index.stride(0), x.size(dim), x.stride(dim), x.data_ptr<T>(),
        out.data_ptr<T>(), error.data());
    MECH_CUDA_CHECK_LAUNCH("index_select");
  });
  MECH_CHECK(!error.raised(), "index_select: an index is out of range for dim {} of size {} (input shape {})", dim,
             x.size(dim), shape_str(x.shape()));
}

void index_add(const Tensor& out, std::int64_t dim, const Tensor& index, const Tensor& source) {
  check_on_device("cuda::index_add", out, {&index, &source});
  check_index("index_add", index);
  dim = wrap_dim(dim, out.dim(), "index_add");
  Shape expected = out.shape();
  expected[dim] = index.numel();
  MECH_CHECK(source.shape() == expected, "index_add: source shape {} does not match {} (out {}, index of {})",
             shape_str(source.shape()), shape_str(expected), shape_str(out.shape()), index.numel());
  const std::int64_t n = source.numel();
  if (n == 0) return;
  Shape out_strides = out.strides();
  out_strides[dim] = 0;
  const StridedIndexer<2> indexer = make_indexer<2>(source.shape(), {&source.strides(), &out_strides}, "index_add");
  const int device = out.device().index;
  DeviceGuard guard(device);
  ErrorFlag error(device);
  MECH_DISPATCH_FLOAT(out.dtype(), "cuda::index_add", [&]<class T>() {
    index_add_kernel<T><<<grid_for(n), kBlockSize, 0, stream(device)>>>(
        n, indexer, product(source.shape(), static_cast<std::size_t>(dim) + 1), index.numel(),
        index.data_ptr<std::int64_t>(), index.stride(0), out.size(dim), out.stride(dim), source.data_ptr<T>(),
        out.data_ptr<T>(), error.data());
    MECH_CUDA_CHECK_LAUNCH("index_add");
  });
  MECH_CHECK(!error.raised(), "index_add: an index is out of range for dim {} of size {} (out shape {})", dim,
             out.size(dim), shape_str(out.shape()));
}

}  // namespace mech::cuda
