// CPU conv1d forward and backward as packed GEMMs over shifted rows of a padded input, with no
// im2col matrix. Each batch element's input is copied once into a padded buffer (zeros or the
// circular wrap); row (c, k) of the unfolded input is then that buffer's channel c shifted by
// k * dilation and read every stride-th element, which the GEMM's packing takes as one pointer
// per row (core/cpu_gemm.h). The forward product and the weight gradient read those rows; the
// input gradient of a stride-1 conv is the correlation of the zero-padded output gradient with
// the flipped kernel (the same GEMM form), and of a strided one (or one with few input channels)
// the column gradient W^T dY folded back tap by tap. Either lands in a padded buffer whose pad columns are folded back onto the
// input (added across the wrap for circular padding, dropped for zeros).
#include <algorithm>
#include <vector>

#include "core/cpu_gemm.h"
#include "core/cpu_kernels.h"
#include "core/parallel.h"

namespace mech::cpu {

namespace {

// N batch, C_in/C_out channels, L input length, K taps, L_out output length, Lp = L + 2 padding.
struct ConvGeometry {
  std::int64_t batch, in_channels, length, out_channels, kernel, out_length;
  std::int64_t stride, padding, dilation;
  PaddingMode mode;

  std::int64_t padded_length() const { return length + 2 * padding; }
  std::int64_t taps() const { return in_channels * kernel; }
  // Multiply-adds of one batch element's product: the parallel loops' grain.
  std::int64_t work_per_element() const { return out_channels * taps() * out_length; }
};

ConvGeometry geometry_of(const Tensor& input, const Tensor& weight, std::int64_t out_length, std::int64_t stride,
                         std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  return {input.shape()[0], input.shape()[1], input.shape()[2], weight.shape()[0], weight.shape()[2],
          out_length,       stride,           padding,          dilation,          mode};
}

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr std::int64_t kParallelWork = 1 << 18;

std::int64_t grain_for(std::int64_t work_per_item) {
  return std::max<std::int64_t>(1, kParallelWork / std::max<std::int64_t>(work_per_item, 1));
}

// Rows [first, last) of `rows` for part `part` of `parts`, boundaries on multiples of 16 so that
// no two parts share a micro-tile of the GEMM.
std::pair<std::int64_t, std::int64_t> part_of(std::int64_t rows, std::int64_t part, std::int64_t parts) {
  const std::int64_t units = (rows + 15) / 16;
  return {std::min(rows, units * part / parts * 16), std::min(rows, units * (part + 1) / parts * 16)};
}

// How many row parts each batch element's product is split into so that every thread has work.
std::int64_t splits_for(const ConvGeometry& g, std::int64_t rows) {
  const std::int64_t threads = get_num_threads();
  if (g.batch >= threads || g.batch * g.work_per_element() < kParallelWork) return 1;
  return std::clamp<std::int64_t>((threads + g.batch - 1) / g.batch, 1, (rows + 15) / 16);
}

// padded[c, j] = input[n, c, j - padding] for channels [c0, c1), j in [0, Lp): zeros or the
// circular wrap outside [0, L) (padding <= L, checked by the op, so one wrap is enough).
template <class T>
void pad_input(const Tensor& input, const ConvGeometry& g, std::int64_t n, std::int64_t c0, std::int64_t c1,
               T* padded) {
  const T* in = input.data_ptr<T>();
  const auto& st = input.strides();
  const std::int64_t lp = g.padded_length(), p = g.padding, length = g.length;
  for (std::int64_t c = c0; c < c1; ++c) {
    const T* row = in + n * st[0] + c * st[1];
    T* target = padded + c * lp;
    for (std::int64_t l = 0; l < length; ++l) target[p + l] = row[l * st[2]];
    const bool zeros = g.mode == PaddingMode::Zeros;
    for (std::int64_t j = 0; j < p; ++j) {
      target[j] = zeros ? T(0) : target[length + j];        // input[L - p + j]
      target[p + length + j] = zeros ? T(0) : target[p + j];  // input[j]
    }
  }
}

// grad_input[n] = the padded gradient (C_in, Lp) with its pad columns folded back: added to the
// positions they wrapped from (circular) or dropped (zeros).
template <class T>
void fold_padding(const T* padded, const ConvGeometry& g, T* grad_input) {
  const std::int64_t lp = g.padded_length(), p = g.padding, length = g.length;
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    const T* source = padded + c * lp;
    T* target = grad_input + c * length;
    std::copy(source + p, source + p + length, target);
    if (g.mode == PaddingMode::Zeros) continue;
    for (std::int64_t j = 0; j < p; ++j) {
      target[length - p + j] += source[j];
      target[j] += source[p + length + j];
    }
  }
}

// The row pointers of the unfolded input of one padded batch element: row c * K + k starts at
// padded[c, k * dilation] (read every stride-th element), for channels [c0, c1).
template <class T>
void unfolded_rows(const T* padded, const ConvGeometry& g, std::int64_t c0, std::int64_t c1,
                   std::vector<const T*>& rows) {
  rows.resize(static_cast<std::size_t>(g.taps()));
  for (std::int64_t c = c0; c < c1; ++c)
    for (std::int64_t k = 0; k < g.kernel; ++k) rows[c * g.kernel + k] = padded + c * g.padded_length() + k * g.dilation;
}

// The weight as a contiguous (C_out, C_in * K) matrix (a copy only when it is strided).
Tensor contiguous_weight(const Tensor& weight) {
  if (weight.is_contiguous()) return weight;
  Tensor w = empty(weight.shape(), TensorOptions().dtype(weight.dtype()));
  copy(weight, w);
  return w;
}

// out[n] (C_out, L_out) = bias + W (C_out, C_in K) . unfolded(n) (C_in K, L_out).
template <class T>
void conv1d_typed(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
                  const ConvGeometry& g) {
  const Tensor w = contiguous_weight(weight);
  const GemmOperand<T> weights{w.data_ptr<T>(), g.taps(), 1};
  T* o = out.data_ptr<T>();
  const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
  const std::int64_t bias_stride = bias.defined() ? bias.strides()[0] : 0;
  const std::int64_t splits = splits_for(g, g.out_channels);
  parallel_for(0, g.batch * splits, grain_for(g.work_per_element() / splits), [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> padded(static_cast<std::size_t>(g.in_channels * g.padded_length()));
    std::vector<const T*> rows;
    unfolded_rows(padded.data(), g, 0, g.in_channels, rows);
    const GemmOperand<T> unfolded{nullptr, 0, g.stride, rows.data()};
    std::int64_t padded_element = -1;
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t n = item / splits;
      const auto [first, last] = part_of(g.out_channels, item % splits, splits);
      if (first == last) continue;
      if (n != padded_element) pad_input(input, g, n, 0, g.in_channels, padded.data());
      padded_element = n;
      T* target = o + (n * g.out_channels + first) * g.out_length;
      if (b != nullptr) {
        for (std::int64_t channel = first; channel < last; ++channel)
          std::fill_n(target + (channel - first) * g.out_length, g.out_length, b[channel * bias_stride]);
      }
      const GemmOperand<T> rows_of_weights{weights.data + first * weights.row_stride, weights.row_stride, 1};
      gemm(rows_of_weights, unfolded, target, g.out_length, last - first, g.out_length, g.taps(), b != nullptr);
    }
  });
}

