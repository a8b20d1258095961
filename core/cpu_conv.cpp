// CPU conv1d forward and backward by im2col: the receptive fields are unfolded into a column
// matrix so that the convolution becomes one batched product with the packed matmul kernel;
// the input gradient folds the column gradient back (col2im), wrapping for circular padding.
#include <algorithm>

#include "core/cpu_kernels.h"
#include "core/parallel.h"

namespace mech::cpu {

namespace {

struct ConvGeometry {
  std::int64_t batch, in_channels, length, out_channels, kernel, out_length;
  std::int64_t stride, padding, dilation;
  PaddingMode mode;

  // Input position read by output position `l` through tap `k`, or -1 for a zero pad.
  std::int64_t source(std::int64_t l, std::int64_t k) const {
    std::int64_t position = l * stride - padding + k * dilation;
    if (position >= 0 && position < length) return position;
    if (mode == PaddingMode::Zeros) return -1;
    position %= length;  // circular: wrap into [0, length)
    return position < 0 ? position + length : position;
  }
};

ConvGeometry geometry_of(const Tensor& input, const Tensor& weight, std::int64_t out_length, std::int64_t stride,
                         std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  return {input.shape()[0], input.shape()[1], input.shape()[2], weight.shape()[0], weight.shape()[2],
          out_length,       stride,           padding,          dilation,          mode};
}

// The output positions [first, last) whose tap k reads inside the input (zero padding outside):
// 0 <= l * stride + offset < length with offset = k * dilation - padding.
struct TapRange {
  std::int64_t first, last;
};

TapRange inside_range(const ConvGeometry& g, std::int64_t k) {
  const std::int64_t offset = k * g.dilation - g.padding;
  const std::int64_t first = offset >= 0 ? 0 : (-offset + g.stride - 1) / g.stride;
  const std::int64_t last = g.length - 1 - offset < 0 ? 0 : (g.length - 1 - offset) / g.stride + 1;
  return {std::min(first, g.out_length), std::clamp(last, std::min(first, g.out_length), g.out_length)};
}

// columns (N, C_in * K, L_out), contiguous: columns[n, c * K + k, l] = input[n, c, source(l, k)].
// With zero padding each tap reads one contiguous run of output positions, so its row is a pad
// of zeros, a strided copy and a pad of zeros; circular padding looks every position up.
template <class T>
Tensor unfold(const Tensor& input, const ConvGeometry& g) {
  Tensor columns = empty({g.batch, g.in_channels * g.kernel, g.out_length}, TensorOptions().dtype(input.dtype()));
  const T* in = input.data_ptr<T>();
  T* out = columns.data_ptr<T>();
  const auto& st = input.strides();
  parallel_for(0, g.batch * g.in_channels, std::max<std::int64_t>(1, 4096 / (g.kernel * g.out_length + 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t item = begin; item < end; ++item) {
                   const std::int64_t n = item / g.in_channels, c = item % g.in_channels;
                   const T* row = in + n * st[0] + c * st[1];
                   T* block = out + item * g.kernel * g.out_length;
                   for (std::int64_t k = 0; k < g.kernel; ++k) {
                     T* target = block + k * g.out_length;
                     if (g.mode == PaddingMode::Zeros) {
                       const TapRange inside = inside_range(g, k);
                       const std::int64_t step = g.stride * st[2];
                       const T* source = row + (inside.first * g.stride + k * g.dilation - g.padding) * st[2];
                       std::fill(target, target + inside.first, T(0));
                       for (std::int64_t l = inside.first; l < inside.last; ++l) target[l] = source[(l - inside.first) * step];
                       std::fill(target + inside.last, target + g.out_length, T(0));
                       continue;
                     }
                     for (std::int64_t l = 0; l < g.out_length; ++l) target[l] = row[g.source(l, k) * st[2]];
                   }
                 }
               });
  return columns;
}

// The weight as (C_out, C_in * K) with a stride-0 batch dimension of size N.
Tensor weight_as_batched_matrix(const Tensor& weight, std::int64_t batch) {
  Tensor w = weight;
  if (w.strides()[1] != w.strides()[2] * w.shape()[2]) {
    w = empty(weight.shape(), TensorOptions().dtype(weight.dtype()));
    copy(weight, w);
  }
  return Tensor(w.storage(), w.offset(), {batch, w.shape()[0], w.shape()[1] * w.shape()[2]},
                {0, w.strides()[0], w.strides()[2]}, w.dtype());
}

Tensor transpose_last(const Tensor& t) {
  Shape shape = t.shape(), strides = t.strides();
  std::swap(shape[1], shape[2]);
  std::swap(strides[1], strides[2]);
  return Tensor(t.storage(), t.offset(), shape, strides, t.dtype());
}

}  // namespace

// B batch N, C_in/C_out channels, L input length, K taps, L_out output length.
void conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out, std::int64_t stride,
            std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  const ConvGeometry g = geometry_of(input, weight, out.shape()[2], stride, padding, dilation, mode);
  MECH_DISPATCH_FLOAT(out.dtype(), "conv1d", [&]<class T>() {
    const Tensor columns = unfold<T>(input, g);
    matmul(weight_as_batched_matrix(weight, g.batch), columns, out);  // (N, C_out, L_out)
    if (bias.defined()) {
      const T* b = bias.data_ptr<T>();
      T* o = out.data_ptr<T>();
      const std::int64_t bias_stride = bias.strides()[0];
      parallel_for(0, g.batch * g.out_channels, std::max<std::int64_t>(1, 32768 / (g.out_length + 1)),
                   [&](std::int64_t begin, std::int64_t end) {
                     for (std::int64_t row = begin; row < end; ++row) {
                       const T value = b[(row % g.out_channels) * bias_stride];
                       T* line = o + row * g.out_length;
                       for (std::int64_t l = 0; l < g.out_length; ++l) line[l] += value;
                     }
                   });
    }
  });
}

