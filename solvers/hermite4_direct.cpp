// Direct (block-elimination) and mixed-precision solves of square hermite4 systems; see
// hermite4_direct.h for the block structure and when to use which.
#include "solvers/hermite4_direct.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/parallel.h"

namespace mech::neurlp_core::hermite4 {

namespace {

// ---- dense m x m blocks, row-major ----------------------------------------------------------

// In-place LU with partial pivoting; false when a pivot is below m * eps * (largest entry).
template <class S>
bool lu_factor(int m, S* a, int* pivot) {
  S largest = 0;
  for (int i = 0; i < m * m; ++i) largest = std::max(largest, S(std::abs(a[i])));
  const S tolerance = S(m) * std::numeric_limits<S>::epsilon() * largest;
  for (int k = 0; k < m; ++k) {
    int best = k;
    for (int i = k + 1; i < m; ++i)
      if (std::abs(a[i * m + k]) > std::abs(a[best * m + k])) best = i;
    pivot[k] = best;
    if (!(std::abs(a[best * m + k]) > tolerance)) return false;
    if (best != k)
      for (int j = 0; j < m; ++j) std::swap(a[k * m + j], a[best * m + j]);
    const S inverse = S(1) / a[k * m + k];
    for (int i = k + 1; i < m; ++i) {
      const S factor = a[i * m + k] * inverse;
      a[i * m + k] = factor;
      for (int j = k + 1; j < m; ++j) a[i * m + j] -= factor * a[k * m + j];
    }
  }
  return true;
}

// x <- A^{-1} x
template <class S>
void lu_solve(int m, const S* lu, const int* pivot, S* x) {
  for (int k = 0; k < m; ++k)
    if (pivot[k] != k) std::swap(x[k], x[pivot[k]]);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < i; ++j) x[i] -= lu[i * m + j] * x[j];
  for (int i = m - 1; i >= 0; --i) {
    for (int j = i + 1; j < m; ++j) x[i] -= lu[i * m + j] * x[j];
    x[i] /= lu[i * m + i];
  }
}

// x <- A^{-T} x  (A = P^T L U, so A^T = U^T L^T P)
template <class S>
void lu_solve_transposed(int m, const S* lu, const int* pivot, S* x) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < i; ++j) x[i] -= lu[j * m + i] * x[j];
    x[i] /= lu[i * m + i];
  }
  for (int i = m - 1; i >= 0; --i)
    for (int j = i + 1; j < m; ++j) x[i] -= lu[j * m + i] * x[j];
  for (int k = m - 1; k >= 0; --k)
    if (pivot[k] != k) std::swap(x[k], x[pivot[k]]);
}

// ---- block rows -------------------------------------------------------------------------------

// Calls place(block_row, local_row, row) for every row owned by time t: equation, derived
// and initial rows go to block row t, the step rows t -> t+1 to block row t+1 (see the header).
template <bool Derivatives = false, class R, class Place>
void block_rows(const Sizes& z, const SystemInputs<R>& in, int t, Stencil<R>& stencil, Row<R>& row, Place&& place) {
  const int D = z.D, P = z.K - 1, DP = D * P;
  int step = 0;
  rows_at<Derivatives>(z, in, t, stencil, row, [&](const Row<R>& r) {
    const int e = r.index / z.T;
    switch (r.kind) {
      case RowKind::Equation: place(t, t == 0 ? e : DP + e, r); break;
      case RowKind::Derived: place(t, t == 0 ? D + e : DP + D + e, r); break;
      case RowKind::Initial: place(t, 2 * D + r.index, r); break;   // t = 0: r.index = d*P + i
      case RowKind::Smooth: place(t + 1, step++, r); break;   // the step rows t -> t+1
    }
  });
}

