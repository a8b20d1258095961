// Views (reshape, permute, narrow, slice, expand, squeeze, ...) and conversions (to dtype, to
// device, contiguous, clone), all differentiable. Views share storage with their input; their
// backward maps the gradient back to the input's shape.
#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace {

Tensor make_view(const Tensor& base, Shape shape, Shape strides, std::int64_t offset) {
  return Tensor(base.storage(), offset, std::move(shape), std::move(strides), base.dtype());
}

// Replaces one -1 by the size that keeps numel; checks the total.
Shape infer_shape(const Shape& requested, std::int64_t numel, const Shape& from, const char* op) {
  Shape shape = requested;
  std::int64_t known = 1;
  int inferred = -1;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      MECH_CHECK(inferred < 0, "{}: only one dimension can be -1, got {}", op, shape_str(requested));
      inferred = static_cast<int>(d);
    } else {
      MECH_CHECK(shape[d] >= 0, "{}: invalid size in shape {}", op, shape_str(requested));
      known *= shape[d];
    }
  }
  if (inferred >= 0) {
    MECH_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for a tensor of shape {} ({} elements)",
               op, shape_str(requested), shape_str(from), numel);
    shape[inferred] = numel / known;
  }
  MECH_CHECK(shape_numel(shape) == numel, "{}: shape {} is invalid for a tensor of shape {} ({} elements)", op,
             shape_str(requested), shape_str(from), numel);
  return shape;
}

// Gradient of a view that selects a strided window of the input: zeros with the window filled.
Tensor scatter_into_zeros(const Shape& input_shape, const Tensor& grad,
                          const std::function<Tensor(const Tensor&)>& window) {
  Tensor full_grad = zeros(input_shape, detail::options_of(grad));
  Tensor target = window(full_grad);
  kernels::copy(grad, target);
  return full_grad;
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  const Shape shape = infer_shape(requested, numel(), this->shape(), "view");
  MECH_CHECK(is_contiguous(),
             "view: tensor of shape {} with strides {} is not contiguous; use reshape() (which copies) instead",
             shape_str(this->shape()), shape_str(strides()));
  Tensor out = make_view(*this, shape, contiguous_strides(shape), offset());
  record("view", {*this}, {out}, [input_shape = this->shape()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].reshape(input_shape)};
  });
  return out;
}

Tensor Tensor::reshape(const Shape& requested) const {
  const Shape shape = infer_shape(requested, numel(), this->shape(), "reshape");
  return is_contiguous() ? view(shape) : contiguous().view(shape);
}

Tensor Tensor::permute(const Shape& dims) const {
  MECH_CHECK(static_cast<std::int64_t>(dims.size()) == dim(), "permute: {} dims given for a tensor of shape {}",
             dims.size(), shape_str(shape()));
  Shape sizes(dims.size()), steps(dims.size()), inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const auto d = wrap_dim(dims[i], dim(), "permute");
    MECH_CHECK(inverse[d] < 0, "permute: dimension {} repeated in {}", d, shape_str(dims));
    inverse[d] = static_cast<std::int64_t>(i);
    sizes[i] = shape()[d];
    steps[i] = strides()[d];
  }
  Tensor out = make_view(*this, sizes, steps, offset());
  record("permute", {*this}, {out}, [inverse](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].permute(inverse)};
  });
  return out;
}

Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
  Shape order(dim());
  for (std::int64_t d = 0; d < dim(); ++d) order[d] = d;
  std::swap(order[wrap_dim(dim0, dim(), "transpose")], order[wrap_dim(dim1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::slice(std::int64_t dim_, std::int64_t start, std::int64_t end, std::int64_t step) const {
  const auto d = wrap_dim(dim_, dim(), "slice");
  MECH_CHECK(dim() > 0, "slice: cannot slice a scalar");
  MECH_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const std::int64_t length = shape()[d];
  if (start < 0) start += length;
  if (end < 0) end += length;
  start = std::clamp<std::int64_t>(start, 0, length);
  end = std::clamp<std::int64_t>(end, start, length);
  Shape sizes = shape(), steps = strides();
  sizes[d] = (end - start + step - 1) / step;
  steps[d] = strides()[d] * step;
  Tensor out = make_view(*this, sizes, steps, offset() + start * strides()[d]);
  record("slice", {*this}, {out}, [input_shape = shape(), d, start, end, step](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{scatter_into_zeros(input_shape, g[0], [&](const Tensor& full_grad) {
      return full_grad.slice(d, start, end, step);
    })};
  });
  return out;
}

Tensor Tensor::narrow(std::int64_t dim_, std::int64_t start, std::int64_t length) const {
  const auto d = wrap_dim(dim_, dim(), "narrow");
  MECH_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d],
             "narrow: range [{}, {}) is outside dimension {} of size {} (shape {})", start, start + length, d,
             shape()[d], shape_str(shape()));
  return slice(d, start, start + length, 1);
}

Tensor Tensor::select(std::int64_t dim_, std::int64_t index) const {
  const auto d = wrap_dim(dim_, dim(), "select");
  const std::int64_t length = shape()[d];
  MECH_CHECK(index >= -length && index < length, "select: index {} out of range for dimension {} of size {}", index, d,
             length);
  if (index < 0) index += length;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& requested) const {
  Shape shape = requested;
  const auto offset_dims = static_cast<std::int64_t>(shape.size()) - dim();
  MECH_CHECK(offset_dims >= 0, "expand: cannot expand shape {} to fewer dimensions {}", shape_str(this->shape()),
             shape_str(requested));
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
    if (shape[d] == -1) {
      MECH_CHECK(d >= offset_dims, "expand: -1 not allowed for a new leading dimension in {}", shape_str(requested));
      shape[d] = this->shape()[d - offset_dims];
    }
  }
  Tensor out = detail::expand_view(*this, shape);
  record("expand", {*this}, {out}, [input_shape = this->shape()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{sum_to(g[0], input_shape)};
  });
  return out;
}

