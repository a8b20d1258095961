// The NeuRLP op on tensors (see neurlp.h), written once for every formulation, device and dtype: the
// input checks (neurlp_inputs.h), the compute-dtype copies, one solve backend chosen in one place
// (choose_backend) and one tape node whose backward asks the same backend for the gradients.
#include "solvers/neurlp.h"

#include <memory>
#include <type_traits>

#include "autograd/anomaly.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/error.h"
#include "core/kernels.h"
#include "solvers/hermite4_direct.h"
#include "solvers/neurlp_batch.h"
#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp_inputs.h"

namespace mech {

Formulation parse_formulation(const std::string& name) {
  if (name == "mnn") return Formulation::Mnn;
  if (name == "scalable") return Formulation::Scalable;
  if (name == "hermite4") return Formulation::Hermite4;
  throw Error(fmt::format("neurlp: unknown formulation '{}', expected mnn, scalable or hermite4", name));
}

const char* formulation_name(Formulation formulation) {
  switch (formulation) {
    case Formulation::Mnn: return "mnn";
    case Formulation::Scalable: return "scalable";
    case Formulation::Hermite4: return "hermite4";
  }
  return "unknown";
}

namespace {

using neurlp_core::batch_inputs;
using neurlp_core::BatchGradients;
using neurlp_core::PreparedInputs;
using neurlp_core::prepared;
using neurlp_core::Sizes;

constexpr const char* kOp = "neurlp";

// The four input gradients in the compute dtype (iv undefined where the sizes have none).
struct InputGradients {
  Tensor coeffs, rhs, iv, steps;

  template <class T>
  BatchGradients<T> raw(const Sizes& z) {
    return {coeffs.data_ptr<T>(), rhs.data_ptr<T>(), z.S * z.n_iv > 0 ? iv.data_ptr<T>() : nullptr,
            steps.data_ptr<T>()};
  }
};

// `accumulated`: the solver adds into the gradients (they start at zero) instead of writing them.
InputGradients gradient_tensors(const PreparedInputs& in, const Shape& iv_shape, bool has_iv,
                                const TensorOptions& options, bool accumulated) {
  auto make = [&](const Shape& shape) { return accumulated ? zeros(shape, options) : empty(shape, options); };
  return {make(in.coeffs.shape()), make(in.rhs.shape()), has_iv ? zeros(iv_shape, options) : Tensor(),
          make(in.steps.shape())};
}

// A way to solve a batch: where (CPU, CUDA), how (the batch driver's normal equations, or hermite4's
// direct solve of its square system), in which dtype, and what its forward keeps for its backward.
class Backend {
 public:
  Backend(const Sizes& z, std::int64_t batch) : z_(z), batch_(batch) {}
  virtual ~Backend() = default;
  // Writes u (B,T,D,K) and eps (B), allocated in the compute dtype on the inputs' device.
  virtual void forward(const PreparedInputs& in, Tensor& u, Tensor& eps) = 0;
  // The input gradients at the forward's solution given grad_u (defined) and grad_eps (may be
  // undefined: zero).
  virtual void backward(const PreparedInputs& in, const Tensor& u, const Tensor& eps, const Tensor& grad_u,
                        const Tensor& grad_eps, InputGradients& out) = 0;
  // Whether backward adds into zeroed gradients rather than writing every entry.
  virtual bool accumulates() const { return false; }

 protected:
  // The drivers' view of the prepared inputs, in dtype T.
  template <class T>
  neurlp_core::BatchInputs<T> inputs(const PreparedInputs& in) const {
    return batch_inputs<T>(in.coeffs, in.rhs, in.iv, in.steps, z_);
  }
  Sizes z_;
  std::int64_t batch_;
};

template <class T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// The CPU lane-batch driver (solvers/neurlp_batch.h), every formulation. With kept factors backward
// substitutes only; without, it runs the fused pass, which refactors (the same code, so the same u,
// which it need not write again) and differentiates.
template <class T>
class CpuBackend final : public Backend {
 public:
  CpuBackend(const Sizes& z, std::int64_t batch, bool keep) : Backend(z, batch), keep_(keep) {}
  void forward(const PreparedInputs& in, Tensor& u, Tensor& eps) override {
    factors_ = neurlp_core::forward_batch<T>(z_, batch_, inputs<T>(in), u.data_ptr<T>(), eps.data_ptr<T>(), keep_);
  }
  void backward(const PreparedInputs& in, const Tensor&, const Tensor&, const Tensor& grad_u, const Tensor& grad_eps,
                InputGradients& out) override {
    if (factors_) neurlp_core::backward_batch<T>(*factors_, grad_u.data_ptr<T>(), optional_data<T>(grad_eps), out.raw<T>(z_));
    else
      neurlp_core::forward_backward_batch<T>(z_, batch_, inputs<T>(in), nullptr, nullptr, grad_u.data_ptr<T>(),
                                             optional_data<T>(grad_eps), out.raw<T>(z_));
  }