// Batch elements per partial sum of the weight gradient: a fixed count, so that the summation
// order (and so every bit of the result) does not depend on the number of threads.
constexpr std::int64_t kWeightGradientChunk = 8;

// grad_weight (C_out, C_in, K) = sum_n dY[n] . unfolded(n)^T, computed transposed,
// (C_in K, C_out) = sum_n unfolded(n) . dY[n]^T, so that the unfolded rows are the GEMM's A
// operand. The batch is cut into chunks of kWeightGradientChunk elements, each accumulated in
// its own partial sum by one product per element, the partials added in chunk order at the end;
// the threads share the chunks, and split a chunk's rows when there are fewer chunks than threads.
// (Splitting the rows alone made every thread pack each dY[n] for half the rows: at KdV's input
// layer, 10 -> 64, that cost 40% of the rate on two threads.)
template <class T>
void conv1d_grad_weight(const Tensor& grad_out, const Tensor& input, const Tensor& grad_weight,
                        const ConvGeometry& g) {
  const std::int64_t taps = g.taps(), size = taps * g.out_channels;
  const std::int64_t chunks = (g.batch + kWeightGradientChunk - 1) / kWeightGradientChunk;
  std::vector<T> partials(static_cast<std::size_t>(std::max<std::int64_t>(chunks, 1) * size), T(0));
  const T* dy = grad_out.data_ptr<T>();
  const auto& gst = grad_out.strides();
  const bool parallel = g.batch * g.work_per_element() >= kParallelWork;
  const std::int64_t threads = get_num_threads();
  const std::int64_t row_parts =
      parallel ? std::clamp<std::int64_t>((threads + chunks - 1) / std::max<std::int64_t>(chunks, 1), 1, (taps + 15) / 16)
               : 1;
  parallel_for(0, chunks * row_parts, parallel ? 1 : chunks * row_parts, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> padded(static_cast<std::size_t>(g.in_channels * g.padded_length()));
    std::vector<const T*> rows;
    unfolded_rows(padded.data(), g, 0, g.in_channels, rows);
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t chunk = item / row_parts;
      const auto [first, last] = part_of(taps, item % row_parts, row_parts);
      if (first == last) continue;
      const std::int64_t c0 = first / g.kernel, c1 = (last - 1) / g.kernel + 1;
      const GemmOperand<T> unfolded{nullptr, 0, g.stride, rows.data() + first};
      T* sum = partials.data() + chunk * size + first * g.out_channels;
      const std::int64_t n_end = std::min(g.batch, (chunk + 1) * kWeightGradientChunk);
      for (std::int64_t n = chunk * kWeightGradientChunk; n < n_end; ++n) {
        pad_input(input, g, n, c0, c1, padded.data());
        const GemmOperand<T> dy_transposed{dy + n * gst[0], gst[2], gst[1]};
        gemm(unfolded, dy_transposed, sum, g.out_channels, last - first, g.out_channels, g.out_length, true);
      }
    }
  });
  for (std::int64_t chunk = 1; chunk < chunks; ++chunk)
    for (std::int64_t i = 0; i < size; ++i) partials[i] += partials[chunk * size + i];
  T* target = grad_weight.data_ptr<T>();
  for (std::int64_t row = 0; row < taps; ++row)
    for (std::int64_t o = 0; o < g.out_channels; ++o) target[o * taps + row] = partials[row * g.out_channels + o];
}