namespace {
Tensor restride(const Tensor& input, Shape sizes, Shape steps, const char* name) {
  Tensor out = make_view(input, std::move(sizes), std::move(steps), input.offset());
  record(name, {input}, {out}, [input_shape = input.shape()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].reshape(input_shape)};
  });
  return out;
}
}  // namespace

Tensor Tensor::squeeze() const {
  Shape sizes, steps;
  for (std::int64_t d = 0; d < dim(); ++d) {
    if (shape()[d] == 1) continue;
    sizes.push_back(shape()[d]);
    steps.push_back(strides()[d]);
  }
  return restride(*this, sizes, steps, "squeeze");
}

Tensor Tensor::squeeze(std::int64_t dim_) const {
  if (dim() == 0) return restride(*this, {}, {}, "squeeze");
  const auto d = wrap_dim(dim_, dim(), "squeeze");
  if (shape()[d] != 1) return restride(*this, shape(), strides(), "squeeze");
  Shape sizes = shape(), steps = strides();
  sizes.erase(sizes.begin() + d);
  steps.erase(steps.begin() + d);
  return restride(*this, sizes, steps, "squeeze");
}

Tensor Tensor::unsqueeze(std::int64_t dim_) const {
  const auto d = wrap_dim(dim_, dim() + 1, "unsqueeze");
  Shape sizes = shape(), steps = strides();
  const std::int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  sizes.insert(sizes.begin() + d, 1);
  steps.insert(steps.begin() + d, stride);
  return restride(*this, sizes, steps, "unsqueeze");
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const auto start = wrap_dim(start_dim, dim(), "flatten");
  const auto end = wrap_dim(end_dim, dim(), "flatten");
  MECH_CHECK(start <= end, "flatten: start_dim {} is after end_dim {}", start, end);
  Shape sizes(shape().begin(), shape().begin() + start);
  std::int64_t merged = 1;
  for (auto d = start; d <= end; ++d) merged *= shape()[d];
  sizes.push_back(merged);
  sizes.insert(sizes.end(), shape().begin() + end + 1, shape().end());
  return reshape(sizes);
}

// ---- conversions -------------------------------------------------------------------------------
Tensor Tensor::clone() const {
  Tensor out = empty(shape(), detail::options_of(*this));
  kernels::copy(*this, out);
  record("clone", {*this}, {out}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  return out;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), detail::options_of(*this).dtype(target));
  kernels::copy(*this, out);
  if (is_floating(target) && is_floating(dtype())) {
    record("to_dtype", {*this}, {out}, [source = dtype()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].to(source)};
    });
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  MECH_CHECK(!(target.is_cuda() && device().is_cuda()), "to: copies between CUDA devices ({} to {}) are not supported",
             device().str(), target.str());
  MECH_CHECK(kernels::device_available(target),
             "to({}): no such device is available (tensor of shape {}); this build {} CUDA support", target.str(),
             shape_str(shape()),
#ifdef MECH_HAS_CUDA
             "has"
#else
             "lacks"
#endif
  );
  Tensor out = empty(shape(), TensorOptions().dtype(dtype()).device(target));
  kernels::copy_between_devices(contiguous().detach(), out);
  record("to_device", {*this}, {out}, [source_device = device()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].to(source_device)};
  });
  return out;
}

}  // namespace mech
