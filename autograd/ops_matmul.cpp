// Differentiable matmul with NumPy semantics: 1-D x 1-D is a dot product, a 1-D operand is
// treated as a row (first) or column (second) vector and that dimension removed afterwards, and
// N-D operands are stacks of matrices whose batch dimensions broadcast.
#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace {

// Views a (batch..., rows, cols) tensor, already expanded to `batch`, as (B, rows, cols) when its
// batch dimensions can share one stride; otherwise copies it (only broadcast patterns such as
// stride (0, s) need the copy).
Tensor as_three_dims(const Tensor& x, const Shape& batch) {
  const auto rank = x.dim();
  const auto batch_rank = static_cast<std::int64_t>(batch.size());
  const std::int64_t count = shape_numel(batch);
  // Mergeable when each non-unit batch dim's stride is the next inner non-unit dim's stride
  // times that dim's extent (stride 0 throughout, a full broadcast, also qualifies).
  std::int64_t inner_stride = 0, extent = 1;
  bool first = true, mergeable = true;
  for (auto d = batch_rank - 1; d >= 0 && mergeable; --d) {
    if (batch[d] == 1) continue;
    if (first) {
      inner_stride = x.strides()[d];
      first = false;
    } else if (x.strides()[d] != inner_stride * extent) {
      mergeable = false;
    }
    extent *= batch[d];
  }
  if (mergeable) {
    return Tensor(x.storage(), x.offset(), {count, x.shape()[rank - 2], x.shape()[rank - 1]},
                  {inner_stride, x.strides()[rank - 2], x.strides()[rank - 1]}, x.dtype());
  }
  Tensor copy = empty(x.shape(), detail::options_of(x));
  kernels::copy(x, copy);
  return copy.reshape({count, x.shape()[rank - 2], x.shape()[rank - 1]}).detach();
}

// a (..., m, k) @ b (..., k, n), both at least 2-D, batch dims broadcast; records its backward.
Tensor matmul_batched(const Tensor& a, const Tensor& b) {
  const auto ra = a.dim(), rb = b.dim();
  const std::int64_t m = a.shape()[ra - 2], k = a.shape()[ra - 1], n = b.shape()[rb - 1];
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape a_full = batch, b_full = batch, out_shape = batch;
  a_full.insert(a_full.end(), {m, k});
  b_full.insert(b_full.end(), {k, n});
  out_shape.insert(out_shape.end(), {m, n});

  Tensor out = empty(out_shape, detail::options_of(a));
  const std::int64_t count = shape_numel(batch);
  Tensor out3 = Tensor(out.storage(), 0, {count, m, n}, contiguous_strides({count, m, n}), out.dtype());
  kernels::matmul(as_three_dims(detail::expand_view(a, a_full), batch),
                  as_three_dims(detail::expand_view(b, b_full), batch), out3);
  if (detail::will_record("matmul", {a, b}, out)) {
    record("matmul", {a, b}, {out}, [a = a.detach(), b = b.detach()](const std::vector<Tensor>& g) {
      // dA = dC B^T and dB = A^T dC, summed over the batch dims each operand was broadcast along.
      Tensor grad_a = sum_to(matmul_batched(g[0], b.transpose(-1, -2)), a.shape());
      Tensor grad_b = sum_to(matmul_batched(a.transpose(-1, -2), g[0]), b.shape());
      return std::vector<Tensor>{grad_a, grad_b};
    });
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_binary("matmul", a, b);
  detail::check_float("matmul", a);
  MECH_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least one dimension, got shapes {} and {}",
             shape_str(a.shape()), shape_str(b.shape()));
  const std::int64_t k_a = a.shape().back();
  const std::int64_t k_b = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  MECH_CHECK(k_a == k_b,
             "matmul: shapes {} and {} are not aligned: the first's last dimension ({}) must equal the second's {} "
             "dimension ({})",
             shape_str(a.shape()), shape_str(b.shape()), k_a, b.dim() == 1 ? "only" : "second-to-last", k_b);
  if (a.dim() >= 2 && b.dim() >= 2) {
    // Batch dims must broadcast; broadcast_shapes names op and shapes, but say which shapes clearly.
    const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
    const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
    try {
      broadcast_shapes(batch_a, batch_b, "matmul");
    } catch (const Error&) {
      throw Error(fmt::format("matmul: batch dimensions of shapes {} and {} do not broadcast ({} vs {})",
                              shape_str(a.shape()), shape_str(b.shape()), shape_str(batch_a), shape_str(batch_b)));
    }
  }
  // A contiguous stack of matrices times one matrix is one taller product (as libtorch folds it):
  // one GEMM instead of a small one per matrix of the stack, and in the backward dB = A^T dC as one
  // long product instead of a product per matrix summed over the stack afterwards.
  if (a.dim() >= 3 && b.dim() == 2 && a.is_contiguous()) {
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    out_shape.push_back(b.shape()[1]);
    return matmul_batched(a.reshape({-1, k_a}), b).view(out_shape);
  }
  // A 1-D operand becomes a one-row (first) or one-column (second) matrix, removed afterwards.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor out = matmul_batched(a2, b2);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(b.dim() == 1 ? 0 : -2);
  return out;
}

}  // namespace mech