 private:
  bool keep_;
  std::shared_ptr<neurlp_core::Factorization<T>> factors_;
};

// hermite4's square systems in float32: the direct block elimination of A (solvers/hermite4_direct.h;
// ~1e-5 at h = 0.01, where the float32 normal equations fail for steps below about 0.05).
class DirectBackend final : public Backend {
 public:
  DirectBackend(const Sizes& z, std::int64_t batch, bool keep) : Backend(z, batch), keep_(keep) {}
  void forward(const PreparedInputs& in, Tensor& u, Tensor& eps) override {
    auto factors = neurlp_core::hermite4::direct_forward_batch<float>(z_, batch_, inputs<float>(in), u.data_ptr<float>());
    if (keep_) factors_ = factors;
    eps.zero_();
  }
  void backward(const PreparedInputs& in, const Tensor& u, const Tensor&, const Tensor& grad_u, const Tensor&,
                InputGradients& out) override {
    auto factors = factors_;
    if (!factors) {   // nothing kept: factor again (into scratch: u is the forward's)
      Tensor again = empty(u.shape(), TensorOptions().dtype(DType::Float32));
      factors = neurlp_core::hermite4::direct_forward_batch<float>(z_, batch_, inputs<float>(in), again.data_ptr<float>());
    }
    neurlp_core::hermite4::direct_backward_batch<float>(*factors, inputs<float>(in), grad_u.data_ptr<float>(), out.raw<float>(z_));
  }

 private:
  bool keep_;
  std::shared_ptr<neurlp_core::hermite4::DirectFactorization<float>> factors_;
};

// The GPU solver (one thread per system, or chunked in time; solvers/neurlp_gpu.h). Its backward
// always reuses the forward's factors (device memory).
template <class T>
class CudaBackend final : public Backend {
 public:
  CudaBackend(const Sizes& z, std::int64_t batch, bool differentiable, int device)
      : Backend(z, batch), differentiable_(differentiable), device_(device) {}
  void forward(const PreparedInputs& in, Tensor& u, Tensor& eps) override {
    factors_ = neurlp_gpu::forward_batch<T>(z_, batch_, inputs<T>(in), u.data_ptr<T>(), eps.data_ptr<T>(),
                                              differentiable_, device_);
  }
  void backward(const PreparedInputs& in, const Tensor& u, const Tensor& eps, const Tensor& grad_u,
                const Tensor& grad_eps, InputGradients& out) override {
    neurlp_gpu::backward_batch<T>(*factors_, inputs<T>(in), u.data_ptr<T>(), eps.data_ptr<T>(), grad_u.data_ptr<T>(),
                                    optional_data<T>(grad_eps), out.raw<T>(z_));
  }
  bool accumulates() const override { return true; }

