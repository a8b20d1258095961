// The kernel layer (core/kernels.h) called directly on CPU tensors: strided and stride-0 operands,
// dtype conversion in copy, masked sums, max with indices, batched matmul with a broadcast batch,
// gather/scatter-add and conv1d with bias, each against hand-computed values; conv1d forward and
// gradients against definition loops over the geometries its GEMM paths split on; in a build
// without CUDA, the dispatch of every kernel of core/kernel_list.h to its stub; and the
// parallel_for under them (coverage of the range, chunking, nesting, exceptions, concurrency).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/generator.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/tensor.h"

using namespace mech;

namespace {
const TensorOptions f64 = TensorOptions().dtype(DType::Float64);
const TensorOptions i64 = TensorOptions().dtype(DType::Int64);

// A raw view with explicit geometry, as ops hand to kernels.
Tensor view_of(const Tensor& base, std::int64_t offset, const Shape& shape, const Shape& strides) {
  return Tensor(base.storage(), offset, shape, strides, base.dtype());
}
}  // namespace

TEST(Kernels, CopyConvertsAndFollowsStrides) {
  Tensor source = arange(0, 6, 1, f64);
  Tensor transposed = view_of(source, 0, {3, 2}, {1, 3});  // [[0 3] [1 4] [2 5]]
  Tensor destination = zeros({3, 2});
  kernels::copy(transposed, destination);
  EXPECT_EQ(destination.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // Into a strided destination: every other element of a length-6 buffer.
  Tensor buffer = zeros({6}, i64);
  kernels::copy(from_vector<double>({7.9, -1.2, 3.0}, {3}), view_of(buffer, 1, {3}, {2}));
  EXPECT_EQ(buffer.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 7, 0, -1, 0, 3}));
  // A stride-0 source broadcasts.
  Tensor row = from_vector<double>({1, 2}, {2});
  Tensor tiled = zeros({3, 2}, f64);
  kernels::copy(view_of(row, 0, {3, 2}, {0, 1}), tiled);
  EXPECT_EQ(tiled.to_vector<double>(), (std::vector<double>{1, 2, 1, 2, 1, 2}));
  EXPECT_THROW(kernels::copy(zeros({2}), zeros({3})), Error);
}

TEST(Kernels, FillStrided) {
  Tensor x = zeros({3, 3}, f64);
  kernels::fill(view_of(x, 0, {3}, {4}), 5.0);  // the diagonal
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{5, 0, 0, 0, 5, 0, 0, 0, 5}));
}

TEST(Kernels, UnaryAndBinaryWithBroadcastOperands) {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor column = from_vector<double>({10, 20}, {2});
  Tensor out = empty({2, 3}, f64);
  kernels::binary(BinaryOp::Sub, a, view_of(column, 0, {2, 3}, {1, 0}), out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{-9, -8, -7, -16, -15, -14}));
  // A broadcast left operand (stride 0 along the run), with a non-commutative op.
  kernels::binary(BinaryOp::Sub, view_of(column, 0, {2, 3}, {1, 0}), a, out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{9, 8, 7, 16, 15, 14}));
  kernels::binary(BinaryOp::Div, view_of(column, 0, {2, 3}, {0, 0}), a, out);   // 10 / a
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{10, 5, 10.0 / 3, 2.5, 2, 10.0 / 6}));
  kernels::binary(BinaryOp::Max, a, full({2, 3}, 3.5, f64), out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{3.5, 3.5, 3.5, 4, 5, 6}));
  kernels::unary(UnaryOp::Clamp, view_of(a, 0, {2, 3}, {1, 2}), out, 2.0, 4.0);  // reads [[1 3 5] [2 4 6]]
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{2, 3, 4, 2, 4, 4}));
  kernels::unary(UnaryOp::ClampMask, a, out, 2.0, 4.0);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{0, 1, 1, 1, 0, 0}));
  kernels::unary(UnaryOp::Sign, from_vector<double>({-3, 0, 2, 1, -1, 0}, {2, 3}), out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{-1, 0, 1, 1, -1, 0}));
}

