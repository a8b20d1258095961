// A parallel-in-time NeuRLP solve: the grid's time blocks are split into C chunks separated by
// separators of two time blocks, every chunk is factored and substituted on its own (concurrently,
// one GPU thread per system and chunk), and a small reduced system on the separators ties them
// together. Written once, __host__ __device__, on raw arrays and with no allocation, like
// solvers/neurlp_system.h (whose row generator, envelope factorisation, substitutions and gradient
// rows it calls), so that the CPU tests run exactly the code of solvers/neurlp_gpu.cu's chunked kernels.
//
// ---- Why two blocks per separator ----------------------------------------------------------
// Rows owned by time t touch time blocks t-1..t+1, so M_uu couples blocks at most two apart
// (neurlp_system.h). Removing two consecutive blocks therefore disconnects the band: ordering the
// unknowns as (interior of chunk 0, ..., interior of chunk C-1, separators) makes M_uu
//     [[M_II, M_IS], [M_SI, M_SS]],   M_II block diagonal over chunks.
// Every interior has at least two time blocks, so no separator couples directly to the next one
// (M_SS is block diagonal over separators) and only the first / last two blocks of an interior
// couple to its left / right separator.
//
// ---- The factorisation -----------------------------------------------------------------------
// Per chunk c (interior I, left separator SL = separator c-1, right separator SR = separator c):
//     M_II = L L^T                  the envelope Cholesky restricted to I (first[] clipped to I)
//     X_L = L^{-1} M_{I,SL}         W = 2m columns, dense over the whole interior (the "spike")
//     X_R = L^{-1} M_{I,SR}         zero except on I's last two blocks (W x W stored)
// and the reduced (Schur complement) matrix on the separators,
//     R = M_SS - sum_c [X_L X_R]^T [X_L X_R],
// is block tridiagonal in separators (blocks W x W; chunk c adds -X_L^T X_L to SL's diagonal block,
// -X_R^T X_R to SR's and -X_R^T X_L to the (SR, SL) block). R is factored, per system, with
// neurlp_system.h's envelope Cholesky on its own small envelope. Together this is the Cholesky
// factor of the reordered M_uu:  L_full = [[L, 0], [X^T, L_R]].
//
// ---- Solves ----------------------------------------------------------------------------------
// A right-hand side b is forward-substituted in two levels: y_I = L^{-1} b_I per chunk, then
// y_S = L_R^{-1} (b_S - sum_c X^T y_I); back substitution in reverse: x_S = L_R^{-T} y_S, then per
// chunk x_I = L^{-T} (y_I - X_L x_SL - X_R x_SR). The eps border (mnn) uses the forward-substituted
// p = L_full^{-1} g and q = L_full^{-1} w exactly as the sequential solve does: p.q and q.q are
// sums of per-chunk dot products plus the reduced level's, eps = (gamma*alpha - p.q) / (a - q.q),
// u = L_full^{-T} (p - eps q). The backward solves M v = ybar with the same two levels and then
// runs neurlp_system.h's gradient rows, chunk by chunk.
//
// ---- Phases (each a kernel on the GPU; the order between phases is the only synchronisation) --
//   factor_chunk             per (system, chunk)  assemble its rows of M, factor, spikes, reduced parts
//   reduce_forward           per system           R, its factor, eps, the separators' u
//   finish_forward_chunk     per (system, chunk)  the interior's u
//   backward_chunk           per (system, chunk)  L^{-1} ubar on the interior, reduced parts
//   reduce_backward          per system           v_eps, the separators' v
//   finish_backward_chunk    per (system, chunk)  the interior's v and the gradient rows it owns
//   boundary_gradients       per system           the C-1 gradient times between chunks
// Chunks of one system write disjoint parts of every shared array: chunk c owns rows
// [interior_begin(c)*m, owned_end(c)*m) of M, g, w (its interior and its right separator) and
// its own record of reduced contributions; see each phase for the gradient rows.
//
// Cost: more arithmetic than the sequential solve (the left spike is W extra right-hand sides over
// the interior; measured 1.5x for P=2, D=1, T=1000, C=32 on one CPU core) in exchange for C-fold
// parallelism per system; the reduced system is sequential over C per system (O(C W^3)), so the
// longest chain is shortest near C ~ sqrt(T) (8.6x shorter than the sequential one at T=1000,
// C=32; tests/solvers/test_neurlp_chunked.cpp, DISABLED_CriticalPathOnOneCore). Memory per system: M's envelope (as in the
// sequential solve), the left spikes n*W, the right spikes C*W^2 and R, all linear in T.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/error.h"
#include "solvers/neurlp_system.h"

