// The NeuRLP op on tensors (see neurlp.h): input checks (neurlp_inputs.h), conversion to the
// compute dtype, the CPU batch driver, and one tape node whose backward reuses the forward's factors.
#include "solvers/neurlp.h"

#include <variant>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/error.h"
#include "solvers/neurlp_gpu.h"
#include "solvers/hermite4_batch.h"
#include "solvers/hermite4_op.h"
#include "solvers/neurlp_batch.h"
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
using neurlp_core::prepared;

constexpr const char* kOp = "neurlp";

// The forward's factors, kept for the backward: CPU (host arrays) or CUDA (device arrays).
using AnyFactorization =
    std::variant<std::shared_ptr<neurlp_core::Factorization<double>>, std::shared_ptr<neurlp_core::Factorization<float>>,
                 std::shared_ptr<neurlp_gpu::DeviceFactorization<double>>,
                 std::shared_ptr<neurlp_gpu::DeviceFactorization<float>>>;

}  // namespace

NeurlpResult neurlp(const Tensor& coeffs, const Tensor& rhs_in, const Tensor& iv_in, const Tensor& steps,
                    const NeurlpOptions& options) {
  // hermite4 on the CPU has its own rows, latent derivative and solves (solvers/hermite4_op.h); on
  // CUDA tensors every formulation takes the GPU solver below.
  if (options.formulation == Formulation::Hermite4 && !(coeffs.defined() && coeffs.device().is_cuda()))
    return neurlp_hermite4(coeffs, rhs_in, iv_in, steps, options);
  const neurlp_core::Sizes z = neurlp_core::checked_sizes(kOp, coeffs, rhs_in, iv_in, steps, options);
  const std::int64_t B = coeffs.shape()[0];
  const DType compute = options.compute_dtype;
  const DType out_dtype = coeffs.dtype();
  const Device device = coeffs.device();
  const TensorOptions compute_options = TensorOptions().dtype(compute).device(device);

  const bool differentiable = needs_grad({coeffs, rhs_in, iv_in, steps});
  const neurlp_core::PreparedInputs driver_inputs =
      neurlp_core::prepare_inputs(coeffs, rhs_in, iv_in, steps, z, compute);
  const Tensor c = driver_inputs.coeffs, r = driver_inputs.rhs, v = driver_inputs.iv, h = driver_inputs.steps;
  Tensor u = empty({B, z.T, z.D, z.K}, compute_options);
  Tensor eps = empty({B}, compute_options);
  AnyFactorization factors = MECH_DISPATCH_FLOAT(compute, kOp, [&]<class T>() -> AnyFactorization {
    if (device.is_cuda()) {
      // The GPU backward always reuses the forward's factors (device memory, one thread per system).
      return neurlp_gpu::forward_batch<T>(z, B, batch_inputs<T>(c, r, v, h, z), u.data_ptr<T>(), eps.data_ptr<T>(),
                                            differentiable, device.index);
    }
    return neurlp_core::forward_batch<T>(z, B, batch_inputs<T>(c, r, v, h, z), u.data_ptr<T>(), eps.data_ptr<T>(),
                                    differentiable && options.keeps_factors());
  });

  NeurlpResult result;
  {
    NoGradGuard no_grad;
    result.u = compute == out_dtype ? u : u.to(out_dtype);
    result.eps = compute == out_dtype ? eps : eps.to(out_dtype);
  }
  if (!differentiable) return result;

  // The backward keeps the compute-dtype inputs, the solution (detached: the outputs' own node
  // must not hold them, or they would keep themselves alive) and the factors.
  const DType dtypes[4] = {coeffs.dtype(), rhs_in.dtype(), iv_in.defined() ? iv_in.dtype() : compute,
                           steps.dtype()};
  const Shape iv_shape = iv_in.defined() ? iv_in.shape() : Shape();
  record("neurlp", {coeffs, rhs_in, iv_in, steps}, {result.u, result.eps},
         [z, B, c, r, v, h, u = u.detach(), eps = eps.detach(), factors, compute, dtypes, iv_shape,
          has_iv = iv_in.defined(), device](const std::vector<Tensor>& grads) {
           const TensorOptions options = TensorOptions().dtype(compute).device(device);
           const Tensor grad_u = grads[0].defined() ? grads[0].detach().to(compute).contiguous()
                                                    : zeros({B, z.T, z.D, z.K}, options);
           const Tensor grad_eps = grads[1].defined() ? grads[1].detach().to(compute).contiguous() : Tensor();
           Tensor d_coeffs = empty(c.shape(), options), d_rhs = empty(r.shape(), options),
                  d_steps = device.is_cuda() ? zeros(h.shape(), options) : empty(h.shape(), options);
           Tensor d_iv = has_iv ? zeros(iv_shape, options) : Tensor();
           MECH_DISPATCH_FLOAT(compute, "neurlp backward", [&]<class T>() {
             const neurlp_core::BatchGradients<T> out{d_coeffs.data_ptr<T>(), d_rhs.data_ptr<T>(),
                                                      z.S * z.n_iv > 0 ? d_iv.data_ptr<T>() : nullptr,
                                                      d_steps.data_ptr<T>()};
             const T* upstream_eps = grad_eps.defined() ? grad_eps.data_ptr<T>() : nullptr;
             if (device.is_cuda()) {
               const auto& on_device = std::get<std::shared_ptr<neurlp_gpu::DeviceFactorization<T>>>(factors);
               neurlp_gpu::backward_batch<T>(*on_device, batch_inputs<T>(c, r, v, h, z), u.data_ptr<T>(),
                                               eps.data_ptr<T>(), grad_u.data_ptr<T>(), upstream_eps, out);
               return;
             }
             const auto& kept = std::get<std::shared_ptr<neurlp_core::Factorization<T>>>(factors);
             if (kept) {
               neurlp_core::backward_batch<T>(*kept, batch_inputs<T>(c, r, v, h, z), u.data_ptr<T>(),
                                              eps.data_ptr<T>(), grad_u.data_ptr<T>(), upstream_eps, out);
             } else {
               // Factors not kept: the fused pass refactors and re-solves (the same code, so the
               // same u, which it need not write out again) and differentiates.
               neurlp_core::forward_backward_batch<T>(z, B, batch_inputs<T>(c, r, v, h, z), nullptr, nullptr,
                                                      grad_u.data_ptr<T>(), upstream_eps, out);
             }
           });
           auto back = [&](const Tensor& t, DType dtype) { return t.defined() && t.dtype() != dtype ? t.to(dtype) : t; };
           return std::vector<Tensor>{back(d_coeffs, dtypes[0]), back(d_rhs, dtypes[1]), back(d_iv, dtypes[2]),
                                      back(d_steps, dtypes[3])};
         });
  return result;
}