TEST(Kernels, LargeElementwiseRunsInParallelChunksCorrectly) {
  const std::int64_t n = 300001;  // above the parallel grain, odd so chunks are uneven
  Tensor x = arange(0, static_cast<double>(n), 1, f64);
  Tensor out = empty({n}, f64);
  kernels::binary(BinaryOp::Mul, x, x, out);
  const auto values = out.to_vector<double>();
  for (std::int64_t i = 0; i < n; i += 9973) ASSERT_EQ(values[i], static_cast<double>(i) * i);
  ASSERT_EQ(values[n - 1], static_cast<double>(n - 1) * (n - 1));
}

TEST(Kernels, SumOverMaskedDims) {
  Tensor x = arange(0, 24, 1, f64).reshape({2, 3, 4});
  Tensor out = empty({1, 3, 1}, f64);
  kernels::sum(x, {true, false, true}, out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{60, 92, 124}));
  Tensor all = empty({1, 1, 1}, f64);
  kernels::sum(x, {true, true, true}, all);
  EXPECT_EQ(all.item(), 276);
  // A long single reduction takes the split-over-threads path.
  Tensor ones_long = ones({200000}, f64);
  Tensor total = empty({1}, f64);
  kernels::sum(ones_long, {true}, total);
  EXPECT_EQ(total.item(), 200000);
}

// float32 sums add in float32 lanes over short blocks and the blocks in double: a long sum of
// ones stays exact (one float32 running sum would stop at 2^24), and random data stays within a
// few float32 roundings of the exact sum on every path (one long sum, rows, across rows).
TEST(Kernels, Float32SumsStayExactOnLongInputs) {
  const std::int64_t n = (1 << 24) + 4098;  // even: a float32 holds it exactly
  Tensor total = empty({1});
  kernels::sum(ones({n}), {true}, total);
  EXPECT_EQ(total.item(), static_cast<double>(n));
  Tensor columns = empty({1, 24});
  kernels::sum(ones({70001, 24}), {true, false}, columns);
  for (float value : columns.to_vector<float>()) ASSERT_EQ(value, 70001.0f);

  Generator generator(11);
  const Tensor x = randn({300, 4097}, TensorOptions().dtype(DType::Float32), &generator);
  const std::vector<float> values = x.to_vector<float>();
  const std::vector<bool> over_rows = {true, false}, over_columns = {false, true}, over_all = {true, true};
  Tensor across_rows = empty({1, 4097}), per_row = empty({300, 1}), all = empty({1, 1});
  kernels::sum(x, over_rows, across_rows);
  kernels::sum(x, over_columns, per_row);
  kernels::sum(x, over_all, all);
  // Each result against the exact (double) sum of the same floats, with the bound 8 float32 ulps of
  // the sum of magnitudes: the block sums' own error is near sqrt(64) roundings.
  auto check = [&](double result, double exact, double magnitude) {
    EXPECT_LE(std::abs(result - exact), 8 * 0x1p-24 * magnitude) << result << " vs " << exact;
  };
  const std::vector<float> rows = per_row.to_vector<float>();
  double grand = 0, grand_magnitude = 0;
  std::vector<double> column_sum(4097, 0), column_magnitude(4097, 0);
  for (std::int64_t r = 0; r < 300; ++r) {
    double row = 0, row_magnitude = 0;
    for (std::int64_t c = 0; c < 4097; ++c) {
      const double v = values[r * 4097 + c];
      row += v, row_magnitude += std::abs(v);
      column_sum[c] += v, column_magnitude[c] += std::abs(v);
    }
    check(rows[r], row, row_magnitude);
    grand += row, grand_magnitude += row_magnitude;
  }
  const std::vector<float> across = across_rows.to_vector<float>();
  for (std::int64_t c = 0; c < 4097; ++c) check(across[c], column_sum[c], column_magnitude[c]);
  check(all.item(), grand, grand_magnitude);
}

