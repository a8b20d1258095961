// The mathematics of one NeuRLP system, written once for a scalar type S (double, float, or a lane
// pack of several batch elements, solvers/lane_pack.h), with no allocation, exceptions or virtual
// calls, so that the CPU batch driver, the dense reference and a CUDA kernel (one thread per
// system) all run this same code. Inputs, outputs and workspace are raw arrays the caller owns.
//
// ---- The problem (DESIGN.md section 3) -------------------------------------------------------
// Unknowns y = (eps, u), u[t][d][k] for t < T, d < D, k < K = P+1, stored time-major: the column of
// u[t][d][k] is t*m + d*K + k with m = D*K (one "time block"). Every constraint row touches at most
// three consecutive time blocks plus eps. The least-squares problem min |A y - b|^2 with the
// relaxation term gives the normal equations
//     M y = A^T b + gamma*alpha*e_0,   M = A^T A = [[a, w^T], [w, M_uu]].
// M is never formed densely: rows (Row below) are generated on the fly, time-ordered, and their
// outer products are added into an *envelope* (skyline) store of M_uu: row i of M_uu is kept from
// its first structurally non-zero column first[i] to the diagonal. The envelope of a time-ordered
// band is O(T m^2); Cholesky fill stays inside the envelope, so L is stored in place.
//
// ---- The solve -------------------------------------------------------------------------------
// Envelope Cholesky M_uu = L L^T, row by row:
//     L[i][j] = (M[i][j] - sum_{k=max(first i, first j)}^{j-1} L[i][k] L[j][k]) / L[j][j]
//     L[i][i] = sqrt(M[i][i] - sum_k L[i][k]^2)   (the pivot must be > tol * M[i][i], else singular)
// Border elimination of eps (mnn only): with p = L^{-1} g_u, q = L^{-1} w (forward substitutions),
//     w.z1 = p.q,  w.z2 = q.q   where z1 = M_uu^{-1} g_u, z2 = M_uu^{-1} w,
//     eps = (g_0 + gamma*alpha - p.q) / (a - q.q),    u = z1 - eps z2 = L^{-T} (p - eps q),
// so one back substitution gives u, and z2 itself is never formed.
// The Schur complement a - q.q is a pivot too and is checked the same way. Cost O(T m^3) time and
// O(T m^2) memory per system; the factors (L, 1/diag(L), q, a - q.q) are what backward reuses.
// Order of work (forward_system): one sweep over time assembles the rows owned by time t, after
// which block t-1 of M, g and w is final (rows of time t touch blocks t-1..t+1 only), so block
// t-1 is factored and forward-substituted at once, while it is in cache; then one reverse sweep
// back-substitutes p - eps q.
//
// ---- The backward (implicit differentiation) -------------------------------------------------
// y = M^{-1}(A^T b + c e_0) with L(y) given through ybar = dL/dy. Let v = M^{-1} ybar (the same
// factors; border: with z3 = M_uu^{-1} ubar and r = L^{-1} ubar, v_eps = (ebar - w.z3) / (a - q.q)
// where w.z3 = q.r, and v_u = z3 - v_eps z2 = L^{-T} (r - v_eps q)). Differentiating
// M y = A^T b + c e_0:
//     dL/db = A v,     dL/dM = -v y^T,   and with M = A^T A, d(A^T b)/dA:
//     dL/dA[r][c] = (b - A y)[r] v[c] - (A v)[r] y[c]
// evaluated only at structural non-zeros, one row at a time (each row recomputes its residual
// (b - A y)[r] and (A v)[r]). Order of work (backward_system): a forward substitution of ubar,
// v_eps, then one reverse sweep that back-substitutes block t and immediately runs the gradient
// rows of time t+1, whose blocks t..t+2 are then final. Then the chain rule to the inputs, row
// group by row group:
//   equation row (e,t), weight w_e: value = w_e c[e][t][d][k], rhs = w_e r[e][t]
//       dL/dc[e][t][d][k] = w_e dL/dA[r][(t,d,k)],  dL/dr[e][t] = w_e (A v)[r]
//   initial row (s,d,i), weight w_i: dL/dv[s][d][i] = w_i (A v)[r]
//   smoothness rows (Taylor, central): each value is a function of one step parameter (h, or
//       s = h[t-1] + h[t] for central rows, ds/dh = 1 for both steps), so
//       dL/dh[step] += sum_c dL/dA[r][c] * d value_c / d parameter; the eps entry is the constant 1.
//
// ---- Formulations ----------------------------------------------------------------------------
// Mnn (the paper's): eps column, forward/backward Taylor and central rows, unit weights.
// Scalable: no eps, no central rows; equation / initial / smoothness rows multiplied by their
// weights (so the least-squares objective weighs each group by weight^2).
// Hermite4 (DESIGN.md 3b) keeps Formulation::Hermite4 here; its rows live in
// solvers/hermite4_system.h on this file's envelope factorisation and substitutions (nothing
// below the row generator depends on which rows exist).
#pragma once