// Assembles and factors every block of one system (S: factor type, R: input type) and marches the
// solution into y (S). Returns -1, or the time whose block is singular.
template <class S, class R>
int factor_and_solve(const Sizes& z, const SystemInputs<R>& in, S* lu, S* lower, int* pivot, S* y) {
  const int m = latent_block(z), T = z.T;
  const std::int64_t mm = std::int64_t(m) * m;
  Row<R> row;
  Stencil<R> stencil;
  std::fill(lu, lu + mm, S(0));
  std::fill(y, y + m, S(0));
  for (int t = 0; t < T; ++t) {
    if (t + 1 < T) {
      std::fill(lu + (t + 1) * mm, lu + (t + 2) * mm, S(0));
      std::fill(lower + (t + 1) * mm, lower + (t + 2) * mm, S(0));
      std::fill(y + (t + 1) * m, y + (t + 2) * m, S(0));
    }
    block_rows(z, in, t, stencil, row, [&](int block, int local, const Row<R>& r) {
      S* diagonal = lu + block * mm + std::int64_t(local) * m;
      S* sub = lower + block * mm + std::int64_t(local) * m;
      for (int p = 0; p < r.count; ++p) {
        const int column = r.col[p] - block * m;
        if (column >= 0) diagonal[column] = S(r.value[p]);
        else sub[column + m] = S(r.value[p]);
      }
      y[block * m + local] = S(r.rhs);
    });
    S* yt = y + t * m;
    if (t > 0) {
      const S* sub = lower + t * mm;
      const S* previous = y + (t - 1) * m;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) yt[i] -= sub[i * m + j] * previous[j];
    }
    if (!lu_factor(m, lu + t * mm, pivot + t * m)) return t;
    lu_solve(m, lu + t * mm, pivot + t * m, yt);
  }
  return -1;
}

// x <- A^{-1} x by marching with the factored blocks.
template <class S>
void march(const Sizes& z, const S* lu, const S* lower, const int* pivot, S* x) {
  const int m = latent_block(z);
  const std::int64_t mm = std::int64_t(m) * m;
  for (int t = 0; t < z.T; ++t) {
    S* xt = x + t * m;
    if (t > 0) {
      const S* sub = lower + t * mm;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) xt[i] -= sub[i * m + j] * x[(t - 1) * m + j];
    }
    lu_solve(m, lu + t * mm, pivot + t * m, xt);
  }
}

// x <- A^{-T} x by the reverse march.
template <class S>
void march_transposed(const Sizes& z, const S* lu, const S* lower, const int* pivot, S* x) {
  const int m = latent_block(z);
  const std::int64_t mm = std::int64_t(m) * m;
  for (int t = z.T - 1; t >= 0; --t) {
    S* xt = x + t * m;
    if (t + 1 < z.T) {
      const S* sub = lower + (t + 1) * mm;   // B_{t+1}^T lambda_{t+1}
      for (int j = 0; j < m; ++j) {
        S total = 0;
        for (int i = 0; i < m; ++i) total += sub[i * m + j] * x[(t + 1) * m + i];
        xt[j] -= total;
      }
    }
    lu_solve_transposed(m, lu + t * mm, pivot + t * m, xt);
  }
}

template <class T>
SystemInputs<T> system_inputs(const Sizes& z, const BatchInputs<T>& in, std::int64_t b) {
  const std::int64_t nc = std::int64_t(z.E) * z.T * z.D * z.K, nr = std::int64_t(z.E) * z.T,
                     ni = std::int64_t(z.S) * z.D * z.n_iv, ns = std::int64_t(z.T - 1) * z.D;
  return {in.coeffs + b * nc, in.rhs + b * nr, ni > 0 ? in.iv + b * ni : nullptr, in.steps + b * ns};
}

void check_square(const Sizes& z, std::int64_t batch, const char* op) {
  MECH_CHECK(z.formulation == Formulation::Hermite4, "{}: expected the hermite4 formulation", op);
  neurlp_core::check_sizes(z, op);
  MECH_CHECK(is_square(z),
             "{}: the direct hermite4 solve needs a square system (E = D equations and P initial values at the "
             "first point: S = 1, n_iv = P); got E = {}, D = {}, S = {}, n_iv = {}, P = {}",
             op, z.E, z.D, z.S, z.n_iv, z.K - 1);
  MECH_CHECK(batch >= 1, "{}: expected a batch of at least 1 system, got {}", op, batch);
}