TEST(Kernels, MaxValuesAndIndices) {
  Tensor x = from_vector<double>({3, 9, 1, 7, 2, 8}, {2, 3});
  Tensor values = empty({1, 3}, f64), indices = empty({1, 3}, i64);
  kernels::max(x, 0, values, indices);
  EXPECT_EQ(values.to_vector<double>(), (std::vector<double>{7, 9, 8}));
  EXPECT_EQ(indices.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1}));
}

TEST(Kernels, BatchedMatmulWithStrideZeroBatch) {
  // One 2x2 matrix shared (stride 0) across a batch of 2 right-hand sides.
  Tensor a = from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = from_vector<double>({1, 0, 0, 1, 2, 1, 1, 2}, {2, 2, 2});
  Tensor out = empty({2, 2, 2}, f64);
  kernels::matmul(view_of(a, 0, {2, 2, 2}, {0, 2, 1}), b, out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 4, 5, 10, 11}));
  // Float32 with a transposed a.
  Tensor af = from_vector<float>({1, 3, 2, 4}, {2, 2});  // a^T stored
  Tensor outf = empty({1, 2, 2});
  kernels::matmul(view_of(af, 0, {1, 2, 2}, {4, 1, 2}), from_vector<float>({1, 0, 0, 1}, {1, 2, 2}), outf);
  EXPECT_EQ(outf.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THROW(kernels::matmul(zeros({1, 2, 3}), zeros({1, 2, 3}), zeros({1, 2, 3})), Error);
}

TEST(Kernels, GatherAndScatterAdd) {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor index = from_vector<std::int64_t>({2, 0}, {2});
  Tensor out = empty({2, 2}, f64);
  kernels::index_select(x, 0, index, out);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{5, 6, 1, 2}));
  Tensor target = zeros({3, 2}, f64);
  kernels::index_add(target, 0, from_vector<std::int64_t>({1, 1, 0}, {3}), x);
  EXPECT_EQ(target.to_vector<double>(), (std::vector<double>{5, 6, 4, 6, 0, 0}));
  EXPECT_THROW(kernels::index_select(x, 0, from_vector<std::int64_t>({3}, {1}), empty({1, 2}, f64)), Error);
}

// index_select and index_add against element-by-element references, on a permuted
// (non-contiguous) input and target, gathering along the middle dim with repeated indices, for
// every dtype; slices of 2 x 3 elements take the direct loop, slices of 2 x 20000 (above the
// parallel grain) the per-slice strided kernels.
template <class T>
void check_gather_and_scatter_add(std::int64_t inner) {
  const std::vector<std::int64_t> picks{4, 0, 4, 2};
  const std::int64_t rows = 5, count = static_cast<std::int64_t>(picks.size());
  // Storage laid out (rows, 2, inner); viewed as (2, rows, inner).
  std::vector<T> data(static_cast<std::size_t>(rows * 2 * inner));
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<T>(i % 1000) - static_cast<T>(7);
  auto at = [&](std::int64_t a, std::int64_t j, std::int64_t k) { return data[static_cast<std::size_t>((j * 2 + a) * inner + k)]; };
  const Tensor storage = from_vector<T>(data, {rows * 2 * inner});
  const Tensor x = view_of(storage, 0, {2, rows, inner}, {inner, 2 * inner, 1});
  const Tensor index = from_vector<std::int64_t>(picks, {count});
  Tensor out = empty({2, count, inner}, TensorOptions().dtype(dtype_of<T>()));
  kernels::index_select(x, 1, index, out);
  const std::vector<T> gathered = out.to_vector<T>();
  for (std::int64_t a = 0; a < 2; ++a)
    for (std::int64_t i = 0; i < count; ++i)
      for (std::int64_t k = 0; k < inner; ++k)
        ASSERT_EQ(gathered[static_cast<std::size_t>((a * count + i) * inner + k)], at(a, picks[i], k))
            << "index_select at " << a << "," << i << "," << k << " (inner " << inner << ")";

  // Scatter the gathered slices back, adding, into a permuted view of a zero target.
  const Tensor target_storage = zeros({rows * 2 * inner}, TensorOptions().dtype(dtype_of<T>()));
  const Tensor target = view_of(target_storage, 0, {2, rows, inner}, {inner, 2 * inner, 1});
  kernels::index_add(target, 1, index, out);
  const std::vector<T> scattered = target_storage.to_vector<T>();
  for (std::int64_t a = 0; a < 2; ++a)
    for (std::int64_t j = 0; j < rows; ++j)
      for (std::int64_t k = 0; k < inner; ++k) {
        const T times = static_cast<T>(std::count(picks.begin(), picks.end(), j));
        ASSERT_EQ(scattered[static_cast<std::size_t>((j * 2 + a) * inner + k)], times * at(a, j, k))
            << "index_add at " << a << "," << j << "," << k << " (inner " << inner << ")";
      }
}

