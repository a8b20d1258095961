// The hermite4 formulation of NeuRLP as a row policy (Hermite4Rows) for the sweeps of
// solvers/neurlp_sweeps.h, which assemble, factor, solve and differentiate it with the same envelope
// Cholesky, fixed-size path and sweeps as mnn and scalable: only its rows, its interior profile and
// the chain rule of its rows are here (solvers/README.md, "hermite4"). Written once for a scalar or
// lane pack S, host-device clean, like the rest of the per-system code.
//
// Unknowns u[t][d][j], j = 0..P+1 (one latent derivative beyond the ODE's order P = K-1): column
// t*m + d*L + j with L = P+2, m = D*L. No eps, no central rows. Rows:
//   equation (e,t):   sum_{d,k<=P} c[e][t][d][k] u[t][d][k] = r[e][t]
//   derived (e,t):    sum_{d,k<=P} (c'[e][t][d][k] u[t][d][k] + c[e][t][d][k] u[t][d][k+1]) = r'[e][t]
//                     c' = sum_j w_j c[e][first+j], r' likewise (hermite4_stencil.h). The stencil
//                     runs along dimension 0's grid: the equations couple all dimensions at one
//                     time, so the dimensions must share their time nodes for the rows to mean
//                     anything; with per-dimension steps, dimension 0's define the time.
//   initial (s,d,i):  u[s][d][i] = v[s][d][i]
//   step (t,d,i), i < P, h = h[t][d], t -> t+1 (Hermite-Obreshkov (2,2), fourth order):
//       u[t+1][i] - u[t][i] - h/2 (u[t+1][i+1] + u[t][i+1]) + h^2/12 (u[t+1][i+2] - u[t][i+2]) = 0
// Row-group weights as in the scalable formulation (equation weight on both equation groups).
// Rows owned by time t touch blocks t and t+1 only (kLookBehind = 0), so M = A^T A is block
// tridiagonal and block t is final once the rows of t are added.
// With E = D, S = 1 and n_iv = P the system is square: A y = b holds exactly. It is singular when
// the equations lose the top derivative altogether (c_P = 0 at every t: the P initial values then
// over-fix an equation of order P-1) or a time block loses its equation rows; the pivot test of the
// factorisation fails and names t. Measured: c_P(t) = 0 at isolated points or on a stretch of the
// grid leaves the discrete system solvable, so it is not refused.
//
// ---- Backward --------------------------------------------------------------------------------
// As for every formulation: v = M^{-1} ubar (ubar zero on the latent column), and per row
// G[c] = dL/dA[r][c] = (b - A y)[r] v[c] - (A v)[r] y[c], dL/db[r] = (A v)[r]. Chain rule:
//   equation row: dc[e][t][d][k] += w_eq G[d,k],  dr[e][t] += w_eq (A v)[r]
//   derived row:  dc[e][first+j][d][k] += w_eq w_j G[d,k]  (k <= P),
//                 dc[e][t][d][k-1] += w_eq G[d,k]           (k >= 1),
//                 dr[e][first+j] += w_eq w_j (A v)[r],
//                 dL/dw_j = w_eq (sum_{d,k<=P} G[d,k] c[e][first+j][d][k] + (A v)[r] r[e][first+j]),
//                 dh[first+s][0] += sum_j dL/dw_j d w_j / d h_s        (the stencil's part, in
//                 reverse mode: stencil_step_gradient)
//   initial row:  dv += w_iv (A v)[r]
//   step row:     dh[t][d] += sum_c G[c] d value_c / d h               (the step rows' part)
// Gradients of coeffs and rhs are accumulations from several rows (the stencil spreads them over
// five times), so every output is zeroed first.
#pragma once

#include <cstdint>

#include "solvers/hermite4_stencil.h"
#include "solvers/neurlp_rows.h"