std::string singular_message(int t, const char* precision) {
  return fmt::format(
      "the square system is singular at t={} (an LU pivot of the {} block elimination vanished); the equations "
      "must fix the highest derivative (c_P(t) != 0 at every t)",
      t, precision);
}

template <class T>
void write_u(const Sizes& z, const T* y, T* u) {
  const int K = z.K, L = K + 1;
  const std::int64_t rows = std::int64_t(z.T) * z.D;
  for (std::int64_t r = 0; r < rows; ++r)
    for (int k = 0; k < K; ++k) u[r * K + k] = y[r * L + k];
}

// Runs body(b) over the batch in parallel; the first failure (lowest element) is thrown as the
// batch driver's are (solvers/neurlp_errors.h).
template <class Body>
void for_each_system(std::int64_t batch, Body&& body) {
  std::vector<std::string> errors(batch);
  parallel_for(0, batch, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) errors[b] = body(b);
  });
  for (std::int64_t b = 0; b < batch; ++b)
    if (!errors[b].empty()) throw_system_error("neurlp", b, errors[b]);
}

}  // namespace

template <class T>
DirectFactorization<T>::DirectFactorization(const Sizes& sizes, std::int64_t batch)
    : sizes_(sizes), batch_(batch), block_(latent_block(sizes)) {
  per_blocks_ = std::int64_t(sizes.T) * block_ * block_;
  per_vector_ = std::int64_t(sizes.T) * block_;
  lu_.resize(batch * per_blocks_);
  lower_.resize(batch * per_blocks_);
  y_.resize(batch * per_vector_);
  pivots_.resize(batch * per_vector_);
}

template <class T>
std::shared_ptr<DirectFactorization<T>> direct_forward_batch(const Sizes& z, std::int64_t batch,
                                                             const BatchInputs<T>& in, T* u) {
  check_square(z, batch, "neurlp hermite4 direct");
  MECH_CHECK(in.coeffs && in.rhs && in.iv && in.steps && u, "neurlp hermite4 direct: null input or output");
  auto kept = std::make_shared<DirectFactorization<T>>(z, batch);
  const std::int64_t count = std::int64_t(z.T) * z.D * z.K;
  for_each_system(batch, [&](std::int64_t b) -> std::string {
    if (const InputStatus bad = validate_system(z, system_inputs(z, in, b)); bad.fault != InputFault::None)
      return input_message(z, bad);
    const int failed = factor_and_solve(z, system_inputs(z, in, b), kept->lu(b), kept->lower(b), kept->pivots(b),
                                        kept->y(b));
    if (failed >= 0) return singular_message(failed, sizeof(T) == 4 ? "float32" : "float64");
    write_u(z, kept->y(b), u + b * count);
    return {};
  });
  return kept;
}

template <class T>
void direct_backward_batch(const DirectFactorization<T>& kept, const BatchInputs<T>& in, const T* grad_u,
                           const BatchGradients<T>& out) {
  const Sizes& z = kept.sizes();
  MECH_CHECK(grad_u, "neurlp hermite4 direct backward: grad_u must not be null");
  const std::int64_t count = std::int64_t(z.T) * z.D * z.K, n = latent_unknowns(z);
  const std::int64_t nc = std::int64_t(z.E) * z.T * z.D * z.K, nr = std::int64_t(z.E) * z.T,
                     ni = std::int64_t(z.S) * z.D * z.n_iv, ns = std::int64_t(z.T - 1) * z.D;
  for_each_system(kept.batch(), [&](std::int64_t b) -> std::string {
    std::vector<T> v(n, T(0));
    const int K = z.K, L = K + 1;
    for (std::int64_t r = 0; r < std::int64_t(z.T) * z.D; ++r)
      for (int k = 0; k < K; ++k) v[r * L + k] = grad_u[b * count + r * K + k];
    march_transposed(z, kept.lu(b), kept.lower(b), kept.pivots(b), v.data());   // lambda = dL/db, block-row order
    const SystemGradients<T> grads{out.coeffs ? out.coeffs + b * nc : nullptr, out.rhs ? out.rhs + b * nr : nullptr,
                                   out.iv && ni > 0 ? out.iv + b * ni : nullptr,
                                   out.steps ? out.steps + b * ns : nullptr};
    zero_gradients(z, grads);
    Row<T> row;
    Stencil<T> stencil;
    const SystemInputs<T> inputs = system_inputs(z, in, b);
    const int m = latent_block(z);
    // The residual is zero and dL/db[r] = lambda[r] is known: dL/dA[r][c] = -lambda[r] y[c]. Using
    // lambda itself (rather than A (A^{-1} lambda), as the least-squares chain rule would) keeps
    // the float32 gradients at the forward's accuracy.
    for (int t = 0; t < z.T; ++t)
      block_rows<true>(z, inputs, t, stencil, row, [&](int block, int local, const Row<T>& r) {
        row_gradient(z, inputs, t, stencil, r, kept.y(b), static_cast<const T*>(nullptr), T(0),
                     v[block * m + local], grads);
      });
    return {};
  });
}