TEST(Kernels, GatherAndScatterAddOnStridedViewsEveryDtypeBothPaths) {
  for (std::int64_t inner : {3, 20000}) {
    check_gather_and_scatter_add<float>(inner);
    check_gather_and_scatter_add<double>(inner);
    check_gather_and_scatter_add<std::int64_t>(inner);
  }
}

// Tiny products (the register-blocked paths for 1-4 columns and the general small loop for 5)
// against a float64 reference: row counts that are not multiples of the 4-row block, a transposed
// A and a B broadcast over the batch (stride 0), as autograd's batched matmul passes them.
TEST(Kernels, TinyMatmulsMatchAReferenceForEveryColumnCount) {
  for (std::int64_t n = 1; n <= 5; ++n) {
    const std::int64_t batch = 3, m = 7, k = 5;
    std::vector<double> a_values(static_cast<std::size_t>(batch * k * m)), b_values(static_cast<std::size_t>(k * n));
    for (std::size_t i = 0; i < a_values.size(); ++i) a_values[i] = std::sin(0.7 * static_cast<double>(i) + 0.3);
    for (std::size_t i = 0; i < b_values.size(); ++i) b_values[i] = std::cos(1.3 * static_cast<double>(i));
    // A stored as (batch, k, m) and viewed (batch, m, k); B one (k, n) matrix for every batch entry.
    const Tensor a = view_of(from_vector<double>(a_values, {batch * k * m}), 0, {batch, m, k}, {k * m, 1, m});
    const Tensor b = view_of(from_vector<double>(b_values, {k * n}), 0, {batch, k, n}, {0, n, 1});
    Tensor out = empty({batch, m, n}, f64);
    kernels::matmul(a, b, out);
    const std::vector<double> got = out.to_vector<double>();
    for (std::int64_t e = 0; e < batch; ++e)
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          double expected = 0.0;
          for (std::int64_t p = 0; p < k; ++p)
            expected += a_values[static_cast<std::size_t>(e * k * m + p * m + i)] * b_values[static_cast<std::size_t>(p * n + j)];
          EXPECT_NEAR(got[static_cast<std::size_t>((e * m + i) * n + j)], expected, 1e-14) << "n " << n << " at " << e << "," << i << "," << j;
        }
  }
}

// A binary op with one operand broadcast over the leading dims (a per-channel scale, the
// kernel's periodic path for short periods) on either side, against an element-by-element
// reference: periods 2, 3 and 64 (periodic path) and 65 (strided rows), row counts that do not
// fill the periodic path's buffer evenly, all dtypes.
template <class T>
void check_channel_broadcast(std::int64_t rows, std::int64_t channels) {
  std::vector<T> matrix(static_cast<std::size_t>(rows * channels)), scale(static_cast<std::size_t>(channels));
  for (std::size_t i = 0; i < matrix.size(); ++i) matrix[i] = static_cast<T>(static_cast<std::int64_t>(i % 97) - 40);
  for (std::size_t i = 0; i < scale.size(); ++i) scale[i] = static_cast<T>(static_cast<std::int64_t>(i % 7) + 1);
  const auto options = TensorOptions().dtype(dtype_of<T>());
  const Tensor a = from_vector<T>(matrix, {rows, channels});
  const Tensor b = view_of(from_vector<T>(scale, {channels}), 0, {rows, channels}, {0, 1});
  for (bool periodic_left : {false, true}) {
    Tensor out = empty({rows, channels}, options);
    if (periodic_left) kernels::binary(BinaryOp::Sub, b, a, out);
    else kernels::binary(BinaryOp::Sub, a, b, out);
    const std::vector<T> got = out.to_vector<T>();
    for (std::int64_t i = 0; i < rows * channels; ++i) {
      const T x = matrix[static_cast<std::size_t>(i)], y = scale[static_cast<std::size_t>(i % channels)];
      ASSERT_EQ(got[static_cast<std::size_t>(i)], periodic_left ? y - x : x - y)
          << "element " << i << ", " << channels << " channels, periodic operand on the " << (periodic_left ? "left" : "right");
    }
  }
}