// Stride 1: the padded input gradient dXp[c, j] = sum_{o, k} W[o, c, k] dY[o, j - k d] is a
// correlation of dY, zero-padded by (K-1) d on both sides, with the flipped kernel
// Wf[c, o, k'] = W[o, c, K-1-k']: dXp (C_in, Lp) = Wf (C_in, C_out K) . rows (o, k') of dY
// shifted by k' d. The GEMM writes dXp, then its pad columns are folded back.
template <class T>
void conv1d_grad_input_correlation(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_input,
                                   const ConvGeometry& g) {
  const std::int64_t kernel = g.kernel, taps = g.out_channels * kernel, lp = g.padded_length();
  const std::int64_t margin = (kernel - 1) * g.dilation, lq = g.out_length + 2 * margin;
  std::vector<T> flipped(static_cast<std::size_t>(g.in_channels * taps));
  {
    const T* w = weight.data_ptr<T>();
    const auto& wst = weight.strides();
    for (std::int64_t c = 0; c < g.in_channels; ++c)
      for (std::int64_t o = 0; o < g.out_channels; ++o)
        for (std::int64_t k = 0; k < kernel; ++k)
          flipped[(c * g.out_channels + o) * kernel + (kernel - 1 - k)] = w[o * wst[0] + c * wst[1] + k * wst[2]];
  }
  const GemmOperand<T> flipped_weights{flipped.data(), taps, 1};
  const T* dy = grad_out.data_ptr<T>();
  const auto& gst = grad_out.strides();
  T* result = grad_input.data_ptr<T>();
  parallel_for(0, g.batch, grain_for(g.work_per_element()), [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> shifted(static_cast<std::size_t>(g.out_channels * lq), T(0));
    std::vector<T> padded(static_cast<std::size_t>(g.in_channels * lp));
    std::vector<const T*> rows(static_cast<std::size_t>(taps));
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t k = 0; k < kernel; ++k) rows[o * kernel + k] = shifted.data() + o * lq + k * g.dilation;
    const GemmOperand<T> dy_rows{nullptr, 0, 1, rows.data()};
    for (std::int64_t n = begin; n < end; ++n) {
      for (std::int64_t o = 0; o < g.out_channels; ++o) {
        const T* source = dy + n * gst[0] + o * gst[1];
        T* target = shifted.data() + o * lq + margin;
        for (std::int64_t l = 0; l < g.out_length; ++l) target[l] = source[l * gst[2]];
      }
      gemm(flipped_weights, dy_rows, padded.data(), lp, g.in_channels, lp, taps, false);
      fold_padding(padded.data(), g, result + n * g.in_channels * g.length);
    }
  });
}