void mixed_forward_batch(const Sizes& z, std::int64_t batch, const BatchInputs<double>& in, double* u,
                         int refinements) {
  check_square(z, batch, "neurlp hermite4 mixed");
  MECH_CHECK(in.coeffs && in.rhs && in.iv && in.steps && u, "neurlp hermite4 mixed: null input or output");
  MECH_CHECK(refinements >= 0, "neurlp hermite4 mixed: refinements must be >= 0, got {}", refinements);
  const int m = latent_block(z);
  const std::int64_t n = latent_unknowns(z), mm = std::int64_t(m) * m, count = std::int64_t(z.T) * z.D * z.K;
  for_each_system(batch, [&](std::int64_t b) -> std::string {
    if (const InputStatus bad = validate_system(z, system_inputs(z, in, b)); bad.fault != InputFault::None)
      return input_message(z, bad);
    std::vector<float> lu(z.T * mm), lower(z.T * mm), correction(n);
    std::vector<int> pivot(n);
    const SystemInputs<double> inputs = system_inputs(z, in, b);
    const int failed = factor_and_solve(z, inputs, lu.data(), lower.data(), pivot.data(), correction.data());
    if (failed >= 0) return singular_message(failed, "float32");
    std::vector<double> y(correction.begin(), correction.end()), residual(n);
    Row<double> row;
    Stencil<double> stencil;
    for (int pass = 0; pass < refinements; ++pass) {
      // residual b - A y in float64, in block-row order
      for (int t = 0; t < z.T; ++t)
        block_rows(z, inputs, t, stencil, row, [&](int block, int local, const Row<double>& r) {
          double value = r.rhs;
          for (int p = 0; p < r.count; ++p) value -= r.value[p] * y[r.col[p]];
          residual[block * m + local] = value;
        });
      for (std::int64_t i = 0; i < n; ++i) correction[i] = static_cast<float>(residual[i]);
      march(z, lu.data(), lower.data(), pivot.data(), correction.data());
      for (std::int64_t i = 0; i < n; ++i) y[i] += correction[i];
    }
    write_u(z, y.data(), u + b * count);
    return {};
  });
}

template class DirectFactorization<double>;
template class DirectFactorization<float>;
template std::shared_ptr<DirectFactorization<double>> direct_forward_batch<double>(const Sizes&, std::int64_t,
                                                                                   const BatchInputs<double>&,
                                                                                   double*);
template std::shared_ptr<DirectFactorization<float>> direct_forward_batch<float>(const Sizes&, std::int64_t,
                                                                                 const BatchInputs<float>&, float*);
template void direct_backward_batch<double>(const DirectFactorization<double>&, const BatchInputs<double>&,
                                            const double*, const BatchGradients<double>&);
template void direct_backward_batch<float>(const DirectFactorization<float>&, const BatchInputs<float>&,
                                           const float*, const BatchGradients<float>&);

}  // namespace mech::neurlp_core::hermite4