TEST(Kernels, ChannelBroadcastOnEitherSideEveryPeriodAndDtype) {
  for (std::int64_t channels : {2, 3, 64, 65}) {
    check_channel_broadcast<float>(1001, channels);
    check_channel_broadcast<double>(1001, channels);
    check_channel_broadcast<std::int64_t>(1001, channels);
  }
  check_channel_broadcast<double>(1, 3);  // one row: nothing repeats
}

TEST(Kernels, Conv1dWithBias) {
  // Two output channels: a moving sum and a difference, plus biases 1 and -1.
  Tensor input = from_vector<double>({1, 2, 4, 8}, {1, 1, 4});
  Tensor weight = from_vector<double>({1, 1, -1, 1}, {2, 1, 2});
  Tensor bias = from_vector<double>({1, -1}, {2});
  Tensor out = empty({1, 2, 3}, f64);
  kernels::conv1d(input, weight, bias, out, 1, 0, 1, PaddingMode::Zeros);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{4, 7, 13, 0, 1, 3}));
  // Backward: dL/dx and dL/dw for a unit upstream gradient.
  Tensor grad_input = empty({1, 1, 4}, f64), grad_weight = empty({2, 1, 2}, f64);
  kernels::conv1d_backward(ones({1, 2, 3}, f64), input, weight, grad_input, grad_weight, 1, 0, 1, PaddingMode::Zeros);
  // x0 is read by tap 0 only, x3 by tap 1 only; summed over both channels' weights.
  EXPECT_EQ(grad_input.to_vector<double>(), (std::vector<double>{0, 2, 2, 2}));
  EXPECT_EQ(grad_weight.to_vector<double>(), (std::vector<double>{7, 14, 7, 14}));
}

// conv1d's GEMM paths against definition loops in float64: one geometry per way the kernels
// split the work. Circular padding over several batch elements; channel counts off the 16-row
// tile and a depth C_in K = 333 past one 256-deep block; kernel 1; stride 2 (the input gradient's
// column path) with and without dilation; circular padding as long as the input (the output
// longer than the input); batch 1 large enough that each product's rows split across threads.
// Each runs on 1 and 2 threads, with a strided output gradient and a strided bias.
namespace {

struct ConvGeometryCase {
  std::int64_t batch, in_channels, out_channels, length, kernel, stride, padding, dilation;
  PaddingMode mode;
};

// Input position read by output position l through tap k, or -1 for a zero pad.
std::int64_t conv_source(const ConvGeometryCase& c, std::int64_t l, std::int64_t k) {
  std::int64_t position = l * c.stride - c.padding + k * c.dilation;
  if (position >= 0 && position < c.length) return position;
  if (c.mode == PaddingMode::Zeros) return -1;
  return ((position % c.length) + c.length) % c.length;
}

Tensor seeded_normal(const Shape& shape, std::uint64_t seed) {
  Generator generator(seed);
  return randn(shape, f64, &generator);
}

void expect_close_to(const std::vector<double>& actual, const std::vector<double>& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], 1e-12 * std::max(1.0, std::abs(expected[i]))) << what << ", element " << i;
}

