// The envelope (skyline) Cholesky engine of NeuRLP, formulation-blind: the envelope of the normal
// matrix, its in-place factorisation L L^T with the relative pivot test, and the forward and back
// substitutions with L (solvers/README.md, "The normal equations and the envelope Cholesky").
// Written once for a scalar or lane pack S, with no allocation, exceptions or virtual calls.
//
// Row i of M_uu is kept from its first structurally non-zero column first[i] to the diagonal;
// Cholesky fill stays inside the envelope, so L is stored in place:
//     L[i][j] = (M[i][j] - sum_{k=max(first i, first j)}^{j-1} L[i][k] L[j][k]) / L[j][j]
//     L[i][i] = sqrt(M[i][i] - sum_k L[i][k]^2)   (the pivot must be > tol * M[i][i], else singular)
#pragma once

#include <cstdint>

#include "solvers/lane_pack.h"

namespace mech::neurlp_core {

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

// offset[i] from first[]; returns the total size.
MECH_HOST_DEVICE inline std::int64_t envelope_offsets(int n, const int* first, std::int64_t* offset) {
  std::int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    offset[i] = total;
    total += i - first[i] + 1;
  }
  return total;
}

// The status of unknown `index`'s failed pivot in `lane`: tiny (positive but below the tolerance)
// or not positive at all.
template <class S>
MECH_HOST_DEVICE FactorStatus pivot_failure(const S& pivot, const S& diagonal, int index, int lane) {
  FactorStatus status;
  status.pivot = static_cast<double>(lane_get(pivot, lane));
  status.diagonal = static_cast<double>(lane_get(diagonal, lane));
  status.status = status.pivot > 0 ? Status::PivotTiny : Status::PivotNotPositive;
  status.index = index;
  status.lane = lane;
  return status;
}

// ---- factorisation and substitution -----------------------------------------------------------

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
    if (lane >= 0) return pivot_failure(pivot, diagonal, i, lane);
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

// The pivot of a border (mnn's eps column) eliminated after M_uu: schur = a - q.q, checked like the
// others against its diagonal a.
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

}  // namespace mech::neurlp_core