#include <cstdint>

#include "solvers/lane_pack.h"

namespace mech::neurlp_core {

enum class Formulation : int { Mnn = 0, Scalable = 1, Hermite4 = 2 /* reserved, not implemented */ };

constexpr int kMaxOrder = 8;            // P <= 8
constexpr int kMaxRowEntries = 64;      // D*K <= 64 (an equation row touches a whole time block)

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
  MECH_HOST_DEVICE int block() const { return D * K; }
  MECH_HOST_DEVICE int unknowns() const { return T * D * K; }
  MECH_HOST_DEVICE bool has_eps() const { return formulation == Formulation::Mnn; }
  MECH_HOST_DEVICE bool has_central() const { return formulation == Formulation::Mnn; }
  MECH_HOST_DEVICE double weight_equation() const { return has_eps() ? 1.0 : equation_weight; }
  MECH_HOST_DEVICE double weight_initial() const { return has_eps() ? 1.0 : initial_weight; }
  MECH_HOST_DEVICE double weight_smooth() const { return has_eps() ? 1.0 : smooth_weight; }
};

// One system's inputs, contiguous: coeffs (E,T,D,K), rhs (E,T), iv (S,D,n_iv), steps (T-1,D).
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

enum class RowKind : int { Equation = 0, Initial = 1, Smooth = 2 };