void check_conv_against_definition(const ConvGeometryCase& c, int threads) {
  const std::string what = "conv1d N " + std::to_string(c.batch) + " C_in " + std::to_string(c.in_channels) +
                           " C_out " + std::to_string(c.out_channels) + " L " + std::to_string(c.length) + " K " +
                           std::to_string(c.kernel) + " stride " + std::to_string(c.stride) + " padding " +
                           std::to_string(c.padding) + " dilation " + std::to_string(c.dilation) +
                           (c.mode == PaddingMode::Zeros ? " zeros" : " circular") + ", " + std::to_string(threads) +
                           " thread(s)";
  const std::int64_t out_length = (c.length + 2 * c.padding - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
  const Tensor input = seeded_normal({c.batch, c.in_channels, c.length}, 11);
  const Tensor weight = seeded_normal({c.out_channels, c.in_channels, c.kernel}, 12);
  const Tensor bias = seeded_normal({2 * c.out_channels}, 13).slice(0, 0, 2 * c.out_channels, 2);
  // The output gradient as the kernels get it from a transposed view: (N, C_out, L_out) with the
  // channels innermost in memory.
  const Tensor grad_out = seeded_normal({c.batch, out_length, c.out_channels}, 14).transpose(1, 2);
  const auto x = input.to_vector<double>(), w = weight.to_vector<double>(), b = bias.to_vector<double>();
  const auto dy = grad_out.to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(c.batch * c.out_channels * out_length));
  std::vector<double> grad_x(x.size(), 0.0), grad_w(w.size(), 0.0);
  for (std::int64_t n = 0; n < c.batch; ++n) {
    for (std::int64_t o = 0; o < c.out_channels; ++o) {
      for (std::int64_t l = 0; l < out_length; ++l) {
        const std::int64_t y_index = (n * c.out_channels + o) * out_length + l;
        double total = b[o];
        for (std::int64_t ci = 0; ci < c.in_channels; ++ci) {
          for (std::int64_t k = 0; k < c.kernel; ++k) {
            const std::int64_t position = conv_source(c, l, k);
            if (position < 0) continue;
            const std::int64_t x_index = (n * c.in_channels + ci) * c.length + position;
            const std::int64_t w_index = (o * c.in_channels + ci) * c.kernel + k;
            total += w[w_index] * x[x_index];
            grad_x[x_index] += w[w_index] * dy[y_index];
            grad_w[w_index] += dy[y_index] * x[x_index];
          }
        }
        out[y_index] = total;
      }
    }
  }
  const int previous_threads = get_num_threads();
  set_num_threads(threads);
  Tensor actual_out = empty({c.batch, c.out_channels, out_length}, f64);
  kernels::conv1d(input, weight, bias, actual_out, c.stride, c.padding, c.dilation, c.mode);
  Tensor actual_grad_input = empty(input.shape(), f64), actual_grad_weight = empty(weight.shape(), f64);
  kernels::conv1d_backward(grad_out, input, weight, actual_grad_input, actual_grad_weight, c.stride, c.padding,
                           c.dilation, c.mode);
  // Each gradient alone (the other undefined) gives the same values.
  Tensor only_grad_input = empty(input.shape(), f64), only_grad_weight = empty(weight.shape(), f64);
  kernels::conv1d_backward(grad_out, input, weight, only_grad_input, Tensor(), c.stride, c.padding, c.dilation,
                           c.mode);
  kernels::conv1d_backward(grad_out, input, weight, Tensor(), only_grad_weight, c.stride, c.padding, c.dilation,
                           c.mode);
  set_num_threads(previous_threads);
  expect_close_to(actual_out.to_vector<double>(), out, what + ": forward");
  expect_close_to(actual_grad_input.to_vector<double>(), grad_x, what + ": input gradient");
  expect_close_to(actual_grad_weight.to_vector<double>(), grad_w, what + ": weight gradient");
  EXPECT_EQ(only_grad_input.to_vector<double>(), actual_grad_input.to_vector<double>()) << what;
  EXPECT_EQ(only_grad_weight.to_vector<double>(), actual_grad_weight.to_vector<double>()) << what;
}

}  // namespace

