// NeuRLP as a differentiable op on mech::Tensor: the relaxed-LP ODE solver of Mechanistic Neural
// Networks (solvers/README.md). One call records ONE node on the tape, so loss.backward() reaches
// the coefficients, right-hand side, initial values and step sizes (and whatever produced them).
//
//   mech::NeurlpResult out = mech::neurlp(coeffs, rhs, iv, steps);   // mnn, gamma 0.5, alpha 0.1
//   auto loss = mech::mse_loss(out.u.select(-1, 0), target);           // u[..., 0] is the value
//   loss.backward();
//
// Shapes: coeffs (B,E,T,D,K) with K = order+1 and k indexing u, u', u'', ...; rhs (B,E,T);
// iv (B,S,D,n_iv): derivative i of dimension d at grid point s (undefined or n_iv = 0: none);
// steps (B,T-1,D) positive. Outputs u (B,T,D,K) and eps (B), in the dtype of coeffs.
// The solve runs in options.compute_dtype (float64 by default): the normal equations square the
// condition number, and in float32 step sizes below about 0.05 lose most digits or are reported
// as singular. Failures (non-finite input, non-positive step, singular system) throw
// mech::SolverError naming the batch element. CUDA tensors are solved on their device
// (solvers/neurlp_gpu.h, one thread per system); the NeurlpFactorization reuse path is CPU only.
// The derivation of the solve and of its backward is in solvers/README.md.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "solvers/neurlp_formulation.h"

namespace mech {

using neurlp_core::Formulation;

struct NeurlpOptions {
  Formulation formulation = Formulation::Mnn;
  double gamma = 0.5, alpha = 0.1;   // only their product enters (mnn only)
  // Row-group weights of the scalable formulation (each row is multiplied by its weight, so the
  // objective weighs the group by weight^2); mnn always uses 1.
  double equation_weight = 1.0, initial_weight = 1.0, smooth_weight = 1.0;
  DType compute_dtype = DType::Float64;
  // Keep the factorisation from forward for backward (memory: about 31 values per step and system
  // for P = 2, D = 1, e.g. 60 MB for B = 256, T = 1000), or recompute it in backward (nothing kept;
  // backward runs the fused forward+backward pass, which never leaves the cache per group of
  // systems). Unset: the faster one as measured (bench_solver --quick, forward+backward, B = 256,
  // P = 2). hermite4 keeps (its factorisation is the costlier part). mnn and scalable depend on the
  // target the solver is built for: with AVX-512 they recompute (Xeon,
  // 2 threads, mnn T = 1000: 9.4 ms vs 10.0 ms kept; T = 10000: 104 ms vs 136 ms, the kept 605 MiB
  // written out and read back from memory); without AVX-512 (AMD Zen 3, AVX2) they keep (mnn
  // T = 1000, 2 threads, CPU time: 58 ms vs 84-86 ms), the factorisation costing relatively more
  // there. Decided in neurlp.cpp, which is compiled with the solver's target flags.
  std::optional<bool> keep_factors;
  bool keeps_factors() const;
};

struct NeurlpResult {
  Tensor u;     // (B, T, D, K)
  Tensor eps;   // (B)
};

NeurlpResult neurlp(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                    const NeurlpOptions& options = {});

// "mnn" / "scalable" / "hermite4"; throws mech::Error otherwise.
Formulation parse_formulation(const std::string& name);
const char* formulation_name(Formulation formulation);

// The reuse path: factor once for fixed coefficients and steps, then solve for many right-hand
// sides and initial values by substitution only (not differentiable; for inference and sweeps).
class NeurlpFactorization {
 public:
  // iv_points (S) and iv_count (n_iv) fix the shape of the initial values solve() accepts.
  NeurlpFactorization(const Tensor& coeffs, const Tensor& steps, std::int64_t iv_points,
                      std::int64_t iv_count, const NeurlpOptions& options = {});
  ~NeurlpFactorization();
  NeurlpResult solve(const Tensor& rhs, const Tensor& iv) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace mech