namespace mech::neurlp_chunked {

using neurlp_core::Envelope;
using neurlp_core::FactorStatus;
using neurlp_core::Row;
using neurlp_core::RowKind;
using neurlp_core::Sizes;
using neurlp_core::Status;
using neurlp_core::SystemGradients;
using neurlp_core::SystemInputs;

// Scalars at the end of each chunk's record: the dot products and the partial a = sum eps_coef^2
// of the rows it owns.
constexpr int kRecordScalars = 4;
enum RecordScalar : int { kDotFirstSecond = 0, kDotSecondSecond = 1, kBorderSum = 2 };

// The partition of the T time blocks (m unknowns each) into C chunks. Chunk c's interior is
// blocks [begin[c], begin[c+1] - 2); the separator after it is the two blocks before begin[c+1];
// begin[0] = 0 and begin[C] = T + 2 (a virtual separator past the end).
struct ChunkLayout {
  int T = 0, m = 0, C = 1;
  const int* begin = nullptr;   // C + 1 entries

  MECH_HOST_DEVICE int width() const { return 2 * m; }   // unknowns per separator
  MECH_HOST_DEVICE int interior_begin(int c) const { return begin[c]; }
  MECH_HOST_DEVICE int interior_end(int c) const { return begin[c + 1] - 2; }
  // Chunk c owns the rows of M (and the rows of A, by owning time) of its interior and its right
  // separator; the last chunk owns up to T.
  MECH_HOST_DEVICE int owned_end(int c) const { return c + 1 < C ? begin[c + 1] : T; }
  MECH_HOST_DEVICE int reduced_unknowns() const { return (C - 1) * width(); }
  MECH_HOST_DEVICE int separator_unknown(int j) const { return interior_end(j) * m; }   // its first
  // First time whose gradient rows chunk c owns (tau_c): the second block of its left separator,
  // so that rows at tau_c + 1 .. tau_{c+1} - 1 only read u, v of S_{c-1}, I_c, S_c. The rows at
  // tau_c itself (c >= 1) touch the step before it, which the previous chunk also touches: they
  // run after all chunks (boundary_gradients).
  MECH_HOST_DEVICE int gradient_begin(int c) const { return c == 0 ? 0 : begin[c] - 1; }
  MECH_HOST_DEVICE int gradient_end(int c) const { return c + 1 < C ? begin[c + 1] - 1 : T; }
  MECH_HOST_DEVICE std::int64_t record_size() const {
    const std::int64_t W = width();
    return 3 * W * W + 4 * W + kRecordScalars;
  }
};

// The structure shared by every system of a batch: the layout and three envelopes (all
// structural): M_uu's (neurlp_system.h), the same rows with first[] clipped to each interior's
// first unknown (addressing the same store, so one array holds M and the interiors' L), and R's.
struct Structure {
  ChunkLayout layout;
  Envelope full, clipped, reduced;
};

// One system's arrays (the caller slices a batch). Sizes from extents().
template <class S>
struct SystemWork {
  S* env;                         // full.size: M_uu's rows, then L on the interiors in place
  S* inverse_diagonal;            // n: 1 / diag(L) on the interiors
  S* q;                           // n (mnn): L_full^{-1} w (interiors: per chunk; separators: reduced)
  S* schur;                       // 1 (mnn): a - q.q
  S* spike_left;                  // n * W: row i = X_L[i][0..W) for interior unknowns of chunks c >= 1
  S* spike_right;                 // C * W * W: chunk c's X_R on its interior's last two blocks
  S* reduced;                     // reduced.size: R, then L_R in place
  S* reduced_inverse_diagonal;    // reduced unknowns
  S* records;                     // C * record_size + 1 (the last: v_eps between backward phases)
  S* reduced_vectors;             // 2 * reduced unknowns (scratch of the per-system phases)
};

struct Extents {
  std::int64_t env, unknowns, spike_left, spike_right, reduced, reduced_unknowns, records, reduced_vectors;
};

MECH_HOST_DEVICE inline Extents extents(const Sizes& z, const Structure& s) {
  const std::int64_t n = z.unknowns(), W = s.layout.width(), C = s.layout.C, nr = s.layout.reduced_unknowns();
  return {s.full.size, n, n * W, C * W * W, s.reduced.size, nr, C * s.layout.record_size() + 1, 2 * nr};
}

namespace detail {

// Pointers into chunk c's record: the three Schur blocks (W x W, row-major, [separator row][column])
// and per right-hand side r (0, 1) its contributions to the left and right separator.
template <class S>
struct Record {
  S* left_left;     // -X_L^T X_L   (to separator c-1's diagonal block)
  S* right_right;   // -X_R^T X_R   (to separator c's diagonal block)
  S* right_left;    // -X_R^T X_L   (R[separator c][separator c-1])
  S* left[2];       // -X_L^T y
  S* right[2];      // -X_R^T y
  S* scalars;       // RecordScalar
};

template <class S>
MECH_HOST_DEVICE inline Record<S> record_of(const ChunkLayout& layout, S* records, int c) {
  const std::int64_t W = layout.width();
  S* base = records + c * layout.record_size();
  return {base, base + W * W, base + 2 * W * W, {base + 3 * W * W, base + 3 * W * W + W},
          {base + 3 * W * W + 2 * W, base + 3 * W * W + 3 * W}, base + 3 * W * W + 4 * W};
}

// X <- L^{-1} X for W right-hand sides stored row-major from unknown `origin` (row i at
// X[(i - origin) * W]); entries of L in columns below origin meet zeros of X and are skipped.
// One load of L serves all W columns.
template <class S>
MECH_HOST_DEVICE void forward_substitute_many(int begin, int end, const Envelope& envelope, const S* env,
                                              const S* inverse_diagonal, S* X, int origin, int W) {
  for (int i = begin; i < end; ++i) {
    const int fi = envelope.first[i];
    const S* row_i = env + (envelope.offset[i] - fi);
    S* xi = X + static_cast<std::int64_t>(i - origin) * W;
    for (int k = fi > origin ? fi : origin; k < i; ++k) {
      const S lik = row_i[k];
      const S* xk = X + static_cast<std::int64_t>(k - origin) * W;
      for (int j = 0; j < W; ++j) xi[j] -= lik * xk[j];
    }
    const S d = inverse_diagonal[i];
    for (int j = 0; j < W; ++j) xi[j] *= d;
  }
}

// out[j][l] = -sum_{i < rows} A[i][j] B[i][l] (W x W), A and B row-major with W columns.
template <class S>
MECH_HOST_DEVICE void minus_gram(int rows, const S* A, const S* B, int W, S* out) {
  for (int j = 0; j < W * W; ++j) out[j] = S{};
  for (int i = 0; i < rows; ++i) {
    const S* a = A + static_cast<std::int64_t>(i) * W;
    const S* b = B + static_cast<std::int64_t>(i) * W;
    for (int j = 0; j < W; ++j) {
      const S aj = a[j];
      for (int l = 0; l < W; ++l) out[j * W + l] -= aj * b[l];
    }
  }
}

// out[j] = -sum_{i < rows} A[i][j] y[i].
template <class S>
MECH_HOST_DEVICE void minus_transpose_times(int rows, const S* A, const S* y, int W, S* out) {
  for (int j = 0; j < W; ++j) out[j] = S{};
  for (int i = 0; i < rows; ++i) {
    const S* a = A + static_cast<std::int64_t>(i) * W;
    const S yi = y[i];
    for (int j = 0; j < W; ++j) out[j] -= a[j] * yi;
  }
}

// The right spike's first unknown: the interior's last two blocks.
MECH_HOST_DEVICE inline int right_origin(const ChunkLayout& layout, int c) {
  return layout.interior_end(c) * layout.m - layout.width();
}

// x_I -= X_L x_SL + X_R x_SR on chunk c's interior (x holds the separators' solution).
template <class S>
MECH_HOST_DEVICE void subtract_spikes(const ChunkLayout& layout, const SystemWork<S>& w, int c, S* x) {
  const int m = layout.m, W = layout.width();
  const int ib = layout.interior_begin(c) * m, ie = layout.interior_end(c) * m;
  if (c > 0) {
    const S* xs = x + layout.separator_unknown(c - 1);
    for (int i = ib; i < ie; ++i) {
      const S* spike = w.spike_left + static_cast<std::int64_t>(i) * W;
      S sum = x[i];
      for (int j = 0; j < W; ++j) sum -= spike[j] * xs[j];
      x[i] = sum;
    }
  }
  if (c + 1 < layout.C) {
    const int origin = right_origin(layout, c);
    const S* xs = x + layout.separator_unknown(c);
    const S* spike = w.spike_right + static_cast<std::int64_t>(c) * W * W;
    for (int i = origin; i < ie; ++i) {
      const S* row = spike + static_cast<std::int64_t>(i - origin) * W;
      S sum = x[i];
      for (int j = 0; j < W; ++j) sum -= row[j] * xs[j];
      x[i] = sum;
    }
  }
}

// The reduced right-hand side: separator values of x plus every chunk's contribution `which`.
template <class S>
MECH_HOST_DEVICE void gather_reduced(const ChunkLayout& layout, S* records, int which, const S* x, S* out) {
  const int W = layout.width();
  for (int j = 0; j + 1 < layout.C; ++j) {
    const Record<S> before = record_of(layout, records, j), after = record_of(layout, records, j + 1);
    const S* xs = x + layout.separator_unknown(j);
    for (int l = 0; l < W; ++l) out[j * W + l] = xs[l] + before.right[which][l] + after.left[which][l];
  }
}

template <class S>
MECH_HOST_DEVICE void scatter_reduced(const ChunkLayout& layout, const S* reduced, S* x) {
  const int W = layout.width();
  for (int j = 0; j + 1 < layout.C; ++j) {
    S* xs = x + layout.separator_unknown(j);
    for (int l = 0; l < W; ++l) xs[l] = reduced[j * W + l];
  }
}

// Maps a failing pivot of R to the unknown of u it belongs to.
MECH_HOST_DEVICE inline int reduced_to_unknown(const ChunkLayout& layout, int index) {
  return layout.separator_unknown(index / layout.width()) + index % layout.width();
}

}  // namespace detail

// ---- forward ---------------------------------------------------------------------------------

// Phase 1, per (system, chunk c): assemble the rows of M_uu, g = (A^T b)_u (into u) and w (into
// q) that chunk c owns, factor its interior, forward-substitute g and w there (u and q then hold
// y = L^{-1} g, L^{-1} w on the interior, and g, w on its right separator), build its spikes and
// its record of reduced contributions. Reads rows owned by the times that touch its unknowns
// (interior_begin - 1 .. owned_end), writes only what it owns.
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE FactorStatus factor_chunk(const Sizes& z, const Structure& s, const SystemInputs<S>& in,
                                           Row<S>& row, const SystemWork<S>& w, S* u, int c) {
  using Real = neurlp_core::lane_real_t<S>;
  const ChunkLayout& layout = s.layout;
  const int m = (FD > 0 ? FD : z.D) * (FK > 0 ? FK : z.K), W = 2 * m, n = z.unknowns(), T = z.T;
  const int lo = layout.interior_begin(c) * m, hi = layout.owned_end(c) * m, ie = layout.interior_end(c) * m;
  const bool border = z.has_eps();
  S* q = border ? w.q : nullptr;
  {
    const std::int64_t end = hi < n ? s.full.offset[hi] : s.full.size;
    for (std::int64_t i = s.full.offset[lo]; i < end; ++i) w.env[i] = S{};
    for (int i = lo; i < hi; ++i) u[i] = S{};
    if (border)
      for (int i = lo; i < hi; ++i) q[i] = S{};
  }
  Real border_sum = 0;
  const int own_begin = layout.interior_begin(c), own_end = layout.owned_end(c);
  const int t_begin = own_begin > 0 ? own_begin - 1 : 0, t_end = own_end + 1 < T ? own_end + 1 : T;
  for (int t = t_begin; t < t_end; ++t) {
    const bool owns_time = t >= own_begin && t < own_end;
    neurlp_core::rows_at<false, FD, FK>(z, in, t, row, [&](const Row<S>& r) {
      const int count = r.count;
      for (int p = 0; p < count; ++p) {
        const int ci = r.col[p];
        if (ci < lo || ci >= hi) continue;
        const S vp = r.value[p];
        S* env_row = w.env + (s.full.offset[ci] - s.full.first[ci]);
        for (int k = 0; k <= p; ++k) env_row[r.col[k]] += vp * r.value[k];
        if (r.kind != RowKind::Smooth) {
          u[ci] += vp * r.rhs;
        } else if (border && r.eps_coef != 0) {
          q[ci] += vp * r.eps_coef;
        }
      }
      if (owns_time && border && r.kind == RowKind::Smooth && r.eps_coef != 0) border_sum += r.eps_coef * r.eps_coef;
    });
  }
  const FactorStatus status = neurlp_core::factor_rows(lo, ie, s.clipped, w.env, w.inverse_diagonal);
  if (status.status != Status::Ok) return status;
  neurlp_core::forward_substitute_rows(lo, ie, s.clipped, w.env, w.inverse_diagonal, u, q);

  const detail::Record<S> record = detail::record_of(layout, w.records, c);
  for (int k = 0; k < kRecordScalars; ++k) record.scalars[k] = S{};
  if (border) {
    record.scalars[kDotFirstSecond] = neurlp_core::dot(ie - lo, u + lo, q + lo);
    record.scalars[kDotSecondSecond] = neurlp_core::dot(ie - lo, q + lo, q + lo);
    record.scalars[kBorderSum] = neurlp_core::splat<S>(border_sum);
  }
  // Left spike X_L = L^{-1} M_{I,SL}: M's entries are in the interior rows' envelopes, at the
  // separator's columns (only the first two blocks reach back that far).
  S* left = w.spike_left + static_cast<std::int64_t>(lo) * W;
  if (c > 0) {
    const int separator = layout.separator_unknown(c - 1);
    for (int i = lo; i < ie; ++i) {
      const int fi = s.full.first[i];
      const S* env_row = w.env + (s.full.offset[i] - fi);
      S* x = left + static_cast<std::int64_t>(i - lo) * W;
      for (int j = 0; j < W; ++j) x[j] = separator + j >= fi ? env_row[separator + j] : S{};
    }
    detail::forward_substitute_many(lo, ie, s.clipped, w.env, w.inverse_diagonal, left, lo, W);
    detail::minus_gram(ie - lo, left, left, W, record.left_left);
    detail::minus_transpose_times(ie - lo, left, u + lo, W, record.left[0]);
    if (border) detail::minus_transpose_times(ie - lo, left, q + lo, W, record.left[1]);
  }
  // Right spike X_R = L^{-1} M_{I,SR}: M_{SR,I} lives in the separator rows' envelopes (which reach
  // back into the interior's last two blocks); L^{-1} keeps it zero above those blocks.
  if (c + 1 < layout.C) {
    const int separator = layout.separator_unknown(c), origin = detail::right_origin(layout, c);
    S* right = w.spike_right + static_cast<std::int64_t>(c) * W * W;
    for (int j = 0; j < W; ++j) {
      const int fj = s.full.first[separator + j];
      const S* env_row = w.env + (s.full.offset[separator + j] - fj);
      for (int i = origin; i < ie; ++i) right[static_cast<std::int64_t>(i - origin) * W + j] = i >= fj ? env_row[i] : S{};
    }
    detail::forward_substitute_many(origin, ie, s.clipped, w.env, w.inverse_diagonal, right, origin, W);
    detail::minus_gram(W, right, right, W, record.right_right);
    detail::minus_transpose_times(W, right, u + origin, W, record.right[0]);
    if (border) detail::minus_transpose_times(W, right, q + origin, W, record.right[1]);
    if (c > 0) detail::minus_gram(W, right, left + static_cast<std::int64_t>(origin - lo) * W, W, record.right_left);
  }
  return status;
}

// Phase 2, per system (after phase 1 of all its chunks): assemble R from the separators' rows of M
// and the chunks' records, factor it, forward-substitute g and w at the reduced level, eliminate
// eps through the border and back-substitute the separators' u. Writes u and q at the separators,
// the Schur complement and *eps. A failed pivot of R reports the separator unknown of u.
template <class S>
MECH_HOST_DEVICE FactorStatus reduce_forward(const Sizes& z, const Structure& s, const SystemWork<S>& w, S* u,
                                             S* eps) {
  using Real = neurlp_core::lane_real_t<S>;
  const ChunkLayout& layout = s.layout;
  const int W = layout.width(), nr = layout.reduced_unknowns();
  const bool border = z.has_eps();
  for (int j = 0; j + 1 < layout.C; ++j) {
    const int separator = layout.separator_unknown(j);
    const detail::Record<S> before = detail::record_of(layout, w.records, j);
    const detail::Record<S> after = detail::record_of(layout, w.records, j + 1);
    for (int l = 0; l < W; ++l) {
      const int i = j * W + l, fr = s.reduced.first[i], gi = separator + l;
      S* r_row = w.reduced + (s.reduced.offset[i] - fr);
      const int fg = s.full.first[gi];   // may lie inside the separator (D > 1: other dimensions)
      const S* m_row = w.env + (s.full.offset[gi] - fg);
      for (int k = fr; k <= i; ++k) {
        if (k >= j * W) {
          const int l2 = k - j * W;
          const S m_entry = separator + l2 >= fg ? m_row[separator + l2] : S{};
          r_row[k] = m_entry + before.right_right[l * W + l2] + after.left_left[l * W + l2];
        } else {
          r_row[k] = before.right_left[l * W + (k - (j - 1) * W)];
        }
      }
    }
  }
  FactorStatus status = neurlp_core::factor_rows(0, nr, s.reduced, w.reduced, w.reduced_inverse_diagonal);
  if (status.status != Status::Ok) {
    status.index = detail::reduced_to_unknown(layout, status.index);
    return status;
  }
  S* p = w.reduced_vectors;
  S* q = w.reduced_vectors + nr;
  detail::gather_reduced(layout, w.records, 0, u, p);
  if (border) detail::gather_reduced(layout, w.records, 1, w.q, q);
  neurlp_core::forward_substitute(nr, s.reduced, w.reduced, w.reduced_inverse_diagonal, p, border ? q : nullptr);
  S e{};
  if (border) {
    S pq = neurlp_core::dot(nr, p, q), qq = neurlp_core::dot(nr, q, q), a{};
    for (int c = 0; c < layout.C; ++c) {
      const S* scalars = detail::record_of(layout, w.records, c).scalars;
      pq += scalars[kDotFirstSecond];
      qq += scalars[kDotSecondSecond];
      a += scalars[kBorderSum];
    }
    const S schur = a - qq;
    status = neurlp_core::check_border(schur, a);
    if (status.status != Status::Ok) return status;
    *w.schur = schur;
    e = (neurlp_core::splat<S>(Real(z.gamma_alpha)) - pq) / schur;
    for (int i = 0; i < nr; ++i) p[i] -= e * q[i];
    detail::scatter_reduced(layout, q, w.q);
  }
  neurlp_core::back_substitute(nr, s.reduced, w.reduced, w.reduced_inverse_diagonal, p);
  detail::scatter_reduced(layout, p, u);
  *eps = e;
  return status;
}

// Phase 3, per (system, chunk): u_I = L^{-T} (y_I - eps q_I - X_L u_SL - X_R u_SR).
template <class S>
MECH_HOST_DEVICE void finish_forward_chunk(const Sizes& z, const Structure& s, const SystemWork<S>& w, S* u, S eps,
                                           int c) {
  const ChunkLayout& layout = s.layout;
  const int lo = layout.interior_begin(c) * layout.m, ie = layout.interior_end(c) * layout.m;
  if (z.has_eps())
    for (int i = lo; i < ie; ++i) u[i] -= eps * w.q[i];
  detail::subtract_spikes(layout, w, c, u);
  neurlp_core::back_substitute_rows(lo, ie, s.clipped, w.env, w.inverse_diagonal, u);
}

// ---- backward --------------------------------------------------------------------------------

// Phase 1 of the backward, per (system, chunk), with the factors of the forward: v = ubar on the
// rows chunk c owns, r = L^{-1} ubar on its interior, its reduced contributions and q_I . r_I.
template <class S>
MECH_HOST_DEVICE void backward_chunk(const Sizes& z, const Structure& s, const SystemWork<S>& w, const S* ubar, S* v,
                                     int c) {
  const ChunkLayout& layout = s.layout;
  const int m = layout.m, W = layout.width();
  const int lo = layout.interior_begin(c) * m, hi = layout.owned_end(c) * m, ie = layout.interior_end(c) * m;
  for (int i = lo; i < hi; ++i) v[i] = ubar[i];
  neurlp_core::forward_substitute_rows(lo, ie, s.clipped, w.env, w.inverse_diagonal, v);
  const detail::Record<S> record = detail::record_of(layout, w.records, c);
  record.scalars[kDotFirstSecond] = z.has_eps() ? neurlp_core::dot(ie - lo, w.q + lo, v + lo) : S{};
  if (c > 0)
    detail::minus_transpose_times(ie - lo, w.spike_left + static_cast<std::int64_t>(lo) * W, v + lo, W, record.left[0]);
  if (c + 1 < layout.C) {
    const int origin = detail::right_origin(layout, c);
    detail::minus_transpose_times(W, w.spike_right + static_cast<std::int64_t>(c) * W * W, v + origin, W,
                                  record.right[0]);
  }
}

// Phase 2 of the backward, per system: v_eps = (ebar - q.r) / schur and the separators' v.
template <class S>
MECH_HOST_DEVICE void reduce_backward(const Sizes& z, const Structure& s, const SystemWork<S>& w, S ebar, S* v) {
  const ChunkLayout& layout = s.layout;
  const int nr = layout.reduced_unknowns();
  S* r = w.reduced_vectors;
  detail::gather_reduced(layout, w.records, 0, v, r);
  neurlp_core::forward_substitute(nr, s.reduced, w.reduced, w.reduced_inverse_diagonal, r);
  S v_eps{};
  if (z.has_eps()) {
    S* q = w.reduced_vectors + nr;
    for (int j = 0; j + 1 < layout.C; ++j)
      for (int l = 0; l < layout.width(); ++l) q[j * layout.width() + l] = w.q[layout.separator_unknown(j) + l];
    S qr = neurlp_core::dot(nr, q, r);
    for (int c = 0; c < layout.C; ++c) qr += detail::record_of(layout, w.records, c).scalars[kDotFirstSecond];
    v_eps = (ebar - qr) / *w.schur;
    for (int i = 0; i < nr; ++i) r[i] -= v_eps * q[i];
  }
  neurlp_core::back_substitute(nr, s.reduced, w.reduced, w.reduced_inverse_diagonal, r);
  detail::scatter_reduced(layout, r, v);
  w.records[layout.C * layout.record_size()] = v_eps;
}

// Phase 3 of the backward, per (system, chunk): v_I = L^{-T} (r_I - v_eps q_I - X_L v_SL - X_R v_SR),
// then the gradient rows of times gradient_begin(c) + 1 .. gradient_end(c) - 1 (all of chunk 0's
// from 0), which read u, v of S_{c-1}, I_c, S_c only and touch steps that no other chunk touches
// (this chunk zeroes them first). `out` is the system's gradients; `eps` the forward's.
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void finish_backward_chunk(const Sizes& z, const Structure& s, const SystemInputs<S>& in,
                                            Row<S>& row, const SystemWork<S>& w, const S* u, S eps, S* v,
                                            const SystemGradients<S>& out, int c) {
  const ChunkLayout& layout = s.layout;
  const int lo = layout.interior_begin(c) * layout.m, ie = layout.interior_end(c) * layout.m;
  const S v_eps = w.records[layout.C * layout.record_size()];
  if (z.has_eps())
    for (int i = lo; i < ie; ++i) v[i] -= v_eps * w.q[i];
  detail::subtract_spikes(layout, w, c, v);
  neurlp_core::back_substitute_rows(lo, ie, s.clipped, w.env, w.inverse_diagonal, v);
  const int t_begin = layout.gradient_begin(c), t_end = layout.gradient_end(c);
  if (out.steps) {
    const int step_end = t_end < z.T - 1 ? t_end : z.T - 1;
    for (int i = t_begin * z.D; i < step_end * z.D; ++i) out.steps[i] = S{};
  }
  for (int t = c == 0 ? 0 : t_begin + 1; t < t_end; ++t)
    neurlp_core::gradient_rows_at<FD, FK>(z, in, t, row, u, eps, v, v_eps, out);
}

// Phase 4 of the backward, per system: the gradient rows at each chunk's gradient_begin (c >= 1).
template <int FD = 0, int FK = 0, class S>
MECH_HOST_DEVICE void boundary_gradients(const Sizes& z, const Structure& s, const SystemInputs<S>& in, Row<S>& row,
                                         const SystemWork<S>& w, const S* u, S eps, const S* v,
                                         const SystemGradients<S>& out) {
  const ChunkLayout& layout = s.layout;
  const S v_eps = w.records[layout.C * layout.record_size()];
  for (int c = 1; c < layout.C; ++c)
    neurlp_core::gradient_rows_at<FD, FK>(z, in, layout.gradient_begin(c), row, u, eps, v, v_eps, out);
}

// ---- the structure, on the host --------------------------------------------------------------

// The most chunks a grid of T blocks allows: interiors of at least two blocks plus separators of two.
inline int max_chunks(int T) { return std::max(1, (T + 2) / 4); }

// begin[] for C chunks of (nearly) equal interiors: the first (T - 2(C-1)) mod C get one more block.
// C is clipped to [1, max_chunks(T)].
inline std::vector<int> balanced_begins(int T, int C) {
  C = std::clamp(C, 1, max_chunks(T));
  const int interior = T - 2 * (C - 1), base = interior / C, extra = interior % C;
  std::vector<int> begin(static_cast<std::size_t>(C) + 1);
  begin[0] = 0;
  for (int c = 0; c < C; ++c) begin[static_cast<std::size_t>(c) + 1] = begin[static_cast<std::size_t>(c)] + base + (c < extra) + 2;
  return begin;
}

// The host-side structure: owns the arrays Structure points to.
class Plan {
 public:
  // `begin` as in ChunkLayout (C + 1 entries, begin[0] = 0, begin[C] = T + 2, interiors >= 2 blocks).
  Plan(const Sizes& z, std::vector<int> begin) : begin_(std::move(begin)) {
    const int C = static_cast<int>(begin_.size()) - 1;
    MECH_CHECK(C >= 1 && begin_.front() == 0 && begin_.back() == z.T + 2,
               "neurlp chunked: expected chunk starts from 0 to T+2 = {}, got {} entries ending at {}", z.T + 2,
               begin_.size(), begin_.empty() ? -1 : begin_.back());
    for (int c = 0; c < C; ++c)
      MECH_CHECK(begin_[static_cast<std::size_t>(c) + 1] - 2 - begin_[static_cast<std::size_t>(c)] >= 2,
                 "neurlp chunked: chunk {} has an interior of {} time blocks (T={}), expected at least 2", c,
                 begin_[static_cast<std::size_t>(c) + 1] - 2 - begin_[static_cast<std::size_t>(c)], z.T);
    const int m = z.block(), n = z.unknowns(), W = 2 * m;
    // M_uu's envelope: structural, so all-ones inputs give it.
    const std::int64_t E = z.E, T = z.T, D = z.D;
    const std::vector<double> coeffs(static_cast<std::size_t>(E * T * m), 1.0), rhs(static_cast<std::size_t>(E * T), 1.0);
    const std::vector<double> iv(static_cast<std::size_t>(z.S * D * z.n_iv) + 1, 1.0),
        steps(static_cast<std::size_t>((T - 1) * D), 1.0);
    const SystemInputs<double> ones{coeffs.data(), rhs.data(), iv.data(), steps.data()};
    std::vector<Row<double>> row(1);   // large: keep it off the stack
    first_.resize(static_cast<std::size_t>(n));
    offset_.resize(static_cast<std::size_t>(n));
    neurlp_core::envelope_first_columns(z, ones, row[0], first_.data());
    size_ = neurlp_core::envelope_offsets(n, first_.data(), offset_.data());
    // Clipped: interior rows start no earlier than their interior; offsets shifted so that a row's
    // base address (offset - first) is unchanged. Separator rows are never factored: kept as is.
    clipped_first_ = first_;
    clipped_offset_ = offset_;
    for (int c = 0; c < C; ++c) {
      const int lo = begin_[static_cast<std::size_t>(c)] * m, ie = (begin_[static_cast<std::size_t>(c) + 1] - 2) * m;
      for (int i = lo; i < ie; ++i) {
        const auto k = static_cast<std::size_t>(i);
        clipped_first_[k] = std::max(first_[k], lo);
        clipped_offset_[k] = offset_[k] + (clipped_first_[k] - first_[k]);
      }
    }
    // R: block tridiagonal over separators, rows of separator j start at separator j-1.
    const int nr = (C - 1) * W;
    reduced_first_.resize(static_cast<std::size_t>(nr));
    reduced_offset_.resize(static_cast<std::size_t>(nr));
    for (int i = 0; i < nr; ++i) reduced_first_[static_cast<std::size_t>(i)] = std::max(0, (i / W - 1) * W);
    reduced_size_ = neurlp_core::envelope_offsets(nr, reduced_first_.data(), reduced_offset_.data());
    structure_.layout = {z.T, m, C, begin_.data()};
    structure_.full = {first_.data(), offset_.data(), size_};
    structure_.clipped = {clipped_first_.data(), clipped_offset_.data(), size_};
    structure_.reduced = {reduced_first_.data(), reduced_offset_.data(), reduced_size_};
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  const Structure& structure() const { return structure_; }
  int chunks() const { return structure_.layout.C; }
  const std::vector<int>& begin() const { return begin_; }
  const std::vector<int>& first() const { return first_; }
  const std::vector<int>& clipped_first() const { return clipped_first_; }
  const std::vector<int>& reduced_first() const { return reduced_first_; }
  const std::vector<std::int64_t>& offset() const { return offset_; }
  const std::vector<std::int64_t>& clipped_offset() const { return clipped_offset_; }
  const std::vector<std::int64_t>& reduced_offset() const { return reduced_offset_; }

 private:
  std::vector<int> begin_, first_, clipped_first_, reduced_first_;
  std::vector<std::int64_t> offset_, clipped_offset_, reduced_offset_;
  std::int64_t size_ = 0, reduced_size_ = 0;
  Structure structure_;
};

}  // namespace mech::neurlp_chunked
