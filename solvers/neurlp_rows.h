// The rows of a NeuRLP system, and the vocabulary every formulation shares: the sizes of one
// system, its inputs and input gradients as raw arrays, and one row of A (its columns, values, right-
// hand side and what the values depend on). Below that vocabulary: the Taylor rows, which the mnn
// and scalable formulations are built from (solvers/README.md, "The rows"), as a row policy
// (TaylorRows) for the sweeps of solvers/neurlp_sweeps.h; hermite4's policy is
// solvers/hermite4_rows.h. Written once for a scalar or lane pack S (solvers/lane_pack.h), with no
// allocation, exceptions or virtual calls, so that a CUDA kernel (one thread per system) runs it too.
//
// Unknowns u[t][d][j], j < W (W = K for mnn and scalable, K + 1 for hermite4's latent derivative),
// stored time-major: column t*m + d*W + j with m = D*W (one "time block"), plus eps (mnn).
#pragma once

#include <cstdint>

#include "solvers/lane_pack.h"
#include "solvers/neurlp_formulation.h"

namespace mech::neurlp_core {

constexpr int kMaxOrder = 8;            // P <= 8
constexpr int kMaxRowEntries = 64;      // D*W <= 64 (an equation row touches a whole time block)

// Sizes and scalars of one system (identical for every system of a batch).
struct Sizes {
  int T = 0;      // grid points
  int D = 1;      // state dimensions
  int K = 3;      // order + 1
  int E = 1;      // equations
  int S = 0;      // grid points with initial values
  int n_iv = 0;   // derivatives given at each initial point (< K)
  Formulation formulation = Formulation::Mnn;
  double gamma_alpha = 0.05;
  double equation_weight = 1.0, initial_weight = 1.0, smooth_weight = 1.0;

