// The hermite4 op on tensors (see hermite4_op.h): input checks (neurlp_inputs.h), conversion to the
// compute dtype, the banded or direct batch solve, and one tape node whose backward reuses the factors.
#include "solvers/hermite4_op.h"

#include <memory>
#include <type_traits>
#include <variant>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/error.h"
#include "solvers/hermite4_batch.h"
#include "solvers/hermite4_direct.h"
#include "solvers/neurlp_inputs.h"

namespace mech {

namespace {

using neurlp_core::batch_inputs;

constexpr const char* kOp = "neurlp hermite4";

// The shared input checks (neurlp_inputs.h) for the hermite4 formulation, whatever
// options.formulation says, and the CPU only: hermite4 has no CUDA solver.
neurlp_core::Sizes hermite4_sizes(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                                  const NeurlpOptions& options) {
  NeurlpOptions hermite4 = options;
  hermite4.formulation = Formulation::Hermite4;
  const neurlp_core::Sizes z = neurlp_core::checked_sizes(kOp, coeffs, rhs, iv, steps, hermite4);
  MECH_CHECK(coeffs.device().is_cpu(),
             "{}: expected inputs on the CPU (hermite4 has no CUDA solver), got coeffs {} on {}", kOp,
             shape_str(coeffs.shape()), coeffs.device().str());
  return z;
}

// What backward needs from forward: the factors, or (options.keep_factors false) nothing, and
// backward re-solves in the fused pass.
using Kept = std::variant<std::monostate, std::shared_ptr<neurlp_core::hermite4::Factorization<double>>,
                          std::shared_ptr<neurlp_core::hermite4::Factorization<float>>,
                          std::shared_ptr<neurlp_core::hermite4::DirectFactorization<float>>>;

}  // namespace

NeurlpResult neurlp_hermite4(const Tensor& coeffs, const Tensor& rhs_in, const Tensor& iv_in, const Tensor& steps,
                             const NeurlpOptions& options) {
  namespace h4 = neurlp_core::hermite4;
  const neurlp_core::Sizes z = hermite4_sizes(coeffs, rhs_in, iv_in, steps, options);
  const std::int64_t B = coeffs.shape()[0];
  const DType compute = options.compute_dtype, out_dtype = coeffs.dtype();
  const TensorOptions compute_options = TensorOptions().dtype(compute);
  const bool differentiable = needs_grad({coeffs, rhs_in, iv_in, steps});
  const bool direct = compute == DType::Float32 && h4::is_square(z);
  const bool keep = differentiable && options.keeps_factors();
  const neurlp_core::PreparedInputs driver_inputs =
      neurlp_core::prepare_inputs(coeffs, rhs_in, iv_in, steps, z, compute);
  const Tensor c = driver_inputs.coeffs, r = driver_inputs.rhs, v = driver_inputs.iv, h = driver_inputs.steps;
  Tensor u = empty({B, z.T, z.D, z.K}, compute_options);
  Kept kept;
  if (direct) {
    auto factors = h4::direct_forward_batch<float>(z, B, batch_inputs<float>(c, r, v, h, z), u.data_ptr<float>());
    if (keep) kept = factors;
  } else if (compute == DType::Float32) {
    auto factors = h4::forward_batch<float>(z, B, batch_inputs<float>(c, r, v, h, z), u.data_ptr<float>(), keep);
    if (keep) kept = factors;
  } else {
    auto factors = h4::forward_batch<double>(z, B, batch_inputs<double>(c, r, v, h, z), u.data_ptr<double>(), keep);
    if (keep) kept = factors;
  }
  NeurlpResult result;
  {
    NoGradGuard no_grad;
    result.u = compute == out_dtype ? u : u.to(out_dtype);
    result.eps = zeros({B}, TensorOptions().dtype(out_dtype));
  }
  if (!differentiable) return result;
  const DType dtypes[4] = {coeffs.dtype(), rhs_in.dtype(), iv_in.defined() ? iv_in.dtype() : compute, steps.dtype()};
  const Shape iv_shape = iv_in.defined() ? iv_in.shape() : Shape();
  record("neurlp_hermite4", {coeffs, rhs_in, iv_in, steps}, {result.u},
         [z, B, c, r, v, h, kept, compute, direct, dtypes, iv_shape, has_iv = iv_in.defined()](const std::vector<Tensor>& grads) {
           const TensorOptions options = TensorOptions().dtype(compute);
           const Tensor grad_u = grads[0].defined() ? grads[0].detach().to(compute).contiguous()
                                                    : zeros({B, z.T, z.D, z.K}, options);
           Tensor d_coeffs = empty(c.shape(), options), d_rhs = empty(r.shape(), options),
                  d_steps = empty(h.shape(), options);
           Tensor d_iv = has_iv ? zeros(iv_shape, options) : Tensor();
           const bool iv_used = z.S * z.n_iv > 0;
           auto run = [&](const auto& factors) {
             using Factors = std::decay_t<decltype(factors)>;
             if constexpr (std::is_same_v<Factors, std::monostate>) {
               // Nothing kept: solve again, fused with the backward where the driver has it.
               if (direct) {
                 Tensor again = empty({B, z.T, z.D, z.K}, options);
                 auto refactored = h4::direct_forward_batch<float>(z, B, batch_inputs<float>(c, r, v, h, z),
                                                                   again.data_ptr<float>());
                 h4::direct_backward_batch<float>(*refactored, batch_inputs<float>(c, r, v, h, z),
                                                  grad_u.data_ptr<float>(),
                                                  {d_coeffs.data_ptr<float>(), d_rhs.data_ptr<float>(),
                                                   iv_used ? d_iv.data_ptr<float>() : nullptr, d_steps.data_ptr<float>()});
                 return;
               }
               MECH_DISPATCH_FLOAT(compute, "neurlp hermite4 backward", [&]<class T>() {
                 Tensor again = empty({B, z.T, z.D, z.K}, options);
                 h4::forward_backward_batch<T>(z, B, batch_inputs<T>(c, r, v, h, z), again.data_ptr<T>(),
                                               grad_u.data_ptr<T>(),
                                               {d_coeffs.data_ptr<T>(), d_rhs.data_ptr<T>(),
                                                iv_used ? d_iv.data_ptr<T>() : nullptr, d_steps.data_ptr<T>()});
               });
             } else {
               using Held = typename Factors::element_type;
               if constexpr (std::is_same_v<Held, h4::DirectFactorization<float>>) {
                 h4::direct_backward_batch<float>(*factors, batch_inputs<float>(c, r, v, h, z), grad_u.data_ptr<float>(),
                                                  {d_coeffs.data_ptr<float>(), d_rhs.data_ptr<float>(),
                                                   iv_used ? d_iv.data_ptr<float>() : nullptr, d_steps.data_ptr<float>()});
               } else {
                 using T = std::conditional_t<std::is_same_v<Held, h4::Factorization<double>>, double, float>;
                 h4::backward_batch<T>(*factors, grad_u.data_ptr<T>(),
                                       {d_coeffs.data_ptr<T>(), d_rhs.data_ptr<T>(),
                                        iv_used ? d_iv.data_ptr<T>() : nullptr, d_steps.data_ptr<T>()});
               }
             }
           };
           std::visit(run, kept);
           auto back = [&](const Tensor& t, DType dtype) { return t.defined() && t.dtype() != dtype ? t.to(dtype) : t; };
           return std::vector<Tensor>{back(d_coeffs, dtypes[0]), back(d_rhs, dtypes[1]), back(d_iv, dtypes[2]),
                                      back(d_steps, dtypes[3])};
         });
  return result;
}

}  // namespace mech