// Any stride: the column gradient dCols (C_in K, L_out) = W^T dY[n], each entry added back to the
// padded position its tap read, then the pad columns folded back.
template <class T>
void conv1d_grad_input_columns(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_input,
                               const ConvGeometry& g) {
  const Tensor w = contiguous_weight(weight);
  const std::int64_t taps = g.taps(), lp = g.padded_length();
  const GemmOperand<T> weights_transposed{w.data_ptr<T>(), 1, taps};
  const T* dy = grad_out.data_ptr<T>();
  const auto& gst = grad_out.strides();
  T* result = grad_input.data_ptr<T>();
  parallel_for(0, g.batch, grain_for(g.work_per_element()), [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> columns(static_cast<std::size_t>(taps * g.out_length));
    std::vector<T> padded(static_cast<std::size_t>(g.in_channels * lp));
    for (std::int64_t n = begin; n < end; ++n) {
      const GemmOperand<T> dy_n{dy + n * gst[0], gst[1], gst[2]};
      gemm(weights_transposed, dy_n, columns.data(), g.out_length, taps, g.out_length, g.out_channels, false);
      std::fill(padded.begin(), padded.end(), T(0));
      for (std::int64_t c = 0; c < g.in_channels; ++c) {
        for (std::int64_t k = 0; k < g.kernel; ++k) {
          const T* column = columns.data() + (c * g.kernel + k) * g.out_length;
          T* target = padded.data() + c * lp + k * g.dilation;
          for (std::int64_t l = 0; l < g.out_length; ++l) target[l * g.stride] += column[l];
        }
      }
      fold_padding(padded.data(), g, result + n * g.in_channels * g.length);
    }
  });
}

}  // namespace

void conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out, std::int64_t stride,
            std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  const ConvGeometry g = geometry_of(input, weight, out.shape()[2], stride, padding, dilation, mode);
  MECH_CHECK(out.is_contiguous(), "conv1d: out must be contiguous, got strides {}", shape_str(out.strides()));
  if (out.numel() == 0) return;
  MECH_DISPATCH_FLOAT(out.dtype(), "conv1d", [&]<class T>() { conv1d_typed<T>(input, weight, bias, out, g); });
}

void conv1d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight, const Tensor& grad_input,
                     const Tensor& grad_weight, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
                     PaddingMode mode) {
  const ConvGeometry g = geometry_of(input, weight, grad_out.shape()[2], stride, padding, dilation, mode);
  MECH_DISPATCH_FLOAT(grad_out.dtype(), "conv1d_backward", [&]<class T>() {
    if (grad_weight.defined()) {
      MECH_CHECK(grad_weight.is_contiguous(), "conv1d_backward: grad_weight must be contiguous, got strides {}",
                 shape_str(grad_weight.strides()));
      conv1d_grad_weight<T>(grad_out, input, grad_weight, g);
    }
    if (grad_input.defined()) {
      MECH_CHECK(grad_input.is_contiguous(), "conv1d_backward: grad_input must be contiguous, got strides {}",
                 shape_str(grad_input.strides()));
      // The correlation packs C_out K x Lp values of dY per batch element for 2 C_in flops each;
      // the column path folds C_in K x L_out values back instead, cheaper when C_in is small
      // (the KdV input layer, 10 -> 64, runs 3x faster by columns).
      if (g.stride == 1 && 2 * g.in_channels >= g.out_channels) {
        conv1d_grad_input_correlation<T>(grad_out, weight, grad_input, g);
      }
      else conv1d_grad_input_columns<T>(grad_out, weight, grad_input, g);
    }
  });
}

}  // namespace mech::cpu
