// The NeuRLP ops' shared input checks and preparation (see neurlp_inputs.h).
#include "solvers/neurlp_inputs.h"

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "solvers/neurlp_errors.h"

namespace mech::neurlp_core {

Sizes checked_sizes(const char* op, const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                    const NeurlpOptions& options) {
  // coeffs first: every other shape is stated in its sizes.
  check_defined(op, coeffs, "coeffs");
  const Shape& c = coeffs.shape();
  MECH_CHECK(c.size() == 5, "{}: expected coeffs of shape (B,E,T,D,K), got {}", op, shape_str(c));
  const std::int64_t B = c[0], E = c[1], T = c[2], D = c[3], K = c[4];
  MECH_CHECK(B >= 1 && E >= 1 && T >= 2 && D >= 1 && K >= 2,
             "{}: expected coeffs (B,E,T,D,K) with B, E, D >= 1, T >= 2 and K >= 2, got {}", op, shape_str(c));
  check_defined(op, rhs, "rhs");
  check_defined(op, steps, "steps");
  MECH_CHECK(rhs.shape() == Shape({B, E, T}), "{}: expected rhs of shape [{}, {}, {}] (B,E,T) to match coeffs {}, got {}",
             op, B, E, T, shape_str(c), shape_str(rhs.shape()));
  MECH_CHECK(steps.shape() == Shape({B, T - 1, D}),
             "{}: expected steps of shape [{}, {}, {}] (B,T-1,D) to match coeffs {}, got {}", op, B, T - 1, D,
             shape_str(c), shape_str(steps.shape()));
  std::int64_t S = 0, n_iv = 0;
  if (iv.defined()) {
    const Shape& v = iv.shape();
    MECH_CHECK(v.size() == 4 && v[0] == B && v[2] == D,
               "{}: expected iv of shape (B,S,D,n_iv) = [{}, S, {}, n_iv] to match coeffs {}, got {}", op, B, D,
               shape_str(c), shape_str(v));
    S = v[1];
    n_iv = v[3];
    if (S * n_iv == 0) S = n_iv = 0;   // no initial values at all
  }
  MECH_CHECK(S <= T, "{}: expected at most T = {} initial grid points, got iv {}", op, T, shape_str(iv.shape()));
  MECH_CHECK(n_iv < K, "{}: expected n_iv < K = {} initial derivatives (the top derivative is set by the equations), got iv {}",
             op, K, shape_str(iv.shape()));
  auto check_tensor = [&](const Tensor& t, const char* name) {
    if (!t.defined()) return;
    MECH_CHECK(is_floating(t.dtype()), "{}: expected {} to be float32 or float64, got {} of shape {}", op, name,
               dtype_name(t.dtype()), shape_str(t.shape()));
    MECH_CHECK(t.device() == coeffs.device(), "{}: expected {} on {} like coeffs, got {}", op, name,
               coeffs.device().str(), t.device().str());
  };
  check_tensor(coeffs, "coeffs");
  check_tensor(rhs, "rhs");
  check_tensor(iv, "iv");
  check_tensor(steps, "steps");
  MECH_CHECK(options.compute_dtype == DType::Float64 || options.compute_dtype == DType::Float32,
             "{}: expected compute_dtype float32 or float64, got {}", op, dtype_name(options.compute_dtype));
  Sizes z;
  z.T = static_cast<int>(T);
  z.D = static_cast<int>(D);
  z.K = static_cast<int>(K);
  z.E = static_cast<int>(E);
  z.S = static_cast<int>(S);
  z.n_iv = static_cast<int>(n_iv);
  z.formulation = options.formulation;
  z.gamma_alpha = options.gamma * options.alpha;   // read by mnn only
  z.equation_weight = options.equation_weight;
  z.initial_weight = options.initial_weight;
  z.smooth_weight = options.smooth_weight;
  check_sizes(z, op);
  return z;
}

Tensor prepared(const Tensor& t, DType dtype) {
  if (!t.defined()) return t;
  return t.detach().to(dtype).contiguous();
}

PreparedInputs prepare_inputs(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                              const Sizes& z, DType compute) {
  NoGradGuard no_grad;
  return {prepared(coeffs, compute), prepared(rhs, compute), z.S * z.n_iv > 0 ? prepared(iv, compute) : Tensor(),
          prepared(steps, compute)};
}

}  // namespace mech::neurlp_core