  MECH_HOST_DEVICE int order() const { return K - 1; }
  // Unknowns per dimension and time: u, u', ..., u^(P), and hermite4's latent u^(P+1).
  MECH_HOST_DEVICE int width() const { return formulation == Formulation::Hermite4 ? K + 1 : K; }
  MECH_HOST_DEVICE int block() const { return D * width(); }
  MECH_HOST_DEVICE int unknowns() const { return T * D * width(); }
  // Entries of the solution u (T,D,K) the solvers return per system (the latent column dropped).
  MECH_HOST_DEVICE int solution_size() const { return T * D * K; }
  MECH_HOST_DEVICE bool has_eps() const { return formulation == Formulation::Mnn; }
  MECH_HOST_DEVICE bool has_central() const { return formulation == Formulation::Mnn; }
  MECH_HOST_DEVICE double weight_equation() const { return has_eps() ? 1.0 : equation_weight; }
  MECH_HOST_DEVICE double weight_initial() const { return has_eps() ? 1.0 : initial_weight; }
  MECH_HOST_DEVICE double weight_smooth() const { return has_eps() ? 1.0 : smooth_weight; }
};

template <class S>
struct SystemInputs {
  const S* coeffs;
  const S* rhs;
  const S* iv;
  const S* steps;
};

// One system's input gradients, same layouts; backward_system writes all of them (steps is zeroed
// and accumulated over the rows). Any pointer may be null: that gradient is not computed.
template <class S>
struct SystemGradients {
  S* coeffs;
  S* rhs;
  S* iv;
  S* steps;
};

// Smooth rows (Taylor, central, hermite4's step rows) have a zero right-hand side; the other kinds
// enter g = A^T b. Derived: hermite4's differentiated equation rows.
enum class RowKind : int { Equation = 0, Initial = 1, Smooth = 2, Derived = 3 };

// One row of A: entries at ascending columns, its right-hand side, its eps coefficient and what
// its values depend on (for the chain rule in backward).
template <class S>
struct Row {
  using Real = lane_real_t<S>;
  RowKind kind;
  int index;            // Equation: e*T + t (into rhs; coeffs at index*D*K); Initial: flat iv index
  int count;            // entries used
  Real eps_coef;        // coefficient of eps (1 in mnn smoothness rows, else 0)
  Real weight;          // group weight already applied to value and rhs
  int step_count;       // Smooth: how many steps the row's parameter depends on (1 or 2)
  int step_index[2];    // flat indices t*D + d into steps; d parameter / d step = 1 for each
  S rhs;
  int col[kMaxRowEntries];
  S value[kMaxRowEntries];
  S dvalue[kMaxRowEntries];   // d value / d parameter (Smooth rows only)
};


// ---- the Taylor rows (mnn, scalable) ---------------------------------------------------------

// Integer power, negative exponents allowed (central rows of order 1 use s^-1).
template <class S>
MECH_HOST_DEVICE inline S int_power(S x, int exponent) {
  S out = splat<S>(1);
  const int magnitude = exponent < 0 ? -exponent : exponent;
  for (int i = 0; i < magnitude; ++i) out = out * x;
  if (exponent < 0) out = splat<S>(1) / out;
  return out;
}

// The fields a Taylor row (forward or backward) sets before its entries: a smooth row of one step
// with a zero right-hand side.
template <class S>
MECH_HOST_DEVICE MECH_FORCE_INLINE void start_taylor_row(Row<S>& row, lane_real_t<S> eps_coef, lane_real_t<S> weight,
                                                         int step) {
  row.kind = RowKind::Smooth;
  row.index = -1;
  row.eps_coef = eps_coef;
  row.weight = weight;
  row.step_count = 1;
  row.step_index[0] = step;
  row.rhs = S{};
}

// Calls visit(row) for every row "owned" by time t: equation rows at t, initial rows at t, the
// forward Taylor rows from t to t+1, the central row around t and the backward Taylor rows from t
// to t-1. Columns ascend within each row (the assembly relies on it).
// With Derivatives = false the dvalue entries are left unset (assembly does not need them).
// FD, FK > 0 fix D and K at compile time (they must equal z.D, z.K): the loops over dimensions
// and derivatives then unroll, which the batch driver uses for the common small systems.
template <bool Derivatives = true, int FD = 0, int FK = 0, class S, class Visitor>
MECH_HOST_DEVICE MECH_FORCE_INLINE void rows_at(const Sizes& z, const SystemInputs<S>& in, int t, Row<S>& row,
                              Visitor&& visit) {
  using Real = lane_real_t<S>;
  const int D = FD > 0 ? FD : z.D, K = FK > 0 ? FK : z.K, P = K - 1, m = D * K, T = z.T;
  const Real inverse_factorial[kMaxOrder + 2] = {Real(1),       Real(1),         Real(1.0 / 2),
                                                 Real(1.0 / 6), Real(1.0 / 24),  Real(1.0 / 120),
                                                 Real(1.0 / 720), Real(1.0 / 5040), Real(1.0 / 40320),
                                                 Real(1.0 / 362880)};
  // 1. equation rows: sum_{d,k} c[e][t][d][k] u[t][d][k] = r[e][t]
  {
    const Real weight = Real(z.weight_equation());
    for (int e = 0; e < z.E; ++e) {
      row.kind = RowKind::Equation;
      row.index = e * T + t;
      row.count = m;
      row.eps_coef = Real(0);
      row.weight = weight;
      row.step_count = 0;
      const S* c = in.coeffs + static_cast<std::int64_t>(e * T + t) * m;
      for (int p = 0; p < m; ++p) {
        row.col[p] = t * m + p;
        row.value[p] = c[p] * weight;
        if (Derivatives) row.dvalue[p] = S{};
      }
      row.rhs = in.rhs[e * T + t] * weight;
      visit(row);
    }
  }
  // 2. initial rows: u[s][d][i] = v[s][d][i]
  if (t < z.S) {
    const Real weight = Real(z.weight_initial());
    for (int d = 0; d < D; ++d) {
      for (int i = 0; i < z.n_iv; ++i) {
        row.kind = RowKind::Initial;
        row.index = (t * D + d) * z.n_iv + i;
        row.count = 1;
        row.eps_coef = Real(0);
        row.weight = weight;
        row.step_count = 0;
        row.col[0] = t * m + d * K + i;
        row.value[0] = splat<S>(weight);
        if (Derivatives) row.dvalue[0] = S{};
        row.rhs = in.iv[row.index] * weight;
        visit(row);
      }
    }
  }
  const Real smooth = Real(z.weight_smooth());
  const Real eps_coef = z.has_eps() ? Real(1) : Real(0);
  // 3. forward Taylor, h = h[t][d]:
  //    eps + sum_{j=i..P} h^j/(j-i)! u[t][d][j] - h^i u[t+1][d][i] = 0
  if (t + 1 < T) {
    for (int d = 0; d < D; ++d) {
      const S h = in.steps[t * D + d];
      S power[kMaxOrder + 2];   // h^j
      power[0] = splat<S>(1);
      for (int j = 1; j <= P; ++j) power[j] = power[j - 1] * h;
      for (int i = 0; i < P; ++i) {
        start_taylor_row(row, eps_coef, smooth, t * D + d);
        int count = 0;
        for (int j = i; j <= P; ++j) {
          row.col[count] = t * m + d * K + j;
          row.value[count] = power[j] * (inverse_factorial[j - i] * smooth);
          if (Derivatives)
            row.dvalue[count] = j > 0 ? power[j - 1] * (Real(j) * inverse_factorial[j - i] * smooth) : S{};
          ++count;
        }
        row.col[count] = (t + 1) * m + d * K + i;
        row.value[count] = power[i] * (-smooth);
        if (Derivatives) row.dvalue[count] = i > 0 ? power[i - 1] * (-Real(i) * smooth) : S{};
        ++count;
        row.count = count;
        visit(row);
      }
    }
  }
  // 4. central difference of the top derivative, s = h[t-1][d] + h[t][d]:
  //    eps - s^(P-2) u[t-1][d][P-1] + s^(P-2) u[t+1][d][P-1] - s^(P-1) u[t][d][P] = 0
  if (z.has_central() && t >= 1 && t + 1 < T) {
    for (int d = 0; d < D; ++d) {
      const S s = in.steps[(t - 1) * D + d] + in.steps[t * D + d];
      const S low = int_power(s, P - 2);                 // s^(P-2)
      const S high = int_power(s, P - 1);                // s^(P-1)
      const S dlow = Derivatives ? int_power(s, P - 3) * Real(P - 2) : S{};  // d s^(P-2) / ds
      const S dhigh = Derivatives ? int_power(s, P - 2) * Real(P - 1) : S{};
      row.kind = RowKind::Smooth;
      row.index = -1;
      row.eps_coef = eps_coef;
      row.weight = smooth;
      row.step_count = 2;
      row.step_index[0] = (t - 1) * D + d;
      row.step_index[1] = t * D + d;
      row.rhs = S{};
      row.count = 3;
      row.col[0] = (t - 1) * m + d * K + (P - 1);
      row.value[0] = low * (-smooth);
      row.dvalue[0] = dlow * (-smooth);
      row.col[1] = t * m + d * K + P;
      row.value[1] = high * (-smooth);
      row.dvalue[1] = dhigh * (-smooth);
      row.col[2] = (t + 1) * m + d * K + (P - 1);
      row.value[2] = low * smooth;
      row.dvalue[2] = dlow * smooth;
      visit(row);
    }
  }
  // 5. backward Taylor, h = h[t-1][d]:
  //    eps + sum_{j=i..P} (-h)^j/(j-i)! u[t][d][j] - (-h)^i u[t-1][d][i] = 0
  if (t >= 1) {
    for (int d = 0; d < D; ++d) {
      const S minus_h = -in.steps[(t - 1) * D + d];
      S power[kMaxOrder + 2];   // (-h)^j
      power[0] = splat<S>(1);
      for (int j = 1; j <= P; ++j) power[j] = power[j - 1] * minus_h;
      for (int i = 0; i < P; ++i) {
        start_taylor_row(row, eps_coef, smooth, (t - 1) * D + d);
        // d (-h)^j / dh = -j (-h)^(j-1)
        row.col[0] = (t - 1) * m + d * K + i;
        row.value[0] = power[i] * (-smooth);
        if (Derivatives) row.dvalue[0] = i > 0 ? power[i - 1] * (Real(i) * smooth) : S{};
        int count = 1;
        for (int j = i; j <= P; ++j) {
          row.col[count] = t * m + d * K + j;
          row.value[count] = power[j] * (inverse_factorial[j - i] * smooth);
          if (Derivatives)
            row.dvalue[count] = j > 0 ? power[j - 1] * (-Real(j) * inverse_factorial[j - i] * smooth) : S{};
          ++count;
        }
        row.count = count;
        visit(row);
      }
    }
  }
}

// ---- the fixed-size path's view of these rows ----------------------------------------------
// Away from the first blocks the envelope is periodic in time. From the rows above, unknown
// (t, d, k) couples back to (t-1, d, 0) (backward Taylor rows) and, in mnn, the central row makes
// (t, d, P-1) couple to (t-2, d, P-1); nothing reaches further. So row r = d*K + k of a block
// t >= 2 has width (columns left of the diagonal)
//     2m       for k = P-1 in mnn,      m + k   otherwise.
// (The fixed-size code that uses this is solvers/neurlp_fixed_size.h.)
template <int D, int K, bool Central>
struct InteriorProfile {
  static constexpr int m = D * K;
  static constexpr int width(int r) { return (Central && r % K == K - 2) ? 2 * m : m + r % K; }
  // First column of row r of block t, relative to t*m.
  static constexpr int first(int r) { return r - width(r); }
  // First column of the row at position x relative to t*m (x in -2m .. m-1), relative to t*m.
  static constexpr int first_at(int x) {
    return x >= 0 ? first(x) : x >= -m ? first(x + m) - m : first(x + 2 * m) - 2 * m;
  }
};

// True when every block t >= 2 of the envelope has the widths of Profile (InteriorProfile here;

// The Taylor rows as a row policy for the sweeps (neurlp_sweeps.h). What a policy provides:
//   kLatent          unknowns per dimension beyond K (the block is m = D*(K + kLatent))
//   kLookBehind      rows owned by time t touch blocks t - kLookBehind .. t + 1 only, so block
//                    t - kLookBehind is final once they are added
//   State<S>         per-system scratch carried from one time to the next (none here)
//   Profile<D,K,C>   the envelope widths of an interior block (the fixed-size path); C: central rows
//   central(z)       which of the two profiles applies
//   rows<Derivatives, FD, FK>(z, in, t, state, row, visit)   the rows owned by time t
//   zero_gradients(z, out)   what backward must clear before the rows accumulate into it
//   chain<FD, FK>(z, in, t, state, row, u, v, residual, av, out)   one row's chain rule: with
//                    G[c] = residual v[c] - av u[c] = dL/dA[r][c] and av = (A v)[r] = dL/db[r]
//   kStageKeptFactors   for the CPU driver: whether a forward that keeps its factors solves in a
//                    cache-resident staging block and streams it out (measured per formulation)
struct TaylorRows {
  static constexpr int kLatent = 0;
  static constexpr int kLookBehind = 1;
  static constexpr bool kStageKeptFactors = true;
  template <class S>
  struct State {};
  template <int D, int K, bool Central>
  using Profile = InteriorProfile<D, K, Central>;
  MECH_HOST_DEVICE static bool central(const Sizes& z) { return z.has_central(); }

