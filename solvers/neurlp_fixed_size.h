// The fixed-size fast path of the envelope Cholesky (solvers/neurlp_cholesky.h): away from the
// first blocks the envelope is periodic in time, with widths the formulation's rows fix (the row
// policy's Profile: solvers/neurlp_rows.h for mnn and scalable, solvers/hermite4_rows.h for
// hermite4). With D, K and the formulation fixed at compile time every loop bound of the
// factorisation and of the substitutions of such a block is a constant: the loops unroll into
// straight-line code with constant offsets from one row pointer per row, instead of the runtime-
// bounded loops of neurlp_cholesky.h (which stay in use for the first blocks and for other sizes).
// The per-system sweeps check that the envelope has these widths before taking this path
// (interior_shape). A Profile is any type with m, width(r), first(r) and first_at(x).
#pragma once

#include "solvers/neurlp_cholesky.h"
#include "solvers/neurlp_rows.h"

namespace mech::neurlp_core {

constexpr int kFirstInteriorBlock = 4;   // rows of blocks t-2 .. t must all be interior-shaped

// True when every block t >= 2 of the envelope has the widths of Profile.
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
    if (lane >= 0) return pivot_failure(pivot, diagonal, t * m + r, lane);
    const S inverse_root = lane_inverse_sqrt(pivot);   // off the divider (lane_pack.h)
    row_i[r] = pivot * inverse_root;
    inverse[r] = inverse_root;
  }
  return FactorStatus{};
}

// The substitution of one interior block t: forward (forward_substitute_rows: x <- L^{-1} x, rows
// ascending) or back (back_substitute_rows: x <- L^{-T} x, rows descending, later blocks done
// already); y likewise when given.
template <bool Forward, class Profile, class S>
MECH_HOST_DEVICE void substitute_interior_block(int t, const Envelope& envelope, const S* env,
                                                const S* inverse_diagonal, S* x, S* y = nullptr) {
  constexpr int m = Profile::m;
  S* rows[3 * m];
  interior_rows<m>(t, envelope, const_cast<S*>(env), rows);
  const S* inverse = inverse_diagonal + t * m;
  S* xt = x + t * m;
  S* yt = y ? y + t * m : nullptr;
  if constexpr (Forward) {
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
  } else {
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
}

// The block size of a fixed-size instance: FD*(FK + the policy's latent derivatives), 0 for none.
template <class Rows, int FD, int FK>
constexpr int fixed_block() {
  return FD > 0 && FK > 0 ? FD * (FK + Rows::kLatent) : 0;
}

// Whether blocks from kFirstInteriorBlock on can take the fixed-size code (FD, FK > 0 and the
// envelope has the interior widths of the policy's profile; O(n) integer compares, once per call).
template <class Rows, int FD, int FK>
MECH_HOST_DEVICE bool interior_shape(const Sizes& z, const Envelope& envelope) {
  if constexpr (FD > 0 && FK > 0) {
    return Rows::central(z)
               ? interior_profile_matches<typename Rows::template Profile<FD, FK, true>>(z.T, envelope)
               : interior_profile_matches<typename Rows::template Profile<FD, FK, false>>(z.T, envelope);
  } else {
    return false;
  }
}

// Block-wise entry points used by the per-system sweeps: with FD, FK > 0 and an interior-shaped
// envelope (`interior` true) blocks from kFirstInteriorBlock on take the fixed-size code,
// everything else the runtime-bounded rows. `begin`, `end` cover whole blocks [t0*m, t1*m).
template <class Rows, int FD, int FK, class S>
MECH_HOST_DEVICE FactorStatus factor_blocks(const Sizes& z, bool interior, int begin, int end,
                                            const Envelope& envelope, S* env, S* inverse_diagonal) {
  if constexpr (FD > 0 && FK > 0) {
    constexpr int m = fixed_block<Rows, FD, FK>();
    if (interior && begin >= kFirstInteriorBlock * m) {
      for (int t = begin / m; t < end / m; ++t) {
        const FactorStatus status =
            Rows::central(z)
                ? factor_interior_block<typename Rows::template Profile<FD, FK, true>>(t, envelope, env, inverse_diagonal)
                : factor_interior_block<typename Rows::template Profile<FD, FK, false>>(t, envelope, env, inverse_diagonal);
        if (status.status != Status::Ok) return status;
      }
      return FactorStatus{};
    }
  }
  return factor_rows(begin, end, envelope, env, inverse_diagonal);
}

// The substitutions of blocks [begin, end): forward (L^{-1}, ascending) or back (L^{-T},
// descending); the first blocks by rows, interior ones by the fixed-size code.
template <bool Forward, class Rows, int FD, int FK, class S>
MECH_HOST_DEVICE void substitute_blocks(const Sizes& z, bool interior, int begin, int end, const Envelope& envelope,
                                        const S* env, const S* inverse_diagonal, S* x, S* y) {
  if constexpr (FD > 0 && FK > 0) {
    constexpr int m = fixed_block<Rows, FD, FK>();
    if (interior) {
      const int split = begin > kFirstInteriorBlock * m ? begin : (end < kFirstInteriorBlock * m ? end : kFirstInteriorBlock * m);
      using Central = typename Rows::template Profile<FD, FK, true>;
      using Plain = typename Rows::template Profile<FD, FK, false>;
      const bool central = Rows::central(z);
      if constexpr (Forward) {
        forward_substitute_rows(begin, split, envelope, env, inverse_diagonal, x, y);
        for (int t = split / m; t < end / m; ++t) {
          if (central) substitute_interior_block<true, Central>(t, envelope, env, inverse_diagonal, x, y);
          else substitute_interior_block<true, Plain>(t, envelope, env, inverse_diagonal, x, y);
        }
      } else {
        for (int t = end / m - 1; t >= split / m; --t) {
          if (central) substitute_interior_block<false, Central>(t, envelope, env, inverse_diagonal, x, y);
          else substitute_interior_block<false, Plain>(t, envelope, env, inverse_diagonal, x, y);
        }
        back_substitute_rows(begin, split, envelope, env, inverse_diagonal, x, y);
      }
      return;
    }
  }
  if constexpr (Forward) forward_substitute_rows(begin, end, envelope, env, inverse_diagonal, x, y);
  else back_substitute_rows(begin, end, envelope, env, inverse_diagonal, x, y);
}

template <class Rows, int FD, int FK, class S>
MECH_HOST_DEVICE void forward_substitute_blocks(const Sizes& z, bool interior, int begin, int end,
                                                const Envelope& envelope, const S* env,
                                                const S* inverse_diagonal, S* x, S* y = nullptr) {
  substitute_blocks<true, Rows, FD, FK>(z, interior, begin, end, envelope, env, inverse_diagonal, x, y);
}

template <class Rows, int FD, int FK, class S>
MECH_HOST_DEVICE void back_substitute_blocks(const Sizes& z, bool interior, int begin, int end,
                                             const Envelope& envelope, const S* env,
                                             const S* inverse_diagonal, S* x, S* y = nullptr) {
  substitute_blocks<false, Rows, FD, FK>(z, interior, begin, end, envelope, env, inverse_diagonal, x, y);
}

}  // namespace mech::neurlp_core
