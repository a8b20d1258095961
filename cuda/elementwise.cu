// CUDA elementwise kernels: unary math, the activations' one-pass backward, binary arithmetic and
// comparisons, where, copy with dtype conversion, fill, and the fused SGD and Adam steps. One
// grid-stride kernel template walks any strides through StridedIndexer (cuda/layout.h); the
// per-element math is cuda/element_math.h, shared with the CPU tests. Ops are runtime switches
// inside one kernel per dtype, which keeps the number of instantiations (and nvcc time) small;
// the switch is uniform across a warp.
//
// Legend: n elements of out; operand 0 is always the output.
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <array>

#include "cuda/backend.h"
#include "cuda/element_math.h"
#include "cuda/layout.h"
#include "cuda/runtime.h"

namespace mech::cuda {

namespace {

// n elements; offsets of each operand from the indexer; the functor does the element's work.
template <int N, class Functor>
__global__ void strided_kernel(std::int64_t n, StridedIndexer<N> indexer, Functor functor) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t offsets[N];
    indexer.offsets(i, offsets);
    functor(offsets);
  }
}

template <int N, class Functor>
void launch_strided(const char* op, const Tensor& out, const std::array<const Shape*, N>& strides,
                    const Functor& functor) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const StridedIndexer<N> indexer = make_indexer<N>(out.shape(), strides, op);
  const int device = out.device().index;
  DeviceGuard guard(device);
  strided_kernel<N><<<grid_for(n), kBlockSize, 0, stream(device)>>>(n, indexer, functor);
  MECH_CUDA_CHECK_LAUNCH("strided_kernel");
}

template <class T>
struct UnaryFunctor {
  UnaryOp op;
  double p0, p1;
  T* out;
  const T* x;
  __device__ void operator()(const std::int64_t (&offsets)[2]) const {
    out[offsets[0]] = math::unary_value<T>(op, x[offsets[1]], p0, p1);
  }
};

template <class T>
struct BinaryFunctor {
  BinaryOp op;
  T* out;
  const T* a;
  const T* b;
  __device__ void operator()(const std::int64_t (&offsets)[3]) const {
    out[offsets[0]] = math::binary_value<T>(op, a[offsets[1]], b[offsets[2]]);
  }
};

template <class T>
struct ActivationGradFunctor {
  ActivationGrad op;
  double p0, p1;
  T* out;
  const T* grad;
  const T* saved;
  __device__ void operator()(const std::int64_t (&offsets)[3]) const {
    out[offsets[0]] = math::activation_grad_value<T>(op, grad[offsets[1]], saved[offsets[2]], p0, p1);
  }
};

template <class T, class C>
struct WhereFunctor {
  T* out;
  const C* condition;
  const T* a;
  const T* b;
  __device__ void operator()(const std::int64_t (&offsets)[4]) const {
    out[offsets[0]] = condition[offsets[1]] != C(0) ? a[offsets[2]] : b[offsets[3]];
  }
};

template <class D, class S>
struct CopyFunctor {
  D* out;
  const S* source;
  __device__ void operator()(const std::int64_t (&offsets)[2]) const {
    out[offsets[0]] = static_cast<D>(source[offsets[1]]);
  }
};

template <class T>
struct FillFunctor {
  T* out;
  T value;
  __device__ void operator()(const std::int64_t (&offsets)[1]) const { out[offsets[0]] = value; }
};

void check_same_shape(const char* op, const Tensor& x, const Tensor& out) {
  MECH_CHECK(x.shape() == out.shape(), "{}: input shape {} does not match output shape {}", op,
             shape_str(x.shape()), shape_str(out.shape()));
}

// ---- optimizers: contiguous tensors, one thread per element -------------------------------------

// n parameters; buffer is null when momentum is 0 (never read then).
template <class T>
__global__ void sgd_kernel(std::int64_t n, T* param, const T* grad, T* buffer, math::SgdParameters p) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    T unused = T(0);
    math::sgd_update<T>(param[i], grad[i], buffer != nullptr ? buffer[i] : unused, p);
  }
}

// n parameters, each with its two moment estimates.
template <class T>
__global__ void adam_kernel(std::int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq,
                            math::AdamParameters p) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    math::adam_update<T>(param[i], grad[i], exp_avg[i], exp_avg_sq[i], p);
  }
}

