// The per-system sweeps of NeuRLP, written once for every formulation: a row policy (TaylorRows
// for mnn and scalable, solvers/neurlp_rows.h; Hermite4Rows, solvers/hermite4_rows.h) supplies the
// rows, and these sweeps assemble the normal equations from them, factor them with the envelope
// Cholesky (solvers/neurlp_cholesky.h, its fixed-size path solvers/neurlp_fixed_size.h), eliminate
// mnn's eps border, solve, and run the implicit-differentiation backward (solvers/README.md, "The
// normal equations and the envelope Cholesky" and "The backward"). Written for a scalar or lane
// pack S with no allocation, exceptions or virtual calls: the CPU lane-batch driver and a CUDA
// kernel (one thread per system) run the same code.
//
// Order of work. The rows owned by time t touch blocks t - B .. t + 1 only (B = the policy's
// kLookBehind: 1 for the Taylor rows, 0 for hermite4's), so block t - B of M, g and w is final once
// they are added: the forward sweep assembles time t, then factors and forward-substitutes block
// t - B at once, while it is in cache; one reverse sweep back-substitutes. The backward forward-
// substitutes ubar, then one reverse sweep back-substitutes block t and runs the gradient rows of
// time t + B, whose blocks are final by then.
//
// Border elimination of eps (mnn only): with p = L^{-1} g, q = L^{-1} w,
//     eps = (gamma*alpha - p.q) / (a - q.q),    u = L^{-T} (p - eps q),
// and in backward, with r = L^{-1} ubar: v_eps = (ebar - q.r) / (a - q.q), v = L^{-T} (r - v_eps q).
#pragma once

#include <cstdint>

#include "solvers/neurlp_cholesky.h"
#include "solvers/neurlp_fixed_size.h"
#include "solvers/neurlp_rows.h"

namespace mech::neurlp_core {

// What backward (and a re-solve with new rhs / initial values) needs from a forward.
template <class S>
struct Factors {
  S* env;                // L, envelope.size
  S* inverse_diagonal;   // n
  S* q;                  // L^{-1} w, n (mnn only): the eps column, forward-substituted
  S* schur;              // a - q.q = a - w^T M_uu^{-1} w, 1 (mnn only)
};

// The default `complete` of assemble: nothing to do as blocks become final.
struct NoCompletion {
  MECH_HOST_DEVICE bool operator()(int, int) const { return true; }
};

// The sweeps of one system with the rows of policy Rows. FD, FK > 0 fix D and K at compile time
// (they must equal z.D, z.K): the row generator unrolls and interior blocks take the fixed-size
// path, which the batch drivers use for the common small systems.
template <class Rows, int FD = 0, int FK = 0>
struct Sweeps {
  MECH_HOST_DEVICE static int block(const Sizes& z) {
    return (FD > 0 ? FD : z.D) * ((FK > 0 ? FK : z.K) + Rows::kLatent);
  }

  // first[i] = the smallest column any row couples with unknown i (and i itself). Structural: the
  // caller runs it once per shape with any finite inputs (e.g. all ones) and S = double.
  template <class S>
  MECH_HOST_DEVICE static void envelope_first_columns(const Sizes& z, const SystemInputs<S>& in, Row<S>& row,
                                                      int* first) {
    const int n = z.unknowns();
    for (int i = 0; i < n; ++i) first[i] = i;
    typename Rows::template State<S> state{};
    for (int t = 0; t < z.T; ++t) {
      Rows::template rows<false, 0, 0>(z, in, t, state, row, [&](const Row<S>& r) {
        const int lowest = r.col[0];
        for (int p = 1; p < r.count; ++p)
          if (first[r.col[p]] > lowest) first[r.col[p]] = lowest;
      });
    }
  }