namespace mech::neurlp_core::hermite4 {

// Latent derivatives per dimension (P+2) and unknowns per time block, from the op's sizes (whose K
// is P+1).
MECH_HOST_DEVICE inline int latent_width(const Sizes& z) { return z.K + 1; }
MECH_HOST_DEVICE inline int latent_block(const Sizes& z) { return z.D * (z.K + 1); }
MECH_HOST_DEVICE inline std::int64_t latent_unknowns(const Sizes& z) { return std::int64_t(z.T) * z.D * (z.K + 1); }

// Total rows of A; fewer than the unknowns means M is singular whatever the values.
MECH_HOST_DEVICE inline std::int64_t row_count(const Sizes& z) {
  return 2 * std::int64_t(z.E) * z.T + std::int64_t(z.S) * z.D * z.n_iv +
         std::int64_t(z.T - 1) * z.D * (z.K - 1);
}

// True when A is square (E = D, and P initial values at the first point): the direct solvers of
// hermite4_direct.h apply.
MECH_HOST_DEVICE inline bool is_square(const Sizes& z) { return z.E == z.D && z.S == 1 && z.n_iv == z.K - 1; }

// Calls visit(row) for the rows owned by time t (see above), columns ascending; row.kind says
// which group (step rows are RowKind::Smooth). `stencil` is computed here (its weights) and left for
// the caller. dvalue is set for step rows only, and only with Derivatives.
template <bool Derivatives, int FD = 0, int FK = 0, class S, class Visitor>
MECH_HOST_DEVICE MECH_FORCE_INLINE void rows_at(const Sizes& z, const SystemInputs<S>& in, int t, Stencil<S>& stencil, Row<S>& row,
                               Visitor&& visit) {
  using Real = lane_real_t<S>;
  const int D = FD > 0 ? FD : z.D, K = FK > 0 ? FK : z.K, P = K - 1, L = K + 1, m = D * L, T = z.T;
  const Real weight_equation = Real(z.equation_weight), weight_initial = Real(z.initial_weight),
             weight_step = Real(z.smooth_weight);
  // The stencil's step derivatives are taken in reverse mode by row_gradient, so only its weights
  // (and the node differences they come from) are made here.
  make_stencil<false>(T, t, [&](int s) { return in.steps[s * z.D]; }, stencil);
  for (int e = 0; e < z.E; ++e) {
    const S* c = in.coeffs + std::int64_t(e * T + t) * D * K;
    // equation row
    row.kind = RowKind::Equation;
    row.index = e * T + t;
    row.weight = weight_equation;
    row.eps_coef = Real(0);
    int count = 0;
    for (int d = 0; d < D; ++d)
      for (int k = 0; k < K; ++k) {
        row.col[count] = t * m + d * L + k;
        row.value[count] = c[d * K + k] * weight_equation;
        ++count;
      }
    row.count = count;
    row.rhs = in.rhs[e * T + t] * weight_equation;
    visit(row);
    // derived row: c' u + c u' along every (d, k)
    S derivative[kMaxRowEntries];
    for (int p = 0; p < D * K; ++p) derivative[p] = S{};
    S rhs_derivative{};
    for (int j = 0; j < stencil.count; ++j) {
      const int node = stencil.first + j;
      const S w = stencil.weight[j];
      const S* cj = in.coeffs + std::int64_t(e * T + node) * D * K;
      for (int p = 0; p < D * K; ++p) derivative[p] += w * cj[p];
      rhs_derivative += w * in.rhs[e * T + node];
    }
    count = 0;
    for (int d = 0; d < D; ++d)
      for (int k = 0; k <= K; ++k) {
        S value = k < K ? derivative[d * K + k] : S{};
        if (k >= 1) value += c[d * K + k - 1];
        row.col[count] = t * m + d * L + k;
        row.value[count] = value * weight_equation;
        ++count;
      }
    row.kind = RowKind::Derived;
    row.count = count;
    row.rhs = rhs_derivative * weight_equation;
    visit(row);
  }
  if (t < z.S) {
    for (int d = 0; d < D; ++d)
      for (int i = 0; i < z.n_iv; ++i) {
        row.kind = RowKind::Initial;
        row.index = (t * D + d) * z.n_iv + i;
        row.weight = weight_initial;
        row.count = 1;
        row.col[0] = t * m + d * L + i;
        row.value[0] = splat<S>(weight_initial);
        row.rhs = in.iv[row.index] * weight_initial;
        visit(row);
      }
  }
  if (t + 1 < T) {
    for (int d = 0; d < D; ++d) {
      const S h = in.steps[t * D + d];
      const S half = h * Real(0.5) * weight_step;
      const S twelfth = h * h * (Real(1.0 / 12) * weight_step);
      const S dtwelfth = h * (Real(1.0 / 6) * weight_step);
      for (int i = 0; i < P; ++i) {
        row.kind = RowKind::Smooth;
        row.index = t * D + d;
        row.weight = weight_step;
        row.rhs = S{};
        row.count = 6;
        const int here = t * m + d * L + i, next = here + m;
        row.col[0] = here;
        row.col[1] = here + 1;
        row.col[2] = here + 2;
        row.col[3] = next;
        row.col[4] = next + 1;
        row.col[5] = next + 2;
        row.value[0] = splat<S>(-weight_step);
        row.value[1] = -half;
        row.value[2] = -twelfth;
        row.value[3] = splat<S>(weight_step);
        row.value[4] = -half;
        row.value[5] = twelfth;
        if constexpr (Derivatives) {
          row.dvalue[0] = S{};
          row.dvalue[1] = splat<S>(Real(-0.5) * weight_step);
          row.dvalue[2] = -dtwelfth;
          row.dvalue[3] = S{};
          row.dvalue[4] = splat<S>(Real(-0.5) * weight_step);
          row.dvalue[5] = dtwelfth;
        }
        visit(row);
      }
    }
  }
}

// The envelope of a block t >= 1 in the form the fixed-size path takes (solvers/neurlp_fixed_size.h):
// with latent width L = K + 1 and m = D * L, the step rows make u[t][d][j] couple back to
// u[t-1][d][max(0, j-2)], so row r = d*L + j has width m + min(j, 2) (the whole own block before
// it, and up to two more entries of block t-1).
template <int D, int L>
struct Hermite4Profile {
  static constexpr int m = D * L;
  static constexpr int width(int r) { return m + (r % L < 2 ? r % L : 2); }
  static constexpr int first(int r) { return r - width(r); }
  static constexpr int first_at(int x) {
    return x >= 0 ? first(x) : x >= -m ? first(x + m) - m : first(x + 2 * m) - 2 * m;
  }
};

// Zeroes every gradient output (they are accumulated: the stencil spreads a row over five times).
template <class S>
MECH_HOST_DEVICE inline void zero_gradients(const Sizes& z, const SystemGradients<S>& out) {
  const std::int64_t coeff_count = std::int64_t(z.E) * z.T * z.D * z.K;
  if (out.coeffs)
    for (std::int64_t i = 0; i < coeff_count; ++i) out.coeffs[i] = S{};
  if (out.rhs)
    for (int i = 0; i < z.E * z.T; ++i) out.rhs[i] = S{};
  if (out.iv)
    for (int i = 0; i < z.S * z.D * z.n_iv; ++i) out.iv[i] = S{};
  if (out.steps)
    for (int i = 0; i < (z.T - 1) * z.D; ++i) out.steps[i] = S{};
}

// The chain rule of one row (see the top of this file) given its residual (b - A y)[r], av =
// (A v)[r] = dL/db[r], the solution y and v = M^{-1} ubar; accumulates into out. v may be null
// when the residual is zero (square systems), where G[c] = -av y[c].
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE inline void row_gradient(const Sizes& z, const SystemInputs<S>& in, int t, const Stencil<S>& stencil,
                         const Row<S>& r, const S* y, const S* v, S residual, S av,
                         const SystemGradients<S>& out) {
  const int D = FD > 0 ? FD : z.D, K = FK > 0 ? FK : z.K, L = K + 1, m = D * L, T = z.T;
  auto G = [&](int c) { return v ? residual * v[c] - av * y[c] : -(av * y[c]); };
  switch (r.kind) {
    case RowKind::Equation: {
      if (out.rhs) out.rhs[r.index] += av * r.weight;
      if (out.coeffs) {
        S* dc = out.coeffs + std::int64_t(r.index) * D * K;
        for (int d = 0; d < D; ++d)
          for (int k = 0; k < K; ++k) dc[d * K + k] += G(t * m + d * L + k) * r.weight;
      }
      break;
    }
    case RowKind::Derived: {
      const int e = r.index / T;
      S gradient[kMaxRowEntries];   // w_eq G[d,k], k = 0..P+1
      for (int p = 0; p < m; ++p) gradient[p] = G(t * m + p) * r.weight;
      const S weighted_av = av * r.weight;
      S weight_gradient[kStencilNodes];   // dL/dw_j
      for (int j = 0; j < stencil.count; ++j) {
        const int node = stencil.first + j;
        const S w = stencil.weight[j];
        const std::int64_t base = std::int64_t(e * T + node) * D * K;
        S total = weighted_av * in.rhs[e * T + node];
        for (int d = 0; d < D; ++d)
          for (int k = 0; k < K; ++k) {
            const S g = gradient[d * L + k];
            if (out.coeffs) out.coeffs[base + d * K + k] += w * g;
            total += g * in.coeffs[base + d * K + k];
          }
        if (out.rhs) out.rhs[e * T + node] += w * weighted_av;
        weight_gradient[j] = total;
      }
      if (out.coeffs) {
        S* dc = out.coeffs + std::int64_t(e * T + t) * D * K;
        for (int d = 0; d < D; ++d)
          for (int k = 1; k <= K; ++k) dc[d * K + k - 1] += gradient[d * L + k];
      }
      if (out.steps) {
        S step_gradient[kStencilNodes - 1] = {};
        stencil_step_gradient(stencil, weight_gradient, step_gradient);
        for (int s = 0; s + 1 < stencil.count; ++s) out.steps[(stencil.first + s) * D] += step_gradient[s];
      }
      break;
    }
    case RowKind::Initial:
      if (out.iv) out.iv[r.index] += av * r.weight;
      break;
    case RowKind::Smooth: {
      if (!out.steps) break;
      S total{};
      for (int p = 0; p < r.count; ++p) total += G(r.col[p]) * r.dvalue[p];
      out.steps[r.index] += total;
      break;
    }
  }
}


// The hermite4 rows as a row policy for the sweeps (the contract is at TaylorRows,
// solvers/neurlp_rows.h). Its per-system state is the stencil, reused from one time to the next
// where the steps repeat.
struct Hermite4Rows {
  static constexpr int kLatent = 1;
  static constexpr int kLookBehind = 0;
  static constexpr bool kStageKeptFactors = false;
  template <class S>
  using State = Stencil<S>;
  template <int D, int K, bool>
  using Profile = Hermite4Profile<D, K + 1>;
  MECH_HOST_DEVICE static bool central(const Sizes&) { return false; }

  template <bool Derivatives, int FD, int FK, class S, class Visitor>
  MECH_HOST_DEVICE MECH_FORCE_INLINE static void rows(const Sizes& z, const SystemInputs<S>& in, int t,
                                                      State<S>& stencil, Row<S>& row, Visitor&& visit) {
    rows_at<Derivatives, FD, FK>(z, in, t, stencil, row, visit);
  }

  template <class S>
  MECH_HOST_DEVICE static void zero_gradients(const Sizes& z, const SystemGradients<S>& out) {
    hermite4::zero_gradients(z, out);
  }

  template <int FD, int FK, class S>
  MECH_HOST_DEVICE MECH_FORCE_INLINE static void chain(const Sizes& z, const SystemInputs<S>& in, int t,
                                                       const State<S>& stencil, const Row<S>& r, const S* u,
                                                       const S* v, S residual, S av, const SystemGradients<S>& out) {
    row_gradient<FD, FK>(z, in, t, stencil, r, u, v, residual, av, out);
  }
};

}  // namespace mech::neurlp_core::hermite4

namespace mech::neurlp_core {
using hermite4::Hermite4Rows;
}  // namespace mech::neurlp_core
