// The hermite4 op on tensors (see hermite4_op.h): shape/dtype checks, conversion to the compute
// dtype, the banded or direct batch solve, and one tape node whose backward reuses the factors.
#include "solvers/hermite4_op.h"

#include <memory>
#include <type_traits>
#include <variant>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/error.h"
#include "solvers/hermite4_batch.h"
#include "solvers/hermite4_direct.h"

namespace mech {

namespace {

constexpr const char* kOp = "neurlp hermite4";

neurlp_core::Sizes hermite4_sizes(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                                  const NeurlpOptions& options) {
  check_defined(kOp, coeffs, "coeffs");
  check_defined(kOp, rhs, "rhs");
  check_defined(kOp, steps, "steps");
  const Shape& c = coeffs.shape();
  MECH_CHECK(c.size() == 5, "{}: expected coeffs of shape (B,E,T,D,K), got {}", kOp, shape_str(c));
  const std::int64_t B = c[0], E = c[1], T = c[2], D = c[3], K = c[4];
  MECH_CHECK(B >= 1 && E >= 1 && T >= 2 && D >= 1 && K >= 2,
             "{}: expected coeffs (B,E,T,D,K) with B, E, D >= 1, T >= 2 and K >= 2, got {}", kOp, shape_str(c));
  MECH_CHECK(rhs.shape() == Shape({B, E, T}), "{}: expected rhs of shape [{}, {}, {}] (B,E,T) to match coeffs {}, got {}",
             kOp, B, E, T, shape_str(c), shape_str(rhs.shape()));
  MECH_CHECK(steps.shape() == Shape({B, T - 1, D}),
             "{}: expected steps of shape [{}, {}, {}] (B,T-1,D) to match coeffs {}, got {}", kOp, B, T - 1, D,
             shape_str(c), shape_str(steps.shape()));
  std::int64_t S = 0, n_iv = 0;
  if (iv.defined()) {
    const Shape& v = iv.shape();
    MECH_CHECK(v.size() == 4 && v[0] == B && v[2] == D,
               "{}: expected iv of shape (B,S,D,n_iv) = [{}, S, {}, n_iv] to match coeffs {}, got {}", kOp, B, D,
               shape_str(c), shape_str(v));
    S = v[1];
    n_iv = v[3];
    if (S * n_iv == 0) S = n_iv = 0;
  }
  for (const Tensor* t : {&coeffs, &rhs, &iv, &steps}) {
    if (!t->defined()) continue;
    MECH_CHECK(is_floating(t->dtype()), "{}: expected float32 or float64 inputs, got {}", kOp, dtype_name(t->dtype()));
    MECH_CHECK(t->device().is_cpu(), "{}: expected inputs on the CPU (hermite4 has no CUDA solver), got {}", kOp,
               t->device().str());
  }
  MECH_CHECK(options.compute_dtype == DType::Float64 || options.compute_dtype == DType::Float32,
             "{}: expected compute_dtype float32 or float64, got {}", kOp, dtype_name(options.compute_dtype));
  neurlp_core::Sizes z;
  z.T = static_cast<int>(T);
  z.D = static_cast<int>(D);
  z.K = static_cast<int>(K);
  z.E = static_cast<int>(E);
  z.S = static_cast<int>(S);
  z.n_iv = static_cast<int>(n_iv);
  z.formulation = Formulation::Hermite4;
  z.equation_weight = options.equation_weight;
  z.initial_weight = options.initial_weight;
  z.smooth_weight = options.smooth_weight;
  neurlp_core::hermite4::check_sizes(z, kOp);
  return z;
}

Tensor prepared(const Tensor& t, DType dtype) {
  if (!t.defined()) return t;
  return t.detach().to(dtype).contiguous();
}

template <class T>
neurlp_core::BatchInputs<T> batch_inputs(const Tensor& c, const Tensor& r, const Tensor& v, const Tensor& h,
                                         const neurlp_core::Sizes& z) {
  return {c.data_ptr<T>(), r.data_ptr<T>(), z.S * z.n_iv > 0 ? v.data_ptr<T>() : nullptr, h.data_ptr<T>()};
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
  Tensor c, r, v, h;
  {
    NoGradGuard no_grad;
    c = prepared(coeffs, compute);
    r = prepared(rhs_in, compute);
    v = z.S * z.n_iv > 0 ? prepared(iv_in, compute) : Tensor();
    h = prepared(steps, compute);
  }
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