  template <bool Derivatives, int FD, int FK, class S, class Visitor>
  MECH_HOST_DEVICE MECH_FORCE_INLINE static void rows(const Sizes& z, const SystemInputs<S>& in, int t, State<S>&,
                                                      Row<S>& row, Visitor&& visit) {
    rows_at<Derivatives, FD, FK>(z, in, t, row, visit);
  }

  // Equation and initial gradients are written once each (every row owns its own), the steps'
  // are sums over rows.
  template <class S>
  MECH_HOST_DEVICE static void zero_gradients(const Sizes& z, const SystemGradients<S>& out) {
    if (out.steps)
      for (int i = 0; i < (z.T - 1) * z.D; ++i) out.steps[i] = S{};
  }

  // The chain rule of one row to the inputs (solvers/README.md, "The backward").
  template <int FD, int FK, class S>
  MECH_HOST_DEVICE MECH_FORCE_INLINE static void chain(const Sizes& z, const SystemInputs<S>&, int, const State<S>&,
                                                       const Row<S>& r, const S* u, const S* v, S residual, S av,
                                                       const SystemGradients<S>& out) {
    const int count = r.count;
    switch (r.kind) {
      case RowKind::Equation: {
        if (out.rhs) out.rhs[r.index] = av * r.weight;
        if (out.coeffs) {
          S* dc = out.coeffs + static_cast<std::int64_t>(r.index) * ((FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K));
          for (int p = 0; p < count; ++p)
            dc[p] = (residual * v[r.col[p]] - av * u[r.col[p]]) * r.weight;
        }
        break;
      }
      case RowKind::Initial:
        if (out.iv) out.iv[r.index] = av * r.weight;
        break;
      case RowKind::Smooth: {
        if (!out.steps) break;
        S total{};
        for (int p = 0; p < count; ++p)
          total += (residual * v[r.col[p]] - av * u[r.col[p]]) * r.dvalue[p];
        for (int s = 0; s < r.step_count; ++s) out.steps[r.step_index[s]] += total;
        break;
      }
      case RowKind::Derived:
        break;
    }
  }
};

}  // namespace mech::neurlp_core
