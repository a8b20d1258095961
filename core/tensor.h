// Tensor: shared storage + offset + shape + strides + dtype + device, with autograd metadata.
// This header is mech's whole tensor API: creation, views, differentiable ops (defined in
// autograd/ops_*.cpp), in-place updates for optimizers, conversions and printing.
//
//   auto x = mech::randn({4, 3}, mech::TensorOptions().dtype(mech::DType::Float64));
//   auto w = mech::zeros({3, 1}, mech::TensorOptions().requires_grad(true));
//   auto loss = mech::mse_loss(mech::matmul(x.to(mech::DType::Float32), w), target);
//   loss.backward();          // w.grad() now holds d loss / d w
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace mech {

class Generator;
struct Node;
struct TensorImpl;

// Chained options for creating tensors: TensorOptions().dtype(DType::Float64).requires_grad(true).
struct TensorOptions {
  DType dtype_ = DType::Float32;
  Device device_ = Device::cpu();
  bool requires_grad_ = false;

  TensorOptions dtype(DType value) const { auto copy = *this; copy.dtype_ = value; return copy; }
  TensorOptions device(Device value) const { auto copy = *this; copy.device_ = value; return copy; }
  TensorOptions requires_grad(bool value = true) const {
    auto copy = *this; copy.requires_grad_ = value; return copy;
  }
};

enum class Reduction { None, Mean, Sum };
enum class PaddingMode { Zeros, Circular };
// gelu's form, as torch.nn.functional.gelu's `approximate`: 'none' (x Phi(x), through erf) or 'tanh'.
enum class GeluApproximation { None, Tanh };

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // A tensor viewing `storage` (no copy).
  Tensor(std::shared_ptr<Storage> storage, std::int64_t offset, Shape shape, Shape strides,
         DType dtype);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  std::int64_t offset() const;
  std::int64_t dim() const;
  std::int64_t size(std::int64_t dim) const;     // negative dims count from the end
  std::int64_t stride(std::int64_t dim) const;
  std::int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // Pointer to the first element (storage + offset); checks that T matches dtype().
  template <class T> T* data_ptr() const;
  void* raw_data() const;  // untyped, still storage + offset

  // Value of a one-element tensor as double (copies from the device if needed).
  double item() const;
  // All elements in row-major order, converted to T, copied to the host.
  template <class T> std::vector<T> to_vector() const;

  // ---- autograd --------------------------------------------------------------------------
  // The tape (Node, the engine) is autograd's, above core: members that reach it (backward,
  // grad_fn_name) are defined in autograd/engine.cpp, as the differentiable ops are in
  // autograd/ops_*.cpp, so core needs no autograd header and Node stays a forward declaration.
  bool requires_grad() const;
  Tensor& requires_grad_(bool value = true);  // only on leaves
  bool is_leaf() const;                       // no grad_fn
  Tensor grad() const;                        // undefined until a backward reaches it
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;                     // sets grad to undefined, as set_to_none in PyTorch
  const std::shared_ptr<Node>& grad_fn() const;
  std::string grad_fn_name() const;           // the op that made this tensor ("mul"), "" for a leaf
  // Backpropagates from this tensor. A non-scalar needs `gradient` of its shape.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // shares storage, no history

  // ---- conversions (differentiable) -------------------------------------------------------
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy

  // ---- views (differentiable, no copy) ----------------------------------------------------
  Tensor view(const Shape& shape) const;      // requires compatible strides; -1 infers one size
  Tensor reshape(const Shape& shape) const;   // a view when possible, else a copy
  Tensor permute(const Shape& dims) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;  // removes dim
  Tensor expand(const Shape& shape) const;    // -1 keeps a size
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;

  // ---- reductions (differentiable) --------------------------------------------------------
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor max() const;
  Tensor max(std::int64_t dim, bool keepdim = false) const;  // values; see max_with_indices

  // ---- in-place updates (no autograd; refused on tensors that need grad while grad mode is on)
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& source);            // broadcasts source, converts dtype and device
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double value);

  std::string str() const;  // fmt-printed contents, as PyTorch prints

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// What a Tensor handle points at. Views share `storage`.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;
  Shape shape;
  Shape strides;
  DType dtype = DType::Float32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;  // the node that produced this tensor, null for leaves
  int output_index = 0;           // which of grad_fn's outputs this tensor is
};

// ---- creation ------------------------------------------------------------------------------
Tensor empty(const Shape& shape, const TensorOptions& options = {});
Tensor zeros(const Shape& shape, const TensorOptions& options = {});
Tensor ones(const Shape& shape, const TensorOptions& options = {});
Tensor full(const Shape& shape, double value, const TensorOptions& options = {});
Tensor scalar_tensor(double value, const TensorOptions& options = {});
Tensor arange(double start, double end, double step = 1.0, const TensorOptions& options = {});
Tensor linspace(double start, double end, std::int64_t steps, const TensorOptions& options = {});
// Uniform in [low, high) and standard normal, from `generator` or the default generator.
Tensor rand(const Shape& shape, const TensorOptions& options = {}, Generator* generator = nullptr,
            double low = 0.0, double high = 1.0);
Tensor randn(const Shape& shape, const TensorOptions& options = {}, Generator* generator = nullptr);
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);
Tensor empty_like(const Tensor& like);
Tensor full_like(const Tensor& like, double value);
// Copies `values` (row-major) into a new tensor; options.dtype is replaced by T's dtype.
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, const TensorOptions& options = {});

// ---- elementwise (differentiable, NumPy broadcasting) ---------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor rsub(double a, const Tensor& b);  // a - b
Tensor rdiv(double a, const Tensor& b);  // a / b
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
// x Phi(x), Phi the standard normal CDF; GeluApproximation::Tanh: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::None);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// where(condition, a, b): a where condition != 0, else b; broadcasts all three.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
// Comparisons give 0/1 in a's dtype (masks to multiply with); not differentiable.
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& x);

// ---- reductions ----------------------------------------------------------------------------
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, std::int64_t dim, bool keepdim = false);
// Values (differentiable) and int64 indices of the maximum along dim.
std::pair<Tensor, Tensor> max_with_indices(const Tensor& x, std::int64_t dim, bool keepdim = false);

// ---- linear algebra, shape, indexing -------------------------------------------------------
// matmul: 1-D and 2-D as NumPy; N-D batched with broadcast batch dimensions.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim);
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);  // index: int64 1-D
// conv1d: input (N, C_in, L), weight (C_out, C_in, K), bias (C_out) or undefined.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1,
              PaddingMode padding_mode = PaddingMode::Zeros);
// Real FFTs over the last dim (torch.fft conventions, norm "backward"; complex values as (re, im)
// pairs in a trailing dim of 2): rfft (..., n) -> (..., n/2+1, 2); irfft (..., n/2+1, 2) -> (..., n),
// its inverse (divided by n), ignoring the imaginary parts of bin 0 and, for even n, bin n/2.
Tensor rfft(const Tensor& input);
Tensor irfft(const Tensor& input, std::int64_t n);

// ---- losses --------------------------------------------------------------------------------
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// ---- checks shared by ops ------------------------------------------------------------------
// Throws "op: expected all tensors on one device, got cpu and cuda:0" and the like.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_defined(const char* op, const Tensor& x, const char* what);

std::ostream& operator<<(std::ostream& stream, const Tensor& tensor);

}  // namespace mech

template <>
struct fmt::formatter<mech::Tensor> : fmt::formatter<std::string> {
  auto format(const mech::Tensor& tensor, fmt::format_context& context) const {
    return fmt::formatter<std::string>::format(tensor.str(), context);
  }
};