void conv1d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight, const Tensor& grad_input,
                     const Tensor& grad_weight, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
                     PaddingMode mode) {
  const ConvGeometry g = geometry_of(input, weight, grad_out.shape()[2], stride, padding, dilation, mode);
  const std::int64_t taps = g.in_channels * g.kernel;
  MECH_DISPATCH_FLOAT(grad_out.dtype(), "conv1d_backward", [&]<class T>() {
    if (grad_weight.defined()) {
      MECH_CHECK(grad_weight.is_contiguous(), "conv1d_backward: grad_weight must be contiguous, got strides {}",
                 shape_str(grad_weight.strides()));
      // dW = sum_n dY[n] columns[n]^T: per-sample products, then summed over the batch.
      const Tensor columns = unfold<T>(input, g);
      Tensor per_sample = empty({g.batch, g.out_channels, taps}, TensorOptions().dtype(grad_out.dtype()));
      matmul(grad_out, transpose_last(columns), per_sample);
      const Tensor target(grad_weight.storage(), grad_weight.offset(), {1, g.out_channels, taps},
                          contiguous_strides({1, g.out_channels, taps}), grad_weight.dtype());
      sum(per_sample, {true, false, false}, target);
    }
    if (grad_input.defined()) {
      MECH_CHECK(grad_input.is_contiguous(), "conv1d_backward: grad_input must be contiguous, got strides {}",
                 shape_str(grad_input.strides()));
      // dColumns = W^T dY, then every column entry is added back to the input position it read.
      Tensor grad_columns = empty({g.batch, taps, g.out_length}, TensorOptions().dtype(grad_out.dtype()));
      matmul(transpose_last(weight_as_batched_matrix(weight, g.batch)), grad_out, grad_columns);
      const T* columns = grad_columns.data_ptr<T>();
      T* result = grad_input.data_ptr<T>();
      parallel_for(0, g.batch * g.in_channels, std::max<std::int64_t>(1, 4096 / (g.kernel * g.out_length + 1)),
                   [&](std::int64_t begin, std::int64_t end) {
                     for (std::int64_t item = begin; item < end; ++item) {
                       T* row = result + item * g.length;
                       std::fill(row, row + g.length, T(0));
                       const T* block = columns + item * g.kernel * g.out_length;
                       for (std::int64_t k = 0; k < g.kernel; ++k) {
                         for (std::int64_t l = 0; l < g.out_length; ++l) {
                           const std::int64_t position = g.source(l, k);
                           if (position >= 0) row[position] += block[k * g.out_length + l];
                         }
                       }
                     }
                   });
    }
  });
}

}  // namespace mech::cpu
