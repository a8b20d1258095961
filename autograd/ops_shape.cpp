// Differentiable joining and gathering: cat (join along an existing dim), stack (along a new
// dim) and index_select (gather slices by an int64 index; backward scatters with index_add).
#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace {

std::string shapes_str(const std::vector<Tensor>& tensors) {
  std::string text;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (i > 0) text += ", ";
    text += shape_str(tensors[i].shape());
  }
  return text;
}

// A raw (unrecorded) view of t narrowed to [start, start + length) along dim.
Tensor narrow_view(const Tensor& t, std::int64_t dim, std::int64_t start, std::int64_t length) {
  Shape shape = t.shape();
  shape[dim] = length;
  return Tensor(t.storage(), t.offset() + start * t.strides()[dim], shape, t.strides(), t.dtype());
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  MECH_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor& first = tensors[0];
  check_defined("cat", first, "tensor 0");
  MECH_CHECK(first.dim() > 0, "cat: cannot concatenate scalars (shapes {}); use stack", shapes_str(tensors));
  const auto d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_defined("cat", t, "tensor");
    check_same_device("cat", first, t);
    check_same_dtype("cat", first, t);
    bool compatible = t.dim() == first.dim();
    for (std::int64_t e = 0; compatible && e < t.dim(); ++e) compatible = e == d || t.shape()[e] == first.shape()[e];
    MECH_CHECK(compatible, "cat: tensor {} has shape {}, which does not match tensor 0's shape {} outside dimension {} "
               "(all shapes: {})", i, shape_str(t.shape()), shape_str(first.shape()), d, shapes_str(tensors));
    out_shape[d] += t.shape()[d];
  }
  Tensor out = empty(out_shape, detail::options_of(first));
  std::vector<std::int64_t> starts;
  std::int64_t start = 0;
  for (const auto& t : tensors) {
    starts.push_back(start);
    if (t.numel() > 0) kernels::copy(t, narrow_view(out, d, start, t.shape()[d]));
    start += t.shape()[d];
  }
  if (detail::will_record("cat", tensors, out)) {
    Shape lengths;
    for (const auto& t : tensors) lengths.push_back(t.shape()[d]);
    record("cat", tensors, {out}, [d, starts, lengths](const std::vector<Tensor>& g) {
      std::vector<Tensor> grads;
      for (std::size_t i = 0; i < starts.size(); ++i) grads.push_back(g[0].narrow(d, starts[i], lengths[i]));
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  MECH_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  check_defined("stack", tensors[0], "tensor 0");
  const auto d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_defined("stack", tensors[i], "tensor");
    MECH_CHECK(tensors[i].shape() == tensors[0].shape(),
               "stack: all tensors must have one shape, but tensor {} has shape {} and tensor 0 has {} (all shapes: {})",
               i, shape_str(tensors[i].shape()), shape_str(tensors[0].shape()), shapes_str(tensors));
    expanded.push_back(tensors[i].unsqueeze(d));
  }
  return cat(expanded, d);
}

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  check_defined("index_select", x, "input");
  check_defined("index_select", index, "index");
  check_same_device("index_select", x, index);
  MECH_CHECK(index.dtype() == DType::Int64 && index.dim() == 1,
             "index_select: index must be a 1-D int64 tensor, got {} of shape {} (input shape {})",
             dtype_name(index.dtype()), shape_str(index.shape()), shape_str(x.shape()));
  MECH_CHECK(x.dim() > 0, "index_select: input must have at least one dimension, got shape {}", shape_str(x.shape()));
  const auto d = wrap_dim(dim, x.dim(), "index_select");
  Shape out_shape = x.shape();
  out_shape[d] = index.shape()[0];
  Tensor out = empty(out_shape, detail::options_of(x));
  kernels::index_select(x, d, index, out);
  if (detail::will_record("index_select", {x}, out)) {
    record("index_select", {x}, {out}, [d, index = index.detach(), input_shape = x.shape()](const std::vector<Tensor>& g) {
      Tensor grad = zeros(input_shape, detail::options_of(g[0]));
      kernels::index_add(grad, d, index, g[0]);
      return std::vector<Tensor>{grad};
    });
  }
  return out;
}

}  // namespace mech