 private:
  bool differentiable_;
  int device_;
  std::shared_ptr<neurlp_gpu::DeviceFactorization<T>> factors_;
};

// The one place that chooses how the op solves: device, compute dtype, solver and kept factors.
std::shared_ptr<Backend> choose_backend(const Sizes& z, std::int64_t batch, const NeurlpOptions& options,
                                        Device device, bool differentiable) {
  const DType compute = options.compute_dtype;
  if (device.is_cuda())
    return MECH_DISPATCH_FLOAT(compute, kOp, [&]<class T>() -> std::shared_ptr<Backend> {
      return std::make_shared<CudaBackend<T>>(z, batch, differentiable, device.index);
    });
  const bool keep = differentiable && options.keeps_factors();
  if (z.formulation == Formulation::Hermite4 && compute == DType::Float32 && neurlp_core::hermite4::is_square(z))
    return std::make_shared<DirectBackend>(z, batch, keep);
  return MECH_DISPATCH_FLOAT(compute, kOp, [&]<class T>() -> std::shared_ptr<Backend> {
    return std::make_shared<CpuBackend<T>>(z, batch, keep);
  });
}

// t converted to dtype by the kernel itself, not the to() op: the conversion is part of this op, so
// anomaly mode names neurlp, not to_dtype, when a value leaves the output dtype's range.
Tensor in_dtype(const Tensor& t, DType dtype) {
  if (!t.defined() || t.dtype() == dtype) return t;
  Tensor out = empty(t.shape(), TensorOptions().dtype(dtype).device(t.device()));
  kernels::copy(t, out);
  return out;
}

}  // namespace

bool NeurlpOptions::keeps_factors() const {
#if defined(__AVX512F__)
  constexpr bool recompute_taylor_rows = true;   // measured: see neurlp.h
#else
  constexpr bool recompute_taylor_rows = false;
#endif
  return keep_factors.value_or(formulation == Formulation::Hermite4 || !recompute_taylor_rows);
}

NeurlpResult neurlp(const Tensor& coeffs, const Tensor& rhs_in, const Tensor& iv_in, const Tensor& steps,
                    const NeurlpOptions& options) {
  const Sizes z = neurlp_core::checked_sizes(kOp, coeffs, rhs_in, iv_in, steps, options);
  const std::int64_t B = coeffs.shape()[0];
  const DType compute = options.compute_dtype;
  const DType out_dtype = coeffs.dtype();
  const Device device = coeffs.device();
  const TensorOptions compute_options = TensorOptions().dtype(compute).device(device);
  const bool differentiable = needs_grad({coeffs, rhs_in, iv_in, steps});

  const PreparedInputs in = neurlp_core::prepare_inputs(coeffs, rhs_in, iv_in, steps, z, compute);
  const std::shared_ptr<Backend> backend = choose_backend(z, B, options, device, differentiable);
  Tensor u = empty({B, z.T, z.D, z.K}, compute_options);
  Tensor eps = empty({B}, compute_options);
  backend->forward(in, u, eps);

  NeurlpResult result;
  {
    NoGradGuard no_grad;
    result.u = in_dtype(u, out_dtype);
    result.eps = in_dtype(eps, out_dtype);
  }
  if (!differentiable) {   // record() checks the outputs of an op that records; this one does not
    check_anomaly(kOp, result.u, "forward");
    check_anomaly(kOp, result.eps, "forward");
    return result;
  }

  // The backward keeps the compute-dtype inputs, the solution (detached: the outputs' own node
  // must not hold them, or they would keep themselves alive) and the backend with its factors.
  const DType dtypes[4] = {coeffs.dtype(), rhs_in.dtype(), iv_in.defined() ? iv_in.dtype() : compute,
                           steps.dtype()};
  const Shape iv_shape = iv_in.defined() ? iv_in.shape() : Shape();
  record(kOp, {coeffs, rhs_in, iv_in, steps}, {result.u, result.eps},
         [z, B, in, u = u.detach(), eps = eps.detach(), backend, compute_options, dtypes, iv_shape,
          has_iv = iv_in.defined()](const std::vector<Tensor>& grads) {
           const DType compute = compute_options.dtype_;
           const Tensor grad_u = grads[0].defined() ? grads[0].detach().to(compute).contiguous()
                                                    : zeros({B, z.T, z.D, z.K}, compute_options);
           const Tensor grad_eps = grads[1].defined() ? grads[1].detach().to(compute).contiguous() : Tensor();
           InputGradients out = gradient_tensors(in, iv_shape, has_iv, compute_options, backend->accumulates());
           backend->backward(in, u, eps, grad_u, grad_eps, out);
           return std::vector<Tensor>{in_dtype(out.coeffs, dtypes[0]), in_dtype(out.rhs, dtypes[1]),
                                      in_dtype(out.iv, dtypes[2]), in_dtype(out.steps, dtypes[3])};
         });
  return result;
}

// ---- reuse path ------------------------------------------------------------------------------

struct NeurlpFactorization::State {
  Sizes sizes;
  std::int64_t batch = 0;
  DType compute = DType::Float64, out_dtype = DType::Float64;
  Tensor coeffs, steps;   // compute dtype, contiguous
  std::shared_ptr<neurlp_core::Factorization<double>> factors_double;
  std::shared_ptr<neurlp_core::Factorization<float>> factors_float;
};

NeurlpFactorization::NeurlpFactorization(const Tensor& coeffs, const Tensor& steps, std::int64_t iv_points,
                                         std::int64_t iv_count, const NeurlpOptions& options)
    : state_(std::make_shared<State>()) {
  check_defined(kOp, coeffs, "coeffs");
  MECH_CHECK(coeffs.device().is_cpu(), "NeurlpFactorization: the reuse path runs on the CPU, got coeffs on {}",
             coeffs.device().str());
  const std::int64_t B = coeffs.shape().size() == 5 ? coeffs.shape()[0] : 0;
  const std::int64_t D = coeffs.shape().size() == 5 ? coeffs.shape()[3] : 0;
  const DType compute = options.compute_dtype;
  const TensorOptions compute_options = TensorOptions().dtype(compute);
  // Factor with zero rhs and initial values: M depends on coefficients and steps only. Every
  // formulation factors its normal equations here (also hermite4 in float32: no direct solve).
  Tensor zero_iv = iv_points * iv_count > 0 ? zeros({B, iv_points, D, iv_count}, compute_options) : Tensor();
  Tensor zero_rhs = coeffs.shape().size() == 5 ? zeros({B, coeffs.shape()[1], coeffs.shape()[2]}, compute_options)
                                               : Tensor();
  State& s = *state_;
  s.sizes = neurlp_core::checked_sizes(kOp, coeffs, zero_rhs, zero_iv, steps, options);
  s.batch = B;
  s.compute = compute;
  s.out_dtype = coeffs.dtype();
  NoGradGuard no_grad;
  s.coeffs = prepared(coeffs, compute);
  s.steps = prepared(steps, compute);
  Tensor u = empty({B, s.sizes.T, s.sizes.D, s.sizes.K}, compute_options);
  MECH_DISPATCH_FLOAT(compute, kOp, [&]<class T>() {
    auto kept = neurlp_core::forward_batch<T>(s.sizes, B, batch_inputs<T>(s.coeffs, zero_rhs, zero_iv, s.steps, s.sizes),
                                              u.data_ptr<T>(), nullptr, true);
    if constexpr (std::is_same_v<T, double>) s.factors_double = kept;
    else s.factors_float = kept;
  });
}

NeurlpFactorization::~NeurlpFactorization() = default;

NeurlpResult NeurlpFactorization::solve(const Tensor& rhs, const Tensor& iv) const {
  const State& s = *state_;
  check_defined(kOp, rhs, "rhs");
  MECH_CHECK(rhs.shape() == Shape({s.batch, s.sizes.E, s.sizes.T}),
             "{}: expected rhs of shape [{}, {}, {}] as factored, got {}", kOp, s.batch, s.sizes.E, s.sizes.T,
             shape_str(rhs.shape()));
  const std::int64_t expected_iv = std::int64_t(s.sizes.S) * s.sizes.n_iv;
  MECH_CHECK(expected_iv == 0 || (iv.defined() && iv.shape() == Shape({s.batch, s.sizes.S, s.sizes.D, s.sizes.n_iv})),
             "{}: expected iv of shape [{}, {}, {}, {}] as factored, got {}", kOp, s.batch, s.sizes.S, s.sizes.D,
             s.sizes.n_iv, iv.defined() ? shape_str(iv.shape()) : std::string("none"));
  NoGradGuard no_grad;
  const TensorOptions compute_options = TensorOptions().dtype(s.compute);
  Tensor r = prepared(rhs, s.compute);
  Tensor v = expected_iv > 0 ? prepared(iv, s.compute) : Tensor();
  Tensor u = empty({s.batch, s.sizes.T, s.sizes.D, s.sizes.K}, compute_options);
  Tensor eps = empty({s.batch}, compute_options);
  MECH_DISPATCH_FLOAT(s.compute, kOp, [&]<class T>() {
    const auto& kept = [&]() -> const auto& {
      if constexpr (std::is_same_v<T, double>) return *s.factors_double;
      else return *s.factors_float;
    }();
    neurlp_core::resolve_batch<T>(kept, batch_inputs<T>(s.coeffs, r, v, s.steps, s.sizes), u.data_ptr<T>(),
                                  eps.data_ptr<T>());
  });
  NeurlpResult result;
  result.u = in_dtype(u, s.out_dtype);
  result.eps = in_dtype(eps, s.out_dtype);
  return result;
}

}  // namespace mech