void check_optimizer_tensor(const char* op, const Tensor& param, const Tensor& other, const char* what) {
  MECH_CHECK(other.defined(), "{}: {} is undefined", op, what);
  MECH_CHECK(other.shape() == param.shape() && other.dtype() == param.dtype() && other.is_contiguous(),
             "{}: {} must be contiguous {} of shape {} like the parameter, got {} {}{}", op, what,
             dtype_name(param.dtype()), shape_str(param.shape()), dtype_name(other.dtype()),
             shape_str(other.shape()), other.is_contiguous() ? "" : " (strided)");
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  check_on_device("cuda::unary", out, {&x});
  check_same_shape("cuda::unary", x, out);
  MECH_DISPATCH_ALL(out.dtype(), "cuda::unary", [&]<class T>() {
    if constexpr (!std::is_floating_point_v<T>) {
      MECH_CHECK(math::unary_defined_for_integers(op), "unary: op {} is not defined for dtype {}",
                 static_cast<int>(op), dtype_name(dtype_of<T>()));
    }
    launch_strided<2>("unary", out, {&out.strides(), &x.strides()},
                      UnaryFunctor<T>{op, p0, p1, out.data_ptr<T>(), x.data_ptr<T>()});
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_on_device("cuda::binary", out, {&a, &b});
  check_same_shape("cuda::binary", a, out);
  check_same_shape("cuda::binary", b, out);
  MECH_DISPATCH_ALL(out.dtype(), "cuda::binary", [&]<class T>() {
    launch_strided<3>("binary", out, {&out.strides(), &a.strides(), &b.strides()},
                      BinaryFunctor<T>{op, out.data_ptr<T>(), a.data_ptr<T>(), b.data_ptr<T>()});
  });
}

void activation_backward(ActivationGrad op, const Tensor& grad, const Tensor& saved, const Tensor& out, double p0,
                         double p1) {
  check_on_device("cuda::activation_backward", out, {&grad, &saved});
  check_same_shape("cuda::activation_backward", grad, out);
  check_same_shape("cuda::activation_backward", saved, out);
  MECH_DISPATCH_FLOAT(out.dtype(), "cuda::activation_backward", [&]<class T>() {
    launch_strided<3>("activation_backward", out, {&out.strides(), &grad.strides(), &saved.strides()},
                      ActivationGradFunctor<T>{op, p0, p1, out.data_ptr<T>(), grad.data_ptr<T>(), saved.data_ptr<T>()});
  });
}

void where(const Tensor& condition, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_on_device("cuda::where", out, {&condition, &a, &b});
  check_same_shape("cuda::where", condition, out);
  check_same_shape("cuda::where", a, out);
  check_same_shape("cuda::where", b, out);
  MECH_DISPATCH_ALL(out.dtype(), "cuda::where", [&]<class T>() {
    MECH_DISPATCH_ALL(condition.dtype(), "cuda::where", [&]<class C>() {
      launch_strided<4>("where", out, {&out.strides(), &condition.strides(), &a.strides(), &b.strides()},
                        WhereFunctor<T, C>{out.data_ptr<T>(), condition.data_ptr<C>(), a.data_ptr<T>(),
                                           b.data_ptr<T>()});
    });
  });
}

void copy(const Tensor& src, const Tensor& dst) {
  check_on_device("cuda::copy", dst, {&src});
  MECH_CHECK(src.shape() == dst.shape(), "copy: source shape {} does not match destination shape {}",
             shape_str(src.shape()), shape_str(dst.shape()));
  MECH_DISPATCH_ALL(dst.dtype(), "cuda::copy", [&]<class D>() {
    MECH_DISPATCH_ALL(src.dtype(), "cuda::copy", [&]<class S>() {
      launch_strided<2>("copy", dst, {&dst.strides(), &src.strides()},
                        CopyFunctor<D, S>{dst.data_ptr<D>(), src.data_ptr<S>()});
    });
  });
}

void fill(const Tensor& out, double value) {
  check_on_device("cuda::fill", out, {});
  MECH_DISPATCH_ALL(out.dtype(), "cuda::fill", [&]<class T>() {
    launch_strided<1>("fill", out, {&out.strides()}, FillFunctor<T>{out.data_ptr<T>(), static_cast<T>(value)});
  });
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov, bool first_step) {
  check_on_device("cuda::sgd_step", param, {&grad, &momentum_buffer});
  MECH_CHECK(param.is_contiguous(), "sgd_step: parameter of shape {} must be contiguous", shape_str(param.shape()));
  check_optimizer_tensor("sgd_step", param, grad, "grad");
  if (momentum != 0.0) check_optimizer_tensor("sgd_step", param, momentum_buffer, "momentum buffer");
  const std::int64_t n = param.numel();
  if (n == 0) return;
  const math::SgdParameters parameters{lr, momentum, dampening, weight_decay, nesterov, first_step};
  MECH_DISPATCH_FLOAT(param.dtype(), "cuda::sgd_step", [&]<class T>() {
    const int device = param.device().index;
    DeviceGuard guard(device);
    T* buffer = momentum != 0.0 ? momentum_buffer.data_ptr<T>() : nullptr;
    sgd_kernel<T><<<grid_for(n), kBlockSize, 0, stream(device)>>>(n, param.data_ptr<T>(), grad.data_ptr<T>(),
                                                                 buffer, parameters);
    MECH_CUDA_CHECK_LAUNCH("sgd_kernel");
  });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               std::int64_t step) {
  check_on_device("cuda::adam_step", param, {&grad, &exp_avg, &exp_avg_sq});
  MECH_CHECK(param.is_contiguous(), "adam_step: parameter of shape {} must be contiguous", shape_str(param.shape()));
  MECH_CHECK(step >= 1, "adam_step: step must be >= 1 (bias correction), got {}", step);
  check_optimizer_tensor("adam_step", param, grad, "grad");
  check_optimizer_tensor("adam_step", param, exp_avg, "exp_avg");
  check_optimizer_tensor("adam_step", param, exp_avg_sq, "exp_avg_sq");
  const std::int64_t n = param.numel();
  if (n == 0) return;
  const math::AdamParameters parameters =
      math::make_adam_parameters(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  MECH_DISPATCH_FLOAT(param.dtype(), "cuda::adam_step", [&]<class T>() {
    const int device = param.device().index;
    DeviceGuard guard(device);
    adam_kernel<T><<<grid_for(n), kBlockSize, 0, stream(device)>>>(n, param.data_ptr<T>(), grad.data_ptr<T>(),
                                                                  exp_avg.data_ptr<T>(), exp_avg_sq.data_ptr<T>(),
                                                                  parameters);
    MECH_CUDA_CHECK_LAUNCH("adam_kernel");
  });
}

}  // namespace mech::cuda