// ---- reuse path ------------------------------------------------------------------------------

struct NeurlpFactorization::State {
  neurlp_core::Sizes sizes;
  std::int64_t batch = 0;
  DType compute = DType::Float64, out_dtype = DType::Float64;
  Tensor coeffs, steps;   // compute dtype, contiguous
  AnyFactorization factors;
  // hermite4 keeps its own factorisation (one of these, by compute dtype)
  std::shared_ptr<neurlp_core::hermite4::Factorization<double>> hermite4_double;
  std::shared_ptr<neurlp_core::hermite4::Factorization<float>> hermite4_float;
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
  // Factor with zero rhs and initial values: M depends on coefficients and steps only.
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
  Tensor eps = empty({B}, compute_options);
  if (s.sizes.formulation == Formulation::Hermite4) {
    // Its normal equations (also in float32: the reuse path has no direct solve).
    MECH_DISPATCH_FLOAT(compute, kOp, [&]<class T>() {
      auto kept = neurlp_core::hermite4::forward_batch<T>(
          s.sizes, B, batch_inputs<T>(s.coeffs, zero_rhs, zero_iv, s.steps, s.sizes), u.data_ptr<T>(), true);
      if constexpr (std::is_same_v<T, double>) s.hermite4_double = kept;
      else s.hermite4_float = kept;
    });
    return;
  }
  s.factors = MECH_DISPATCH_FLOAT(compute, kOp, [&]<class T>() -> AnyFactorization {
    return neurlp_core::forward_batch<T>(s.sizes, B, batch_inputs<T>(s.coeffs, zero_rhs, zero_iv, s.steps, s.sizes),
                                    u.data_ptr<T>(), eps.data_ptr<T>(), true);
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
  if (s.sizes.formulation == Formulation::Hermite4) {
    eps.zero_();
    MECH_DISPATCH_FLOAT(s.compute, kOp, [&]<class T>() {
      const auto& kept = [&]() -> const auto& {
        if constexpr (std::is_same_v<T, double>) return *s.hermite4_double;
        else return *s.hermite4_float;
      }();
      neurlp_core::hermite4::resolve_batch<T>(kept, batch_inputs<T>(s.coeffs, r, v, s.steps, s.sizes), u.data_ptr<T>());
    });
    NeurlpResult result;
    result.u = s.compute == s.out_dtype ? u : u.to(s.out_dtype);
    result.eps = s.compute == s.out_dtype ? eps : eps.to(s.out_dtype);
    return result;
  }
  MECH_DISPATCH_FLOAT(s.compute, kOp, [&]<class T>() {
    const auto& kept = std::get<std::shared_ptr<neurlp_core::Factorization<T>>>(s.factors);
    neurlp_core::resolve_batch<T>(*kept, batch_inputs<T>(s.coeffs, r, v, s.steps, s.sizes), u.data_ptr<T>(),
                             eps.data_ptr<T>());
  });
  NeurlpResult result;
  result.u = s.compute == s.out_dtype ? u : u.to(s.out_dtype);
  result.eps = s.compute == s.out_dtype ? eps : eps.to(s.out_dtype);
  return result;
}

}  // namespace mech
