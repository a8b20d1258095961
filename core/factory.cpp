// Tensor creation: empty/zeros/ones/full, ranges, random tensors and copies from host vectors.
// Random tensors are drawn on the host from a Generator and then moved, so CPU and CUDA runs with
// one seed see the same numbers.
#include <cmath>

#include "core/generator.h"
#include "core/kernels.h"
#include "core/tensor.h"

namespace mech {

namespace {
void check_shape(const Shape& shape, const char* op) {
  for (auto size : shape) {
    MECH_CHECK(size >= 0, "{}: negative size in shape {}", op, shape_str(shape));
  }
}

Tensor finish(Tensor tensor, const TensorOptions& options) {
  if (options.requires_grad_) tensor.requires_grad_(true);
  return tensor;
}

template <class Fill>
Tensor host_filled(const Shape& shape, const TensorOptions& options, Fill fill) {
  Tensor host = empty(shape, TensorOptions().dtype(options.dtype_));
  MECH_DISPATCH_ALL(options.dtype_, "factory", [&]<class T>() {
    T* data = host.data_ptr<T>();
    for (std::int64_t i = 0; i < host.numel(); ++i) data[i] = static_cast<T>(fill(i));
  });
  return finish(options.device_.is_cpu() ? host : host.to(options.device_), options);
}
}  // namespace

Tensor empty(const Shape& shape, const TensorOptions& options) {
  check_shape(shape, "empty");
  const auto bytes = static_cast<std::size_t>(shape_numel(shape)) * dtype_size(options.dtype_);
  auto storage = std::make_shared<Storage>(bytes, options.device_);
  return finish(Tensor(std::move(storage), 0, shape, contiguous_strides(shape), options.dtype_), options);
}

Tensor full(const Shape& shape, double value, const TensorOptions& options) {
  Tensor tensor = empty(shape, options.requires_grad(false));
  kernels::fill(tensor, value);
  return finish(tensor, options);
}

Tensor zeros(const Shape& shape, const TensorOptions& options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, const TensorOptions& options) { return full(shape, 1.0, options); }
Tensor scalar_tensor(double value, const TensorOptions& options) { return full({}, value, options); }

Tensor arange(double start, double end, double step, const TensorOptions& options) {
  MECH_CHECK(step != 0.0 && std::isfinite(step), "arange: step must be finite and non-zero, got {}", step);
  const auto count = static_cast<std::int64_t>(std::ceil((end - start) / step));
  return host_filled({std::max<std::int64_t>(count, 0)}, options,
                     [&](std::int64_t i) { return start + step * static_cast<double>(i); });
}

Tensor linspace(double start, double end, std::int64_t steps, const TensorOptions& options) {
  MECH_CHECK(steps >= 0, "linspace: steps must be non-negative, got {}", steps);
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  return host_filled({steps}, options, [&](std::int64_t i) {
    return i == steps - 1 && steps > 1 ? end : start + step * static_cast<double>(i);
  });
}

Tensor rand(const Shape& shape, const TensorOptions& options, Generator* generator, double low, double high) {
  check_shape(shape, "rand");
  Generator& source = generator ? *generator : default_generator();
  return host_filled(shape, options, [&](std::int64_t) { return low + (high - low) * source.uniform(); });
}

Tensor randn(const Shape& shape, const TensorOptions& options, Generator* generator) {
  check_shape(shape, "randn");
  Generator& source = generator ? *generator : default_generator();
  return host_filled(shape, options, [&](std::int64_t) { return source.normal(); });
}

namespace {
TensorOptions like_options(const Tensor& like) {
  return TensorOptions().dtype(like.dtype()).device(like.device());
}
}  // namespace

Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), like_options(like)); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), like_options(like)); }
Tensor empty_like(const Tensor& like) { return empty(like.shape(), like_options(like)); }
Tensor full_like(const Tensor& like, double value) { return full(like.shape(), value, like_options(like)); }

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, const TensorOptions& options) {
  check_shape(shape, "from_vector");
  MECH_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape),
             "from_vector: {} values do not fill shape {} ({} elements)", values.size(), shape_str(shape),
             shape_numel(shape));
  const TensorOptions typed = options.dtype(dtype_of<T>());
  Tensor host = empty(shape, TensorOptions().dtype(typed.dtype_));
  std::copy(values.begin(), values.end(), host.data_ptr<T>());
  return finish(typed.device_.is_cpu() ? host : host.to(typed.device_), typed);
}
template Tensor from_vector(const std::vector<float>&, const Shape&, const TensorOptions&);
template Tensor from_vector(const std::vector<double>&, const Shape&, const TensorOptions&);
template Tensor from_vector(const std::vector<std::int64_t>&, const Shape&, const TensorOptions&);

}  // namespace mech