// One row of A: entries at ascending columns, its right-hand side, its eps coefficient and what
// its values depend on (for the chain rule in backward).
template <class S>
struct Row {
  using Real = lane_real_t<S>;
  RowKind kind;
  int index;            // Equation: e*T + t (into rhs; coeffs at index*m); Initial: flat iv index
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

// The envelope of M_uu: row i holds columns first[i]..i at env[offset[i] - first[i] + j].
struct Envelope {
  const int* first;
  const std::int64_t* offset;   // start of row i in the store
  std::int64_t size;            // total stored entries
};

// Why a factorisation failed. `index` is the unknown (column of u) whose pivot failed, or -1 for
// the eps border; `lane` the lane of a pack; pivot/diagonal the failing values.
enum class Status : int { Ok = 0, PivotNotPositive = 1, PivotTiny = 2, BorderNotPositive = 3 };

struct FactorStatus {
  Status status = Status::Ok;
  int index = -1;
  int lane = -1;
  double pivot = 0.0;
  double diagonal = 0.0;
};

// Relative pivot tolerance: a pivot below tol * (its original diagonal) means the row is
// (numerically) a combination of earlier rows, i.e. M_uu is singular to working precision.
template <class Real>
MECH_HOST_DEVICE constexpr Real pivot_tolerance() {
  return sizeof(Real) == 8 ? Real(64) * Real(2.220446049250313e-16) : Real(64) * Real(1.1920929e-7);
}

// ---- rows ------------------------------------------------------------------------------------

// Integer power, negative exponents allowed (central rows of order 1 use s^-1).
template <class S>
MECH_HOST_DEVICE inline S int_power(S x, int exponent) {
  S out = splat<S>(1);
  const int magnitude = exponent < 0 ? -exponent : exponent;
  for (int i = 0; i < magnitude; ++i) out = out * x;
  if (exponent < 0) out = splat<S>(1) / out;
  return out;
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
        row.kind = RowKind::Smooth;
        row.index = -1;
        row.eps_coef = eps_coef;
        row.weight = smooth;
        row.step_count = 1;
        row.step_index[0] = t * D + d;
        row.rhs = S{};
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
        row.kind = RowKind::Smooth;
        row.index = -1;
        row.eps_coef = eps_coef;
        row.weight = smooth;
        row.step_count = 1;
        row.step_index[0] = (t - 1) * D + d;
        row.rhs = S{};
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

// ---- envelope structure ----------------------------------------------------------------------

// first[i] = the smallest column any row couples with unknown i (and i itself). Structural: the
// caller runs it once per shape with any finite inputs (e.g. all ones) and S = double.
template <class S>
MECH_HOST_DEVICE void envelope_first_columns(const Sizes& z, const SystemInputs<S>& in, Row<S>& row,
                                             int* first) {
  const int n = z.unknowns();
  for (int i = 0; i < n; ++i) first[i] = i;
  for (int t = 0; t < z.T; ++t) {
    rows_at(z, in, t, row, [&](const Row<S>& r) {
      const int lowest = r.col[0];
      for (int p = 1; p < r.count; ++p)
        if (first[r.col[p]] > lowest) first[r.col[p]] = lowest;
    });
  }
}

// offset[i] from first[]; returns the total size.
MECH_HOST_DEVICE inline std::int64_t envelope_offsets(int n, const int* first, std::int64_t* offset) {
  std::int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    offset[i] = total;
    total += i - first[i] + 1;
  }
  return total;
}

// ---- assembly --------------------------------------------------------------------------------

// Fills env (M_uu), g (= (A^T b)_u, length n), w (= column eps of M, length n) and a = M[0][0].
// (A^T b)_0 is zero: the rows with an eps entry have zero right-hand side.
// `complete(begin, end)` is called as soon as rows [begin, end) of M, g and w are final (rows owned
// by time t touch blocks t-1..t+1, so block t-1 is final after time t), which lets the caller
// factor them while they are still in cache; it returns false to stop early.
struct NoCompletion {
  MECH_HOST_DEVICE bool operator()(int, int) const { return true; }
};

template <int FD = 0, int FK = 0, class S, class Complete = NoCompletion>
MECH_HOST_DEVICE void assemble(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                               Row<S>& row, S* env, S* g, S* w, S* a, Complete&& complete = Complete{}) {
  const int n = z.unknowns();
  const int m = (FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K);
  const bool border = z.has_eps();
  lane_real_t<S> a_sum = 0;
  // Rows owned by time t touch unknowns below (t+2)*m only, so each block's part of M, g and w is
  // zeroed just before its first use: one pass over the store instead of a separate clearing pass.
  int zeroed = 0;
  for (int t = 0; t < z.T; ++t) {
    const int limit = (t + 2) * m < n ? (t + 2) * m : n;
    if (zeroed < limit) {
      const std::int64_t end = limit < n ? envelope.offset[limit] : envelope.size;
      for (std::int64_t i = envelope.offset[zeroed]; i < end; ++i) env[i] = S{};
      for (int i = zeroed; i < limit; ++i) g[i] = S{};
      if (border)
        for (int i = zeroed; i < limit; ++i) w[i] = S{};
      zeroed = limit;
    }
#if defined(__CUDA_ARCH__)
    Row<S>& local_row = row;
#else
    Row<S> local_row;   // a local row lets the compiler keep the inlined rows' fields in registers
    (void)row;          // (measured 8% of the forward); the GPU keeps its per-thread row
#endif
    // Rows owned by time t touch blocks t-1 .. t+1 only: with fixed sizes their row pointers
    // into the store are looked up once per time instead of once per entry.
    constexpr int kWindow = FD > 0 && FK > 0 ? 3 * FD * FK : 1;
    S* window[kWindow];
    const int window_start = (t - 1) * m;
    if constexpr (FD > 0 && FK > 0) {
      MECH_UNROLL
      for (int x = 0; x < kWindow; ++x) {
        const int i = window_start + x;
        window[x] = i >= 0 && i < n ? env + (envelope.offset[i] - envelope.first[i]) : nullptr;
      }
    }
    rows_at<false, FD, FK>(z, in, t, local_row, [&](const Row<S>& r) {
      const int count = r.count;
      const S* value = r.value;
      const int* col = r.col;
      for (int p = 0; p < count; ++p) {
        const int ci = col[p];
        const S vp = value[p];
        S* env_row;
        if constexpr (FD > 0 && FK > 0) env_row = window[ci - window_start];
        else env_row = env + (envelope.offset[ci] - envelope.first[ci]);
        for (int q = 0; q <= p; ++q) env_row[col[q]] += vp * value[q];
      }
      if (r.kind != RowKind::Smooth) {
        const S rhs = r.rhs;
        for (int p = 0; p < count; ++p) g[col[p]] += value[p] * rhs;
      } else if (border && r.eps_coef != 0) {
        for (int p = 0; p < count; ++p) w[col[p]] += value[p] * r.eps_coef;
        a_sum += r.eps_coef * r.eps_coef;
      }
    });
    if (t >= 1 && !complete((t - 1) * m, t * m)) return;
  }
  *a = splat<S>(a_sum);
  complete((z.T - 1) * m, n);
}

// ---- factorisation and substitution ----------------------------------------------------------

// In-place envelope Cholesky of rows [begin, end) of env (rows before begin already factored);
// inverse_diagonal[i] = 1 / L[i][i].
template <class S>
MECH_HOST_DEVICE FactorStatus factor_rows(int begin, int end, const Envelope& envelope, S* env,
                                          S* inverse_diagonal) {
  using Real = lane_real_t<S>;
  const Real tolerance = pivot_tolerance<Real>();
  for (int i = begin; i < end; ++i) {
    const int fi = envelope.first[i];
    S* row_i = env + (envelope.offset[i] - fi);   // row_i[j] = L[i][j]
    for (int j = fi; j < i; ++j) {
      const int fj = envelope.first[j];
      const S* row_j = env + (envelope.offset[j] - fj);
      S sum = row_i[j];
      for (int k = fi > fj ? fi : fj; k < j; ++k) sum -= row_i[k] * row_j[k];
      row_i[j] = sum * inverse_diagonal[j];
    }
    const S diagonal = row_i[i];
    S pivot = diagonal;
    for (int k = fi; k < i; ++k) pivot -= row_i[k] * row_i[k];
    const int lane = first_failing_lane(pivot, diagonal * tolerance);
    if (lane >= 0) {
      FactorStatus status;
      status.pivot = static_cast<double>(lane_get(pivot, lane));
      status.diagonal = static_cast<double>(lane_get(diagonal, lane));
      status.status = status.pivot > 0 ? Status::PivotTiny : Status::PivotNotPositive;
      status.index = i;
      status.lane = lane;
      return status;
    }
    const S root = lane_sqrt(pivot);
    row_i[i] = root;
    inverse_diagonal[i] = splat<S>(1) / root;
  }
  return FactorStatus{};
}

template <class S>
MECH_HOST_DEVICE FactorStatus factor(int n, const Envelope& envelope, S* env, S* inverse_diagonal) {
  return factor_rows(0, n, envelope, env, inverse_diagonal);
}

// x <- L^{-1} x (forward substitution); with y, the same for y in the same sweep (sharing the
// loads of L).
template <class S>
MECH_HOST_DEVICE void forward_substitute_rows(int begin, int end, const Envelope& envelope, const S* env,
                                              const S* inverse_diagonal, S* x, S* y = nullptr) {
  for (int i = begin; i < end; ++i) {
    const int fi = envelope.first[i];
    const S* row_i = env + (envelope.offset[i] - fi);
    if (y) {
      S sum_x = x[i], sum_y = y[i];
      for (int k = fi; k < i; ++k) {
        sum_x -= row_i[k] * x[k];
        sum_y -= row_i[k] * y[k];
      }
      x[i] = sum_x * inverse_diagonal[i];
      y[i] = sum_y * inverse_diagonal[i];
    } else {
      S sum = x[i];
      for (int k = fi; k < i; ++k) sum -= row_i[k] * x[k];
      x[i] = sum * inverse_diagonal[i];
    }
  }
}

template <class S>
MECH_HOST_DEVICE void forward_substitute(int n, const Envelope& envelope, const S* env,
                                         const S* inverse_diagonal, S* x, S* y = nullptr) {
  forward_substitute_rows(0, n, envelope, env, inverse_diagonal, x, y);
}

// x <- L^{-T} x (back substitution, column oriented so that it walks the rows of L); y likewise.
// Rows end-1 down to begin of the back substitution (rows above end done already).
template <class S>
MECH_HOST_DEVICE void back_substitute_rows(int begin, int end, const Envelope& envelope, const S* env,
                                           const S* inverse_diagonal, S* x, S* y = nullptr) {
  for (int i = end - 1; i >= begin; --i) {
    const int fi = envelope.first[i];
    const S* row_i = env + (envelope.offset[i] - fi);
    const S xi = x[i] * inverse_diagonal[i];
    x[i] = xi;
    if (y) {
      const S yi = y[i] * inverse_diagonal[i];
      y[i] = yi;
      for (int k = fi; k < i; ++k) {
        x[k] -= row_i[k] * xi;
        y[k] -= row_i[k] * yi;
      }
    } else {
      for (int k = fi; k < i; ++k) x[k] -= row_i[k] * xi;
    }
  }
}

template <class S>
MECH_HOST_DEVICE S dot(int n, const S* x, const S* y) {
  S sum{};
  for (int i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

template <class S>
MECH_HOST_DEVICE void back_substitute(int n, const Envelope& envelope, const S* env,
                                      const S* inverse_diagonal, S* x, S* y = nullptr) {
  back_substitute_rows(0, n, envelope, env, inverse_diagonal, x, y);
}

// ---- interior blocks at compile-time sizes -------------------------------------------------
// Away from the first blocks the envelope is periodic in time. From the rows above, unknown
// (t, d, k) couples back to (t-1, d, 0) (backward Taylor rows) and, in mnn, the central row makes
// (t, d, P-1) couple to (t-2, d, P-1); nothing reaches further. So row r = d*K + k of a block
// t >= 2 has width (columns left of the diagonal)
//     2m       for k = P-1 in mnn,      m + k   otherwise.
// With D, K and the formulation fixed at compile time every loop bound of the factorisation and
// the substitutions of such a block is a constant: the loops unroll into straight-line code with
// constant offsets from one row pointer per row, instead of the runtime-bounded loops above
// (which stay in use for the first blocks and for other sizes). The per-system sweeps check that
// the envelope has these widths before taking this path (interior_shape).
constexpr int kFirstInteriorBlock = 4;   // rows of blocks t-2 .. t must all be interior-shaped

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
// hermite4 has its own, solvers/hermite4_system.h: any type with m, width, first and first_at).
template <class Profile>
MECH_HOST_DEVICE bool interior_profile_matches(int T, const Envelope& envelope) {
  for (int t = kFirstInteriorBlock - 2; t < T; ++t)
    for (int r = 0; r < Profile::m; ++r)
      if (t * Profile::m + r - envelope.first[t * Profile::m + r] != Profile::width(r)) return false;
  return true;
}

// Row pointers of blocks t-2 .. t shifted so that rows[2m + x][c] = L[t*m + x][t*m + c].
template <int M, class S>
MECH_HOST_DEVICE inline void interior_rows(int t, const Envelope& envelope, S* env, S* (&rows)[3 * M]) {
  const int base = t * M;
  MECH_UNROLL
  for (int x = 0; x < 3 * M; ++x) {
    const int i = base - 2 * M + x;
    rows[x] = env + (envelope.offset[i] - envelope.first[i]) + base;
  }
}

// factor_rows for the rows of one interior block t.
template <class Profile, class S>
MECH_HOST_DEVICE FactorStatus factor_interior_block(int t, const Envelope& envelope, S* env, S* inverse_diagonal) {
  using Real = lane_real_t<S>;
  constexpr int m = Profile::m;
  S* rows[3 * m];
  interior_rows<m>(t, envelope, env, rows);
  S* inverse = inverse_diagonal + t * m;   // inverse[x] = 1 / L[t*m + x][t*m + x]
  const Real tolerance = pivot_tolerance<Real>();
  MECH_UNROLL
  for (int r = 0; r < m; ++r) {
    S* row_i = rows[2 * m + r];
    MECH_UNROLL
    for (int j = Profile::first(r); j < r; ++j) {
      const S* row_j = rows[2 * m + j];
      const int start = Profile::first(r) > Profile::first_at(j) ? Profile::first(r) : Profile::first_at(j);
      S sum = row_i[j];
      MECH_UNROLL
      for (int k = start; k < j; ++k) sum -= row_i[k] * row_j[k];
      row_i[j] = sum * inverse[j];
    }
    const S diagonal = row_i[r];
    S pivot = diagonal;
    MECH_UNROLL
    for (int k = Profile::first(r); k < r; ++k) pivot -= row_i[k] * row_i[k];
    const int lane = first_failing_lane(pivot, diagonal * tolerance);
    if (lane >= 0) {
      FactorStatus status;
      status.pivot = static_cast<double>(lane_get(pivot, lane));
      status.diagonal = static_cast<double>(lane_get(diagonal, lane));
      status.status = status.pivot > 0 ? Status::PivotTiny : Status::PivotNotPositive;
      status.index = t * m + r;
      status.lane = lane;
      return status;
    }
    const S inverse_root = lane_inverse_sqrt(pivot);   // off the divider (lane_pack.h)
    row_i[r] = pivot * inverse_root;
    inverse[r] = inverse_root;
  }
  return FactorStatus{};
}

// forward_substitute_rows for one interior block t (x, and y when given).
template <class Profile, class S>
MECH_HOST_DEVICE void forward_substitute_interior_block(int t, const Envelope& envelope, const S* env,
                                                        const S* inverse_diagonal, S* x, S* y = nullptr) {
  constexpr int m = Profile::m;
  S* rows[3 * m];
  interior_rows<m>(t, envelope, const_cast<S*>(env), rows);
  const S* inverse = inverse_diagonal + t * m;
  S* xt = x + t * m;
  S* yt = y ? y + t * m : nullptr;
  MECH_UNROLL
  for (int r = 0; r < m; ++r) {
    const S* row_i = rows[2 * m + r];
    S sum_x = xt[r];
    MECH_UNROLL
    for (int k = Profile::first(r); k < r; ++k) sum_x -= row_i[k] * xt[k];
    xt[r] = sum_x * inverse[r];
    if (yt) {
      S sum_y = yt[r];
      MECH_UNROLL
      for (int k = Profile::first(r); k < r; ++k) sum_y -= row_i[k] * yt[k];
      yt[r] = sum_y * inverse[r];
    }
  }
}

// back_substitute_rows for one interior block t (rows of later blocks done already).
template <class Profile, class S>
MECH_HOST_DEVICE void back_substitute_interior_block(int t, const Envelope& envelope, const S* env,
                                                     const S* inverse_diagonal, S* x, S* y = nullptr) {
  constexpr int m = Profile::m;
  S* rows[3 * m];
  interior_rows<m>(t, envelope, const_cast<S*>(env), rows);
  const S* inverse = inverse_diagonal + t * m;
  S* xt = x + t * m;
  S* yt = y ? y + t * m : nullptr;
  MECH_UNROLL
  for (int r = m - 1; r >= 0; --r) {
    const S* row_i = rows[2 * m + r];
    const S xi = xt[r] * inverse[r];
    xt[r] = xi;
    MECH_UNROLL
    for (int k = Profile::first(r); k < r; ++k) xt[k] -= row_i[k] * xi;
    if (yt) {
      const S yi = yt[r] * inverse[r];
      yt[r] = yi;
      MECH_UNROLL
      for (int k = Profile::first(r); k < r; ++k) yt[k] -= row_i[k] * yi;
    }
  }
}

// Whether blocks from kFirstInteriorBlock on can take the fixed-size code (FD, FK > 0 and the
// envelope has the interior widths; O(n) integer compares, once per call).
template <int FD, int FK>
MECH_HOST_DEVICE bool interior_shape(const Sizes& z, const Envelope& envelope) {
  if constexpr (FD > 0 && FK > 0) {
    return z.has_central() ? interior_profile_matches<InteriorProfile<FD, FK, true>>(z.T, envelope)
                           : interior_profile_matches<InteriorProfile<FD, FK, false>>(z.T, envelope);
  } else {
    return false;
  }
}

// Block-wise entry points used by the per-system sweeps below: with FD, FK > 0 and an interior-
// shaped envelope (`interior` true) blocks from kFirstInteriorBlock on take the fixed-size code,
// everything else the runtime-bounded rows. `begin`, `end` cover whole blocks [t0*m, t1*m).
template <int FD, int FK, class S>
MECH_HOST_DEVICE FactorStatus factor_blocks(const Sizes& z, bool interior, int begin, int end,
                                            const Envelope& envelope, S* env, S* inverse_diagonal) {
  if constexpr (FD > 0 && FK > 0) {
    constexpr int m = FD * FK;
    if (interior && begin >= kFirstInteriorBlock * m) {
      for (int t = begin / m; t < end / m; ++t) {
        const FactorStatus status =
            z.has_central() ? factor_interior_block<InteriorProfile<FD, FK, true>>(t, envelope, env, inverse_diagonal)
                            : factor_interior_block<InteriorProfile<FD, FK, false>>(t, envelope, env, inverse_diagonal);
        if (status.status != Status::Ok) return status;
      }
      return FactorStatus{};
    }
  }
  return factor_rows(begin, end, envelope, env, inverse_diagonal);
}

template <int FD, int FK, class S>
MECH_HOST_DEVICE void forward_substitute_blocks(const Sizes& z, bool interior, int begin, int end,
                                                const Envelope& envelope, const S* env,
                                                const S* inverse_diagonal, S* x, S* y = nullptr) {
  if constexpr (FD > 0 && FK > 0) {
    constexpr int m = FD * FK;
    if (interior) {
      const int split = begin > kFirstInteriorBlock * m ? begin : (end < kFirstInteriorBlock * m ? end : kFirstInteriorBlock * m);
      forward_substitute_rows(begin, split, envelope, env, inverse_diagonal, x, y);
      for (int t = split / m; t < end / m; ++t) {
        if (z.has_central())
          forward_substitute_interior_block<InteriorProfile<FD, FK, true>>(t, envelope, env, inverse_diagonal, x, y);
        else forward_substitute_interior_block<InteriorProfile<FD, FK, false>>(t, envelope, env, inverse_diagonal, x, y);
      }
      return;
    }
  }
  forward_substitute_rows(begin, end, envelope, env, inverse_diagonal, x, y);
}

template <int FD, int FK, class S>
MECH_HOST_DEVICE void back_substitute_blocks(const Sizes& z, bool interior, int begin, int end,
                                             const Envelope& envelope, const S* env,
                                             const S* inverse_diagonal, S* x, S* y = nullptr) {
  if constexpr (FD > 0 && FK > 0) {
    constexpr int m = FD * FK;
    if (interior) {
      const int split = begin > kFirstInteriorBlock * m ? begin : (end < kFirstInteriorBlock * m ? end : kFirstInteriorBlock * m);
      for (int t = end / m - 1; t >= split / m; --t) {
        if (z.has_central())
          back_substitute_interior_block<InteriorProfile<FD, FK, true>>(t, envelope, env, inverse_diagonal, x, y);
        else back_substitute_interior_block<InteriorProfile<FD, FK, false>>(t, envelope, env, inverse_diagonal, x, y);
      }
      back_substitute_rows(begin, split, envelope, env, inverse_diagonal, x, y);
      return;
    }
  }
  back_substitute_rows(begin, end, envelope, env, inverse_diagonal, x, y);
}

// ---- one system, forward ---------------------------------------------------------------------

// What backward (and a re-solve with new rhs / initial values) needs from a forward.
template <class S>
struct Factors {
  S* env;                // L, envelope.size
  S* inverse_diagonal;   // n
  S* q;                  // L^{-1} w, n (mnn only): the eps column, forward-substituted
  S* schur;              // a - q.q = a - w^T M_uu^{-1} w, 1 (mnn only)
};

// The eps border's pivot, schur = a - q.q, checked like the others against its diagonal a.
template <class S>
MECH_HOST_DEVICE FactorStatus check_border(const S& schur, const S& a) {
  FactorStatus status;
  const int lane = first_failing_lane(schur, a * pivot_tolerance<lane_real_t<S>>());
  if (lane >= 0) {
    status.status = Status::BorderNotPositive;
    status.index = -1;
    status.lane = lane;
    status.pivot = static_cast<double>(lane_get(schur, lane));
    status.diagonal = static_cast<double>(lane_get(a, lane));
  }
  return status;
}

// Forward solve with factors computed earlier (same coefficients and steps): u holds g = (A^T b)_u
// on entry and u on exit: p = L^{-1} g, eps from p.q, u = L^{-T} (p - eps q).
template <class S>
MECH_HOST_DEVICE void solve_with_factors(const Sizes& z, const Envelope& envelope,
                                         const Factors<S>& factors, S* u, S* eps) {
  const int n = z.unknowns();
  forward_substitute(n, envelope, factors.env, factors.inverse_diagonal, u);
  S e{};
  if (z.has_eps()) {
    e = (splat<S>(lane_real_t<S>(z.gamma_alpha)) - dot(n, u, factors.q)) / *factors.schur;
    for (int i = 0; i < n; ++i) u[i] -= e * factors.q[i];
  }
  back_substitute(n, envelope, factors.env, factors.inverse_diagonal, u);
  *eps = e;
}

// Assemble, factor and solve one system. `u` (n) receives u; `factors` receives L, q and the
// Schur complement (factors.q holds w until it is forward-substituted).
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE FactorStatus forward_system(const Sizes& z, const Envelope& envelope,
                                             const SystemInputs<S>& in, Row<S>& row,
                                             const Factors<S>& factors, S* u, S* eps) {
  using Real = lane_real_t<S>;
  const int n = z.unknowns();
  S a{};
  // One sweep over time: assemble, and factor and forward-substitute each block as soon as it is
  // final, while it is in cache. u first holds g then p = L^{-1} g; q holds w then L^{-1} w.
  S* q = z.has_eps() ? factors.q : nullptr;
  FactorStatus status;
  const bool interior = interior_shape<FD, FK>(z, envelope);
  assemble<FD, FK>(z, envelope, in, row, factors.env, u, q, &a, [&](int begin, int end) {
    status = factor_blocks<FD, FK>(z, interior, begin, end, envelope, factors.env, factors.inverse_diagonal);
    if (status.status != Status::Ok) return false;
    forward_substitute_blocks<FD, FK>(z, interior, begin, end, envelope, factors.env, factors.inverse_diagonal, u, q);
    return true;
  });
  if (status.status != Status::Ok) return status;
  S e{};
  if (z.has_eps()) {
    const S pq = dot(n, u, q);
    const S qq = dot(n, q, q);
    const S schur = a - qq;
    status = check_border(schur, a);
    if (status.status != Status::Ok) return status;
    *factors.schur = schur;
    e = (splat<S>(Real(z.gamma_alpha)) - pq) / schur;
  }
  // u = z1 - eps z2 = L^{-T} (p - eps q): one back substitution. The right-hand side enters the
  // column-oriented back substitution additively, so - eps q is applied block by block just
  // before each block is reached, while it is in cache.
  const int m = (FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K);
  for (int t = z.T - 1; t >= 0; --t) {
    if (z.has_eps())
      for (int i = t * m; i < (t + 1) * m; ++i) u[i] -= e * q[i];
    back_substitute_blocks<FD, FK>(z, interior, t * m, (t + 1) * m, envelope, factors.env, factors.inverse_diagonal, u);
  }
  *eps = e;
  return status;
}

// Right-hand side g = (A^T b)_u alone (for a re-solve with new rhs / initial values).
template <class S>
MECH_HOST_DEVICE void assemble_rhs(const Sizes& z, const SystemInputs<S>& in, Row<S>& row, S* g) {
  const int n = z.unknowns();
  for (int i = 0; i < n; ++i) g[i] = S{};
  for (int t = 0; t < z.T; ++t) {
    rows_at<false>(z, in, t, row, [&](const Row<S>& r) {
      if (r.kind == RowKind::Smooth) return;
      for (int p = 0; p < r.count; ++p) g[r.col[p]] += r.value[p] * r.rhs;
    });
  }
}

// ---- one system, backward --------------------------------------------------------------------

// The gradient rows owned by time t (blocks t-1..t+1 of u and v must be final): dL/dA at each
// structural non-zero, chained to the inputs (see the header comment).
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void gradient_rows_at(const Sizes& z, const SystemInputs<S>& in, int t, Row<S>& row,
                                       const S* u, S eps, const S* v, S v_eps,
                                       const SystemGradients<S>& out) {
  const int m = (FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K);
#if defined(__CUDA_ARCH__)
  Row<S>& local_row = row;
#else
  Row<S> local_row;   // as in assemble (measured 15% of the backward)
  (void)row;
#endif
  rows_at<true, FD, FK>(z, in, t, local_row, [&](const Row<S>& r) {
    const int count = r.count;
    S ay = eps * r.eps_coef;
    S av = v_eps * r.eps_coef;
    for (int p = 0; p < count; ++p) {
      ay += r.value[p] * u[r.col[p]];
      av += r.value[p] * v[r.col[p]];
    }
    const S residual = r.rhs - ay;
    switch (r.kind) {
      case RowKind::Equation: {
        if (out.rhs) out.rhs[r.index] = av * r.weight;
        if (out.coeffs) {
          S* dc = out.coeffs + static_cast<std::int64_t>(r.index) * m;
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
    }
  });
}


// Gradients of L(u, eps) given ubar = dL/du (n) and ebar = dL/deps. `v` is scratch of n.
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void backward_system(const Sizes& z, const Envelope& envelope,
                                      const SystemInputs<S>& in, Row<S>& row,
                                      const Factors<S>& factors, const S* u, S eps,
                                      const S* ubar, S ebar, S* v, const SystemGradients<S>& out) {
  const int n = z.unknowns();
  const int m = (FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K);
  for (int i = 0; i < n; ++i) v[i] = ubar[i];
  // r = L^{-1} ubar; v_eps = (ebar - w.z3) / schur with w.z3 = q.r; v = L^{-T} (r - v_eps q). The
  // back substitution runs as one reverse sweep with the gradient rows of time t+1 (blocks
  // t..t+2, final by then) right behind it, while those blocks are still in cache.
  const bool interior = interior_shape<FD, FK>(z, envelope);
  forward_substitute_blocks<FD, FK>(z, interior, 0, n, envelope, factors.env, factors.inverse_diagonal, v);
  S v_eps{};
  if (z.has_eps()) {
    v_eps = (ebar - dot(n, factors.q, v)) / *factors.schur;
  } else {
    eps = S{};
  }
  if (out.steps)
    for (int i = 0; i < (z.T - 1) * z.D; ++i) out.steps[i] = S{};
  for (int t = z.T - 1; t >= 0; --t) {
    if (z.has_eps())
      for (int i = t * m; i < (t + 1) * m; ++i) v[i] -= v_eps * factors.q[i];
    back_substitute_blocks<FD, FK>(z, interior, t * m, (t + 1) * m, envelope, factors.env, factors.inverse_diagonal, v);
    if (t + 1 < z.T) gradient_rows_at<FD, FK>(z, in, t + 1, row, u, eps, v, v_eps, out);
  }
  gradient_rows_at<FD, FK>(z, in, 0, row, u, eps, v, v_eps, out);
}

// Forward and backward of one system in two sweeps over L (for when the upstream gradient is known
// up front: mech-solve --grad-u, the fused benchmark, the op without kept factors). The forward
// sweep forward-substitutes g, w and ubar (p, q, r); then eps = (gamma*alpha - p.q) / schur and
// v_eps = (ebar - q.r) / schur, and u = L^{-T} (p - eps q), v = L^{-T} (r - v_eps q) are
// back-substituted together in one reverse sweep with the gradient rows behind it.
// `v` holds ubar on entry (it is overwritten).
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE FactorStatus forward_backward_system(const Sizes& z, const Envelope& envelope,
                                                      const SystemInputs<S>& in, Row<S>& row,
                                                      const Factors<S>& factors, S* u, S* eps, S* v, S ebar,
                                                      const SystemGradients<S>& out) {
  using Real = lane_real_t<S>;
  const int n = z.unknowns();
  const int m = (FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K);
  S a{};
  S* q = z.has_eps() ? factors.q : nullptr;
  FactorStatus status;
  const bool interior = interior_shape<FD, FK>(z, envelope);
  assemble<FD, FK>(z, envelope, in, row, factors.env, u, q, &a, [&](int begin, int end) {
    status = factor_blocks<FD, FK>(z, interior, begin, end, envelope, factors.env, factors.inverse_diagonal);
    if (status.status != Status::Ok) return false;
    forward_substitute_blocks<FD, FK>(z, interior, begin, end, envelope, factors.env, factors.inverse_diagonal, u, q);
    forward_substitute_blocks<FD, FK>(z, interior, begin, end, envelope, factors.env, factors.inverse_diagonal, v);
    return true;
  });
  if (status.status != Status::Ok) return status;
  S e{}, v_eps{};
  if (z.has_eps()) {
    const S pq = dot(n, u, q);
    const S qq = dot(n, q, q);
    const S qr = dot(n, q, v);
    const S schur = a - qq;
    status = check_border(schur, a);
    if (status.status != Status::Ok) return status;
    *factors.schur = schur;
    e = (splat<S>(Real(z.gamma_alpha)) - pq) / schur;
    v_eps = (ebar - qr) / schur;
  }
  *eps = e;
  if (out.steps)
    for (int i = 0; i < (z.T - 1) * z.D; ++i) out.steps[i] = S{};
  for (int t = z.T - 1; t >= 0; --t) {
    if (z.has_eps()) {
      for (int i = t * m; i < (t + 1) * m; ++i) {
        u[i] -= e * q[i];
        v[i] -= v_eps * q[i];
      }
    }
    back_substitute_blocks<FD, FK>(z, interior, t * m, (t + 1) * m, envelope, factors.env, factors.inverse_diagonal, u, v);
    if (t + 1 < z.T) gradient_rows_at<FD, FK>(z, in, t + 1, row, u, e, v, v_eps, out);
  }
  gradient_rows_at<FD, FK>(z, in, 0, row, u, e, v, v_eps, out);
  return status;
}

}  // namespace mech::neurlp_core
