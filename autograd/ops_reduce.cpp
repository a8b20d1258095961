// Differentiable reductions: sum, mean and max, over all elements or chosen dimensions.
#include <algorithm>

#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace {
// Normalised, sorted, de-duplicated dims; empty `dims` means all of them.
std::vector<bool> reduce_mask(const Tensor& x, const Shape& dims, const char* op) {
  std::vector<bool> mask(x.dim(), dims.empty());
  for (auto d : dims) {
    const auto wrapped = wrap_dim(d, x.dim(), op);
    if (x.dim() > 0) mask[wrapped] = true;
  }
  return mask;
}

Shape kept_shape(const Tensor& x, const std::vector<bool>& mask, bool keepdim) {
  Shape shape;
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    if (!mask[d]) shape.push_back(x.shape()[d]);
    else if (keepdim) shape.push_back(1);
  }
  return shape;
}
}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  check_defined("sum", x, "input");
  const auto mask = reduce_mask(x, dims, "sum");
  Tensor out = empty(kept_shape(x, mask, true), detail::options_of(x));
  kernels::sum(x, mask, out);
  const Shape keep_shape = out.shape();
  if (!keepdim) out = Tensor(out.storage(), 0, kept_shape(x, mask, false), contiguous_strides(kept_shape(x, mask, false)), out.dtype());
  record("sum", {x}, {out}, [input_shape = x.shape(), keep_shape](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].reshape(keep_shape).expand(input_shape)};
  });
  return out;
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  detail::check_float("mean", x);
  const auto mask = reduce_mask(x, dims, "mean");
  std::int64_t count = 1;
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    if (mask[d]) count *= x.shape()[d];
  }
  return sum(x, dims, keepdim) / static_cast<double>(std::max<std::int64_t>(count, 1));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

std::pair<Tensor, Tensor> max_with_indices(const Tensor& x, std::int64_t dim, bool keepdim) {
  check_defined("max", x, "input");
  MECH_CHECK(x.numel() > 0, "max: cannot reduce an empty tensor of shape {}", shape_str(x.shape()));
  if (x.dim() == 0) return max_with_indices(x.reshape({1}), 0, keepdim);
  const auto d = wrap_dim(dim, x.dim(), "max");
  Shape keep = x.shape();
  keep[d] = 1;
  Tensor values = empty(keep, detail::options_of(x));
  Tensor indices = empty(keep, detail::options_of(x).dtype(DType::Int64));
  kernels::max(x, d, values, indices);
  if (!keepdim) {
    Shape squeezed = x.shape();
    squeezed.erase(squeezed.begin() + d);
    values = Tensor(values.storage(), 0, squeezed, contiguous_strides(squeezed), values.dtype());
    indices = Tensor(indices.storage(), 0, squeezed, contiguous_strides(squeezed), indices.dtype());
  }
  if (detail::will_record("max", {x}, values)) {
    record("max", {x}, {values}, [input_shape = x.shape(), keep, d, indices = indices.detach()](const std::vector<Tensor>& g) {
      // One-hot mask of the arg-max along d: the gradient goes to exactly one element, as in PyTorch.
      Shape position_shape(input_shape.size(), 1);
      position_shape[d] = input_shape[d];
      Tensor positions = arange(0, static_cast<double>(input_shape[d]), 1,
                                TensorOptions().dtype(DType::Int64).device(g[0].device()))
                             .reshape(position_shape);
      Tensor hit = eq(detail::expand_view(positions, input_shape), detail::expand_view(indices.reshape(keep), input_shape));
      return std::vector<Tensor>{hit.to(g[0].dtype()) * g[0].reshape(keep)};
    });
  }
  return {values, indices};
}

Tensor max(const Tensor& x, std::int64_t dim, bool keepdim) { return max_with_indices(x, dim, keepdim).first; }

Tensor max(const Tensor& x) {
  check_defined("max", x, "input");
  return max_with_indices(x.reshape({-1}), 0, false).first;
}

Tensor Tensor::sum() const { return mech::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return mech::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return mech::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return mech::mean(*this, dims, keepdim); }
Tensor Tensor::max() const { return mech::max(*this); }
Tensor Tensor::max(std::int64_t dim, bool keepdim) const { return mech::max(*this, dim, keepdim); }

}  // namespace mech