TEST(Kernels, Conv1dMatchesDefinitionLoops) {
  const PaddingMode zeros = PaddingMode::Zeros, circular = PaddingMode::Circular;
  const std::vector<ConvGeometryCase> cases{
      {3, 5, 7, 20, 3, 1, 1, 1, circular},   // several batch elements, circular
      {2, 37, 19, 40, 9, 1, 4, 1, circular}, // C_in K = 333 > 256, C_out 19 off the tile; KdV-like
      {2, 4, 6, 11, 1, 1, 0, 1, zeros},      // kernel 1
      {3, 5, 7, 23, 5, 2, 2, 1, zeros},      // stride 2: mech-logistic's geometry
      {2, 3, 4, 17, 3, 2, 3, 2, circular},   // stride 2, dilation 2, circular
      {2, 6, 5, 15, 3, 1, 2, 2, zeros},      // dilation 2, stride 1
      {2, 3, 4, 6, 3, 1, 6, 1, circular},    // circular padding = L: L_out 16 > L 6
      {2, 3, 4, 19, 4, 3, 0, 1, zeros},      // stride 3, no padding, an even kernel
      {1, 40, 70, 64, 9, 1, 4, 1, zeros},    // batch 1: each product's rows split across threads
  };
  for (const ConvGeometryCase& c : cases)
    for (int threads : {1, 2}) check_conv_against_definition(c, threads);
}

// Copies between devices go through the kernel layer: it refuses two tensors on one device or of
// different geometry by name, and knows which devices exist.
TEST(Kernels, CopyBetweenDevicesChecksItsOperands) {
  EXPECT_TRUE(kernels::device_available(Device::cpu()));
  EXPECT_FALSE(kernels::device_available(Device::cuda(1 << 20)));
  EXPECT_FALSE(kernels::device_available(Device::cuda(-1)));
  try {
    kernels::copy_between_devices(zeros({2}), zeros({2}));
    ADD_FAILURE() << "a host-to-host copy was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("copy_between_devices: expected one tensor on the host and one on a "
                                             "CUDA device, got cpu and cpu"),
              std::string::npos)
        << error.what();
  }
  const Tensor remote(std::make_shared<Storage>(0, Device::cuda(0)), 0, {0, 2}, {2, 1}, DType::Float32);
  EXPECT_THROW(kernels::copy_between_devices(zeros({2, 0}), remote), Error);       // shapes differ
  EXPECT_THROW(kernels::copy_between_devices(zeros({0, 2}, f64), remote), Error);  // dtypes differ
  EXPECT_NO_THROW(kernels::copy_between_devices(zeros({0, 2}), remote));           // nothing to move
}

#ifndef MECH_HAS_CUDA
// The dispatchers and stubs are generated from core/kernel_list.h: in a build without CUDA, a
// tensor on a CUDA device reaches its kernel's stub, whose error names that kernel. Zero-byte
// storage claims cuda:0 without allocating anything.
TEST(Kernels, EveryKernelSendsCudaTensorsToItsStubInABuildWithoutCuda) {
  const Tensor remote(std::make_shared<Storage>(0, Device::cuda(0)), 0, {0}, {1}, DType::Float32);
  const std::vector<std::pair<const char*, std::function<void()>>> calls = {
      {"cuda::unary", [&] { kernels::unary(UnaryOp::Neg, remote, remote); }},
      {"cuda::binary", [&] { kernels::binary(BinaryOp::Add, remote, remote, remote); }},
      {"cuda::where", [&] { kernels::where(remote, remote, remote, remote); }},
      {"cuda::copy", [&] { kernels::copy(remote, remote); }},
      {"cuda::fill", [&] { kernels::fill(remote, 1.0); }},
      {"cuda::sum", [&] { kernels::sum(remote, {true}, remote); }},
      {"cuda::max", [&] { kernels::max(remote, 0, remote, remote); }},
      {"cuda::matmul", [&] { kernels::matmul(remote, remote, remote); }},
      {"cuda::conv1d", [&] { kernels::conv1d(remote, remote, Tensor(), remote, 1, 0, 1, PaddingMode::Zeros); }},
      {"cuda::conv1d_backward",
       [&] { kernels::conv1d_backward(remote, remote, remote, remote, Tensor(), 1, 0, 1, PaddingMode::Zeros); }},
      {"cuda::index_select", [&] { kernels::index_select(remote, 0, remote, remote); }},
      {"cuda::index_add", [&] { kernels::index_add(remote, 0, remote, remote); }},
      {"cuda::sgd_step", [&] { kernels::sgd_step(remote, remote, Tensor(), 0.1, 0, 0, 0, false, true); }},
      {"cuda::adam_step", [&] { kernels::adam_step(remote, remote, remote, remote, 0.1, 0.9, 0.99, 1e-8, 0, false, 1); }},
      {"cuda::fft_real_forward", [&] { kernels::fft_real_forward(remote, remote); }},
      {"cuda::fft_real_inverse", [&] { kernels::fft_real_inverse(remote, remote); }},
  };
  for (const auto& [name, call] : calls) {
    try {
      call();
      ADD_FAILURE() << name << " did not throw";
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(std::string(name) + ": mech was built without CUDA"), std::string::npos) << message;
    }
  }
}
#endif

