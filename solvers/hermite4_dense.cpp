// Dense reference of hermite4 (see hermite4_dense.h).
#include "solvers/hermite4_dense.h"

#include <cmath>

#include "core/error.h"
#include "solvers/hermite4_rows.h"

namespace mech::neurlp_core::hermite4 {
namespace {

// M = A^T A (n x n, row-major) and g = A^T b from every row.
void normal_equations(const Sizes& z, const SystemInputs<double>& in, std::vector<double>& M, std::vector<double>& g) {
  const std::size_t n = static_cast<std::size_t>(latent_unknowns(z));
  M.assign(n * n, 0.0);
  g.assign(n, 0.0);
  Row<double> row;
  Stencil<double> stencil;
  for (int t = 0; t < z.T; ++t)
    rows_at<false>(z, in, t, stencil, row, [&](const Row<double>& r) {
      for (int p = 0; p < r.count; ++p) {
        for (int q = 0; q < r.count; ++q) M[r.col[p] * n + r.col[q]] += r.value[p] * r.value[q];
        g[r.col[p]] += r.value[p] * r.rhs;
      }
    });
}

// Solves M x = rhs (M copied) by Gaussian elimination with partial pivoting.
std::vector<double> solve_dense(std::vector<double> M, std::vector<double> x) {
  const std::size_t n = x.size();
  double largest = 0.0;
  for (double value : M) largest = std::max(largest, std::abs(value));
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t pivot = k;
    for (std::size_t i = k + 1; i < n; ++i)
      if (std::abs(M[i * n + k]) > std::abs(M[pivot * n + k])) pivot = i;
    if (!(std::abs(M[pivot * n + k]) > 1e-14 * largest))
      throw SolverError(fmt::format("neurlp hermite4 (dense reference): batch element 0: the normal matrix is "
                                    "singular at column {} (pivot {})", k, M[pivot * n + k]),
                        0);
    if (pivot != k) {
      for (std::size_t j = 0; j < n; ++j) std::swap(M[k * n + j], M[pivot * n + j]);
      std::swap(x[k], x[pivot]);
    }
    for (std::size_t i = k + 1; i < n; ++i) {
      const double factor = M[i * n + k] / M[k * n + k];
      if (factor == 0.0) continue;
      for (std::size_t j = k; j < n; ++j) M[i * n + j] -= factor * M[k * n + j];
      x[i] -= factor * x[k];
    }
  }
  for (std::size_t i = n; i-- > 0;) {
    double sum = x[i];
    for (std::size_t j = i + 1; j < n; ++j) sum -= M[i * n + j] * x[j];
    x[i] = sum / M[i * n + i];
  }
  return x;
}

}  // namespace

DenseSolution dense_forward(const Sizes& z, const SystemInputs<double>& in) {
  std::vector<double> M, g;
  normal_equations(z, in, M, g);
  const std::vector<double> y = solve_dense(M, g);
  DenseSolution out;
  const int K = z.K, L = K + 1;
  out.u.resize(static_cast<std::size_t>(z.T) * z.D * K);
  for (std::size_t r = 0; r < static_cast<std::size_t>(z.T) * z.D; ++r)
    for (int k = 0; k < K; ++k) out.u[r * K + k] = y[r * L + k];
  out.eps = 0.0;
  return out;
}

void dense_backward(const Sizes& z, const SystemInputs<double>& in, const double* grad_u,
                    const SystemGradients<double>& out) {
  std::vector<double> M, g;
  normal_equations(z, in, M, g);
  const std::vector<double> y = solve_dense(M, g);
  const int K = z.K, L = K + 1;
  std::vector<double> ubar(y.size(), 0.0);
  for (std::size_t r = 0; r < static_cast<std::size_t>(z.T) * z.D; ++r)
    for (int k = 0; k < K; ++k) ubar[r * L + k] = grad_u[r * K + k];
  const std::vector<double> v = solve_dense(M, ubar);   // M symmetric: M^{-1} ubar
  zero_gradients(z, out);
  Row<double> row;
  Stencil<double> stencil;
  for (int t = 0; t < z.T; ++t)
    Sweeps<Hermite4Rows>::gradient_rows(z, in, t, stencil, row, y.data(), 0.0, v.data(), 0.0, out);
}

}  // namespace mech::neurlp_core::hermite4
