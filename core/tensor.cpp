// Tensor accessors, element access, in-place updates and printing. Differentiable methods live
// with their ops in autograd/ops_*.cpp, and the members that reach the tape (backward,
// grad_fn_name) with the engine in autograd/engine.cpp: core includes no autograd header.
#include "core/tensor.h"

#include <cmath>
#include <sstream>

#include "core/grad_mode.h"
#include "core/kernels.h"

namespace mech {

Tensor::Tensor(std::shared_ptr<Storage> storage, std::int64_t offset, Shape shape, Shape strides,
               DType dtype)
    : impl_(std::make_shared<TensorImpl>()) {
  impl_->storage = std::move(storage);
  impl_->offset = offset;
  impl_->shape = std::move(shape);
  impl_->strides = std::move(strides);
  impl_->dtype = dtype;
}

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  if (!impl) throw Error("Tensor: use of an undefined tensor");
  return *impl;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
std::int64_t Tensor::offset() const { return checked(impl_).offset; }
std::int64_t Tensor::dim() const { return static_cast<std::int64_t>(shape().size()); }
std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "Tensor::size")]; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_dim(d, dim(), "Tensor::stride")]; }
std::int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl_).storage; }

bool Tensor::is_contiguous() const {
  const auto& sizes = shape();
  const auto& steps = strides();
  if (shape_numel(sizes) == 0) return true;  // no element to be out of place, as in PyTorch
  std::int64_t expected = 1;
  for (auto d = static_cast<std::int64_t>(sizes.size()) - 1; d >= 0; --d) {
    if (sizes[d] == 1) continue;
    if (steps[d] != expected) return false;
    expected *= sizes[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  const auto& impl = checked(impl_);
  return static_cast<char*>(impl.storage->data()) +
         impl.offset * static_cast<std::int64_t>(dtype_size(impl.dtype));
}

template <class T>
T* Tensor::data_ptr() const {
  MECH_CHECK(dtype() == dtype_of<T>(), "Tensor::data_ptr: tensor has dtype {}, asked for {}",
             dtype_name(dtype()), dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template std::int64_t* Tensor::data_ptr<std::int64_t>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::cpu()).to(dtype_of<T>()).contiguous();
  const T* data = host.data_ptr<T>();
  return std::vector<T>(data, data + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

double Tensor::item() const {
  MECH_CHECK(numel() == 1, "Tensor::item: expected a tensor with one element, got shape {}", shape_str(shape()));
  NoGradGuard no_grad;
  return to_vector<double>()[0];
}

// ---- autograd accessors -----------------------------------------------------------------------
bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }

Tensor& Tensor::requires_grad_(bool value) {
  checked(impl_);
  MECH_CHECK(is_leaf() || value, "requires_grad_: cannot turn off requires_grad on a non-leaf tensor; use detach()");
  MECH_CHECK(!value || is_floating(dtype()), "requires_grad_: only float tensors can require grad, got {}",
             dtype_name(dtype()));
  impl_->requires_grad = value;
  return *this;
}

bool Tensor::is_leaf() const { return checked(impl_).grad_fn == nullptr; }

Tensor Tensor::grad() const {
  const auto& impl = checked(impl_);
  return impl.grad ? Tensor(impl.grad) : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  checked(impl_);
  if (grad.defined()) {
    MECH_CHECK(grad.shape() == shape(), "set_grad: gradient shape {} does not match tensor shape {}",
               shape_str(grad.shape()), shape_str(shape()));
  }
  impl_->grad = grad.impl_ptr();
}

void Tensor::zero_grad() const {
  checked(impl_);
  impl_->grad.reset();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_).grad_fn; }

Tensor Tensor::detach() const {
  const auto& impl = checked(impl_);
  return Tensor(impl.storage, impl.offset, impl.shape, impl.strides, impl.dtype);
}

// ---- in-place updates -------------------------------------------------------------------------
namespace {
void check_in_place(const Tensor& self, const char* op) {
  MECH_CHECK(!(grad_mode_enabled() && self.requires_grad()),
             "{}: in-place update of a tensor that requires grad (shape {}); wrap it in NoGradGuard", op,
             shape_str(self.shape()));
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_in_place(*this, "fill_");
  kernels::fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& source) {
  check_in_place(*this, "copy_");
  check_defined("copy_", source, "source");
  Tensor converted = source.detach().to(device()).expand(shape());
  kernels::copy(converted, *this);
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_in_place(*this, "add_");
  MECH_CHECK(is_contiguous(), "add_: expected a contiguous tensor, got shape {} strides {}", shape_str(shape()),
             shape_str(strides()));
  NoGradGuard no_grad;
  Tensor scaled = alpha == 1.0 ? other.detach() : other.detach() * alpha;
  Tensor converted = scaled.to(dtype()).to(device()).expand(shape());
  kernels::binary(BinaryOp::Add, *this, converted, *this);
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_in_place(*this, "mul_");
  MECH_CHECK(is_contiguous(), "mul_: expected a contiguous tensor, got shape {}", shape_str(shape()));
  NoGradGuard no_grad;
  Tensor factor = full({}, value, TensorOptions().dtype(dtype()).device(device())).expand(shape());
  kernels::binary(BinaryOp::Mul, *this, factor, *this);
  return *this;
}

// ---- printing ---------------------------------------------------------------------------------
namespace {
void print_recursive(std::ostringstream& out, const std::vector<double>& values, const Shape& shape,
                     std::size_t dim, std::int64_t& index, bool integral) {
  if (dim == shape.size()) {
    const double value = values[index++];
    if (integral) out << fmt::format("{}", static_cast<std::int64_t>(value));
    else out << fmt::format("{:.4g}", value);
    return;
  }
  out << "[";
  for (std::int64_t i = 0; i < shape[dim]; ++i) {
    if (i > 0) out << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(dim + 1, ' '));
    print_recursive(out, values, shape, dim + 1, index, integral);
  }
  out << "]";
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  NoGradGuard no_grad;
  std::ostringstream out;
  out << "tensor(";
  if (numel() > 1000) {
    out << "...";
  } else {
    std::vector<double> values = to_vector<double>();
    std::int64_t index = 0;
    print_recursive(out, values, shape(), 0, index, dtype() == DType::Int64);
  }
  out << fmt::format(", shape={}, dtype={}", shape_str(shape()), dtype_name(dtype()));
  if (device().is_cuda()) out << ", device=" << device().str();
  if (requires_grad()) out << (grad_fn() ? fmt::format(", grad_fn={}", grad_fn_name()) : ", requires_grad=true");
  out << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& stream, const Tensor& tensor) { return stream << tensor.str(); }

// ---- checks shared by ops ---------------------------------------------------------------------
void check_defined(const char* op, const Tensor& x, const char* what) {
  MECH_CHECK(x.defined(), "{}: {} is an undefined tensor", op, what);
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  MECH_CHECK(a.device() == b.device(), "{}: expected all tensors on one device, got {} and {} (shapes {} and {})",
             op, a.device().str(), b.device().str(), shape_str(a.shape()), shape_str(b.shape()));
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  MECH_CHECK(a.dtype() == b.dtype(), "{}: expected tensors of one dtype, got {} and {} (shapes {} and {})", op,
             dtype_name(a.dtype()), dtype_name(b.dtype()), shape_str(a.shape()), shape_str(b.shape()));
}

}  // namespace mech