  // Fills env (M_uu), g (= (A^T b)_u, length n), w (= column eps of M, length n; mnn) and a =
  // M[0][0]. (A^T b)_0 is zero: the rows with an eps entry have zero right-hand side.
  // `complete(begin, end)` is called as soon as rows [begin, end) of M, g and w are final, which
  // lets the caller factor them while they are still in cache; it returns false to stop early.
  template <class S, class Complete = NoCompletion>
  MECH_HOST_DEVICE static void assemble(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                        Row<S>& row, S* env, S* g, S* w, S* a, Complete&& complete = Complete{}) {
    constexpr int B = Rows::kLookBehind;
    const int n = z.unknowns();
    const int m = block(z);
    const bool border = z.has_eps();
    lane_real_t<S> a_sum = 0;
    typename Rows::template State<S> state{};
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
      // Rows owned by time t touch blocks t-B .. t+1 only: with fixed sizes their row pointers
      // into the store are looked up once per time instead of once per entry.
      constexpr int kFixed = fixed_block<Rows, FD, FK>();
      constexpr int kWindow = kFixed > 0 ? (B + 2) * kFixed : 1;
      S* window[kWindow];
      const int window_start = (t - B) * m;
      if constexpr (kFixed > 0) {
        MECH_UNROLL
        for (int x = 0; x < kWindow; ++x) {
          const int i = window_start + x;
          window[x] = i >= 0 && i < n ? env + (envelope.offset[i] - envelope.first[i]) : nullptr;
        }
      }
      Rows::template rows<false, FD, FK>(z, in, t, state, local_row, [&](const Row<S>& r) {
        const int count = r.count;
        const S* value = r.value;
        const int* col = r.col;
        for (int p = 0; p < count; ++p) {
          const int ci = col[p];
          const S vp = value[p];
          S* env_row;
          if constexpr (kFixed > 0) env_row = window[ci - window_start];
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
      if (t >= B && !complete((t - B) * m, (t - B + 1) * m)) return;
    }
    *a = splat<S>(a_sum);
    if (B > 0) complete((z.T - B) * m, n);
  }

  // Right-hand side g = (A^T b)_u alone (for a re-solve with new rhs / initial values).
  template <class S>
  MECH_HOST_DEVICE static void assemble_rhs(const Sizes& z, const SystemInputs<S>& in, Row<S>& row, S* g) {
    const int n = z.unknowns();
    for (int i = 0; i < n; ++i) g[i] = S{};
    typename Rows::template State<S> state{};
    for (int t = 0; t < z.T; ++t) {
      Rows::template rows<false, FD, FK>(z, in, t, state, row, [&](const Row<S>& r) {
        if (r.kind == RowKind::Smooth) return;
        for (int p = 0; p < r.count; ++p) g[r.col[p]] += r.value[p] * r.rhs;
      });
    }
  }

  // Forward solve with factors computed earlier (same coefficients and steps): u holds g = (A^T b)_u
  // on entry and u on exit: p = L^{-1} g, eps from p.q, u = L^{-T} (p - eps q).
  template <class S>
  MECH_HOST_DEVICE static void solve_with_factors(const Sizes& z, const Envelope& envelope,
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
  template <class S>
  MECH_HOST_DEVICE static FactorStatus forward(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                               Row<S>& row, const Factors<S>& factors, S* u, S* eps) {
    S a{};
    const bool interior = interior_shape<Rows, FD, FK>(z, envelope);
    const FactorStatus status = factor_and_substitute(z, envelope, in, row, factors, u, static_cast<S*>(nullptr), &a, interior);
    if (status.status != Status::Ok) return status;
    S e{}, unused{};
    const FactorStatus border = eliminate_border(z, factors, u, static_cast<const S*>(nullptr), a, S{}, &e, &unused);
    if (border.status != Status::Ok) return border;
    back_substitute_sweep(z, envelope, factors, u, e, interior);
    *eps = e;
    return status;
  }

  // The gradient rows owned by time t (their blocks of u and v final): dL/dA at each structural
  // non-zero, chained to the inputs by the policy.
  template <class S>
  MECH_HOST_DEVICE static void gradient_rows(const Sizes& z, const SystemInputs<S>& in, int t,
                                             typename Rows::template State<S>& state, Row<S>& row, const S* u,
                                             S eps, const S* v, S v_eps, const SystemGradients<S>& out) {
#if defined(__CUDA_ARCH__)
    Row<S>& local_row = row;
#else
    Row<S> local_row;   // as in assemble (measured 15% of the backward)
    (void)row;
#endif
    Rows::template rows<true, FD, FK>(z, in, t, state, local_row, [&](const Row<S>& r) {
      const int count = r.count;
      S ay = eps * r.eps_coef;
      S av = v_eps * r.eps_coef;
      for (int p = 0; p < count; ++p) {
        ay += r.value[p] * u[r.col[p]];
        av += r.value[p] * v[r.col[p]];
      }
      Rows::template chain<FD, FK>(z, in, t, state, r, u, v, r.rhs - ay, av, out);
    });
  }

  // Gradients of L(u, eps) given ubar = dL/du (n) and ebar = dL/deps. `v` is scratch of n.
  template <class S>
  MECH_HOST_DEVICE static void backward(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                        Row<S>& row, const Factors<S>& factors, const S* u, S eps, const S* ubar,
                                        S ebar, S* v, const SystemGradients<S>& out) {
    const int n = z.unknowns();
    for (int i = 0; i < n; ++i) v[i] = ubar[i];
    const bool interior = interior_shape<Rows, FD, FK>(z, envelope);
    forward_substitute_blocks<Rows, FD, FK>(z, interior, 0, n, envelope, factors.env, factors.inverse_diagonal, v);
    S v_eps{};
    if (z.has_eps()) v_eps = (ebar - dot(n, factors.q, v)) / *factors.schur;
    else eps = S{};
    gradient_sweep(z, envelope, in, row, factors, u, eps, v, v_eps, out, interior, false);
  }

  // Forward and backward of one system in two sweeps over L (for when the upstream gradient is
  // known up front: mech-solve --grad-u, the fused benchmark, the op without kept factors). The
  // forward sweep forward-substitutes g, w and ubar (p, q, r); then eps and v_eps, and u and v are
  // back-substituted together in one reverse sweep with the gradient rows behind it.
  // `v` holds ubar on entry (it is overwritten).
  template <class S>
  MECH_HOST_DEVICE static FactorStatus forward_backward(const Sizes& z, const Envelope& envelope,
                                                        const SystemInputs<S>& in, Row<S>& row,
                                                        const Factors<S>& factors, S* u, S* eps, S* v, S ebar,
                                                        const SystemGradients<S>& out) {
    S a{};
    const bool interior = interior_shape<Rows, FD, FK>(z, envelope);
    const FactorStatus status = factor_and_substitute(z, envelope, in, row, factors, u, v, &a, interior);
    if (status.status != Status::Ok) return status;
    S e{}, v_eps{};
    const FactorStatus border = eliminate_border(z, factors, u, v, a, ebar, &e, &v_eps);
    if (border.status != Status::Ok) return border;
    *eps = e;
    gradient_sweep(z, envelope, in, row, factors, u, e, v, v_eps, out, interior, true);
    return status;
  }

 private:
  // The forward sweep: assemble, and factor and forward-substitute each block as soon as it is
  // final. u first holds g then p = L^{-1} g; q holds w then L^{-1} w; v (when given) ubar then
  // L^{-1} ubar.
  template <class S>
  MECH_HOST_DEVICE static FactorStatus factor_and_substitute(const Sizes& z, const Envelope& envelope,
                                                             const SystemInputs<S>& in, Row<S>& row,
                                                             const Factors<S>& factors, S* u, S* v, S* a,
                                                             bool interior) {
    S* q = z.has_eps() ? factors.q : nullptr;
    FactorStatus status;
    assemble(z, envelope, in, row, factors.env, u, q, a, [&](int begin, int end) {
      status = factor_blocks<Rows, FD, FK>(z, interior, begin, end, envelope, factors.env, factors.inverse_diagonal);
      if (status.status != Status::Ok) return false;
      forward_substitute_blocks<Rows, FD, FK>(z, interior, begin, end, envelope, factors.env,
                                              factors.inverse_diagonal, u, q);
      if (v)
        forward_substitute_blocks<Rows, FD, FK>(z, interior, begin, end, envelope, factors.env,
                                                factors.inverse_diagonal, v);
      return true;
    });
    return status;
  }

  // eps (and v_eps when v is given) from the forward-substituted p = u, q and r = v.
  template <class S>
  MECH_HOST_DEVICE static FactorStatus eliminate_border(const Sizes& z, const Factors<S>& factors, const S* u,
                                                        const S* v, S a, S ebar, S* e, S* v_eps) {
    if (!z.has_eps()) return FactorStatus{};
    const int n = z.unknowns();
    const S schur = a - dot(n, factors.q, factors.q);
    const FactorStatus status = check_border(schur, a);
    if (status.status != Status::Ok) return status;
    *factors.schur = schur;
    *e = (splat<S>(lane_real_t<S>(z.gamma_alpha)) - dot(n, u, factors.q)) / schur;
    if (v) *v_eps = (ebar - dot(n, factors.q, v)) / schur;
    return status;
  }

  // u = L^{-T} (p - eps q): the right-hand side enters the column-oriented back substitution
  // additively, so - eps q is applied block by block just before each block is reached, while it
  // is in cache.
  template <class S>
  MECH_HOST_DEVICE static void back_substitute_sweep(const Sizes& z, const Envelope& envelope,
                                                     const Factors<S>& factors, S* u, S e, bool interior) {
    const int m = block(z);
    for (int t = z.T - 1; t >= 0; --t) {
      if (z.has_eps())
        for (int i = t * m; i < (t + 1) * m; ++i) u[i] -= e * factors.q[i];
      back_substitute_blocks<Rows, FD, FK>(z, interior, t * m, (t + 1) * m, envelope, factors.env,
                                           factors.inverse_diagonal, u);
    }
  }

  // The reverse sweep of backward: back-substitute block t of v (and of u when `with_u`: the fused
  // pass) and run the gradient rows of time t + B right behind it, while its blocks are in cache.
  template <class S>
  MECH_HOST_DEVICE static void gradient_sweep(const Sizes& z, const Envelope& envelope, const SystemInputs<S>& in,
                                              Row<S>& row, const Factors<S>& factors, const S* u, S eps, S* v,
                                              S v_eps, const SystemGradients<S>& out, bool interior, bool with_u) {
    constexpr int B = Rows::kLookBehind;
    const int m = block(z);
    S* solution = with_u ? const_cast<S*>(u) : nullptr;
    Rows::zero_gradients(z, out);
    typename Rows::template State<S> state{};
    for (int t = z.T - 1; t >= 0; --t) {
      if (z.has_eps()) {
        for (int i = t * m; i < (t + 1) * m; ++i) {
          if (solution) solution[i] -= eps * factors.q[i];
          v[i] -= v_eps * factors.q[i];
        }
      }
      if (solution)
        back_substitute_blocks<Rows, FD, FK>(z, interior, t * m, (t + 1) * m, envelope, factors.env,
                                             factors.inverse_diagonal, solution, v);
      else
        back_substitute_blocks<Rows, FD, FK>(z, interior, t * m, (t + 1) * m, envelope, factors.env,
                                             factors.inverse_diagonal, v);
      if (t + B < z.T) gradient_rows(z, in, t + B, state, row, u, eps, v, v_eps, out);
    }
    for (int t = B - 1; t >= 0; --t) gradient_rows(z, in, t, state, row, u, eps, v, v_eps, out);
  }
};

}  // namespace mech::neurlp_core