TEST(ParallelFor, CoversTheRangeOnceInAtMostThreadCountChunks) {
  const int saved = get_num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<std::atomic<int>> hits(1000);
    std::atomic<int> chunks{0};
    parallel_for(0, 1000, 10, [&](std::int64_t begin, std::int64_t end) {
      ++chunks;
      for (auto i = begin; i < end; ++i) ++hits[i];
    });
    for (const auto& hit : hits) ASSERT_EQ(hit.load(), 1);
    EXPECT_EQ(chunks.load(), threads);
  }
  set_num_threads(2);
  std::atomic<int> small_chunks{0};
  parallel_for(5, 8, 100, [&](std::int64_t begin, std::int64_t end) {
    ++small_chunks;
    EXPECT_EQ(begin, 5);
    EXPECT_EQ(end, 8);
  });
  EXPECT_EQ(small_chunks.load(), 1);  // below the grain: one inline call
  set_num_threads(saved);
}

TEST(ParallelFor, AChosenThreadCountIsNotSharedAmongProcesses) {
  // The unchosen case (a rank's share of the cores) runs under mpiexec: tests/distributed.
  const int saved = get_num_threads();
  set_num_threads(3);
  share_cores_among(2);
  EXPECT_EQ(get_num_threads(), 3);
  set_num_threads(saved);
}

TEST(ParallelFor, NestedCallsRunInlineAndExceptionsReachTheCaller) {
  const int saved = get_num_threads();
  set_num_threads(2);
  std::atomic<int> inner_chunks{0};
  parallel_for(0, 2, 1, [&](std::int64_t, std::int64_t) {
    parallel_for(0, 100, 1, [&](std::int64_t begin, std::int64_t end) {
      ++inner_chunks;
      EXPECT_EQ(end - begin, 100);
    });
  });
  EXPECT_EQ(inner_chunks.load(), 2);
  EXPECT_THROW(parallel_for(0, 100, 1,
                            [](std::int64_t begin, std::int64_t) {
                              if (begin > 0) throw Error("worker chunk failed");
                            }),
               Error);
  // The pool still works after a failure.
  std::atomic<std::int64_t> total{0};
  parallel_for(0, 100, 1, [&](std::int64_t begin, std::int64_t end) { total += end - begin; });
  EXPECT_EQ(total.load(), 100);
  set_num_threads(saved);
}

TEST(ParallelFor, ConcurrentCallersFromTwoThreads) {
  const int saved = get_num_threads();
  set_num_threads(2);
  std::atomic<std::int64_t> totals[2] = {0, 0};
  auto caller = [&](int which) {
    for (int round = 0; round < 200; ++round) {
      parallel_for(0, 1000, 1, [&](std::int64_t begin, std::int64_t end) { totals[which] += end - begin; });
    }
  };
  std::thread first(caller, 0), second(caller, 1);
  first.join();
  second.join();
  EXPECT_EQ(totals[0].load(), 200 * 1000);
  EXPECT_EQ(totals[1].load(), 200 * 1000);
  set_num_threads(saved);
}
