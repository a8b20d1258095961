// CPU fused optimizer updates (kernels::sgd_step, kernels::adam_step): one pass over each
// parameter reading its gradient and state and writing parameter and state in place. The
// arithmetic follows PyTorch's single-tensor SGD and Adam/AdamW step by step, in the parameter's
// dtype, so a float64 run can be compared with hand-computed (or PyTorch-computed) values.
#include <cmath>

#include "core/cpu_kernels.h"
#include "core/parallel.h"
#include "core/shape.h"

namespace mech::cpu {

namespace {

// Elements per parallel chunk: an update is a few flops per element, so small tensors run inline.
constexpr std::int64_t kOptimizerGrain = 1 << 15;

void check_state(const char* op, const Tensor& param, const Tensor& other, const char* what) {
  MECH_CHECK(other.defined(), "{}: {} is undefined", op, what);
  MECH_CHECK(other.dtype() == param.dtype(), "{}: {} has dtype {}, expected the parameter's {}", op, what,
             dtype_name(other.dtype()), dtype_name(param.dtype()));
  MECH_CHECK(other.shape() == param.shape(), "{}: {} has shape {}, expected the parameter's {}", op, what,
             shape_str(other.shape()), shape_str(param.shape()));
  MECH_CHECK(other.is_contiguous(), "{}: {} of shape {} must be contiguous", op, what, shape_str(other.shape()));
}

template <class T>
struct AdamConstants {
  T beta1, beta2, step_size, correction2_sqrt, eps, decay, shrink;
};

enum class AdamDecay { None, L2, Decoupled };

// One chunk of the Adam update. A function of its own, with the weight-decay mode fixed at compile
// time and the four arrays declared unaliased, so that GCC vectorises the loop; with the chunk's
// pointers captured by a lambda and the mode tested per element it stayed scalar. The square root
// vectorises because this file is built with -fno-math-errno (CMakeLists.txt): it is correctly
// rounded either way, and the argument is never negative. Same operations in the same order as the
// scalar loop: the results are the same bits.
template <AdamDecay kDecay, class T>
void adam_update(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, std::int64_t count,
                 const AdamConstants<T> c) {
  for (std::int64_t i = 0; i < count; ++i) {
    T gradient = g[i];
    // AdamW shrinks the weight directly; Adam adds the L2 term to the gradient.
    if constexpr (kDecay == AdamDecay::Decoupled) p[i] *= c.shrink;
    if constexpr (kDecay == AdamDecay::L2) gradient += c.decay * p[i];
    const T first = c.beta1 * m[i] + (T(1) - c.beta1) * gradient;
    const T second = c.beta2 * v[i] + (T(1) - c.beta2) * gradient * gradient;
    m[i] = first;
    v[i] = second;
    const T denominator = std::sqrt(second) / c.correction2_sqrt + c.eps;
    p[i] -= c.step_size * first / denominator;
  }
}

}  // namespace

// n = param.numel(); param, grad, momentum_buffer (when momentum != 0) all contiguous, one dtype.
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool first_step) {
  MECH_CHECK(param.is_contiguous(), "sgd_step: parameter of shape {} must be contiguous", shape_str(param.shape()));
  check_state("sgd_step", param, grad, "gradient");
  const bool use_momentum = momentum != 0.0;
  if (use_momentum) check_state("sgd_step", param, momentum_buffer, "momentum buffer");
  MECH_DISPATCH_FLOAT(param.dtype(), "sgd_step", [&]<class T>() {
    T* p = param.data_ptr<T>();
    const T* g = grad.data_ptr<T>();
    T* buffer = use_momentum ? momentum_buffer.data_ptr<T>() : nullptr;
    const T lr_t = static_cast<T>(lr);
    const T momentum_t = static_cast<T>(momentum);
    const T keep = static_cast<T>(1.0 - dampening);
    const T decay = static_cast<T>(weight_decay);
    parallel_for(0, param.numel(), kOptimizerGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        T direction = g[i];
        if (weight_decay != 0.0) direction += decay * p[i];
        if (use_momentum) {
          // The first step seeds the buffer with the gradient itself (no dampening), as PyTorch does.
          buffer[i] = first_step ? direction : momentum_t * buffer[i] + keep * direction;
          direction = nesterov ? direction + momentum_t * buffer[i] : buffer[i];
        }
        p[i] -= lr_t * direction;
      }
    });
  });
}

// step: the update count including this one (1 on the first call), for the bias corrections.
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t step) {
  MECH_CHECK(param.is_contiguous(), "adam_step: parameter of shape {} must be contiguous", shape_str(param.shape()));
  MECH_CHECK(step >= 1, "adam_step: step must be >= 1, got {}", step);
  check_state("adam_step", param, grad, "gradient");
  check_state("adam_step", param, exp_avg, "first moment");
  check_state("adam_step", param, exp_avg_sq, "second moment");
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  MECH_DISPATCH_FLOAT(param.dtype(), "adam_step", [&]<class T>() {
    T* p = param.data_ptr<T>();
    const T* g = grad.data_ptr<T>();
    T* m = exp_avg.data_ptr<T>();
    T* v = exp_avg_sq.data_ptr<T>();
    const T beta1_t = static_cast<T>(beta1);
    const T beta2_t = static_cast<T>(beta2);
    const T step_size = static_cast<T>(lr / bias_correction1);
    const T correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
    const T eps_t = static_cast<T>(eps);
    const T decay = static_cast<T>(weight_decay);
    const T shrink = static_cast<T>(1.0 - lr * weight_decay);
    const AdamConstants<T> constants{beta1_t, beta2_t, step_size, correction2_sqrt, eps_t, decay, shrink};
    parallel_for(0, param.numel(), kOptimizerGrain, [&](std::int64_t begin, std::int64_t end) {
      const std::int64_t count = end - begin;
      if (weight_decay == 0.0) adam_update<AdamDecay::None>(p + begin, g + begin, m + begin, v + begin, count, constants);
      else if (decoupled) adam_update<AdamDecay::Decoupled>(p + begin, g + begin, m + begin, v + begin, count, constants);
      else adam_update<AdamDecay::L2>(p + begin, g + begin, m + begin, v + begin, count, constants);
    });
  });
}

}  // namespace mech::cpu
