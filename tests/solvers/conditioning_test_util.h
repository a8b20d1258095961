// Condition numbers of test problems' normal matrices, for accuracy bounds of float32 solves that
// rest on the problem rather than on a measured error: a backward-stable solve of M x = g in
// precision u has, to first order, ||x_computed - x|| <= c kappa_2(M) u ||x|| (Higham, Accuracy and
// Stability of Numerical Algorithms, 2nd ed., sections 7.1 and 10.1). M = A^T A is formed densely
// in float64 from the solvers' own row generators (mnn and scalable: solvers/neurlp_rows.h, with
// the eps column; hermite4: solvers/hermite4_rows.h, with the latent derivative), and kappa_2 is
// the ratio of its extreme eigenvalues (cyclic Jacobi: accurate for these symmetric n <= ~100).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "solvers/neurlp_system.h"

namespace mech::neurlp_core::testing {

// The unit roundoff of float32, 2^-24.
constexpr double kFloat32Unit = 0x1p-24;

// M = A^T A of one system (n x n, row-major; n = T*D*K, + 1 leading eps column for mnn, or
// T*D*(K+1) for hermite4), with A's rows exactly as the solvers generate them.
inline std::vector<double> normal_matrix(const Sizes& z, const SystemInputs<double>& in, int& n) {
  std::vector<double> M;
  auto add = [&](const Row<double>& r, int offset, double eps_coef) {
    std::vector<double> dense(static_cast<std::size_t>(n), 0.0);
    if (offset > 0) dense[0] = eps_coef;
    for (int p = 0; p < r.count; ++p) dense[static_cast<std::size_t>(offset + r.col[p])] += r.value[p];
    for (int i = 0; i < n; ++i)
      if (dense[i] != 0.0)
        for (int j = 0; j < n; ++j) M[static_cast<std::size_t>(i) * n + j] += dense[i] * dense[j];
  };
  auto row = std::make_unique<Row<double>>();
  const int offset = z.has_eps() ? 1 : 0;
  n = z.unknowns() + offset;
  M.assign(static_cast<std::size_t>(n) * n, 0.0);
  auto add_rows = [&]<class Rows>() {
    typename Rows::template State<double> state{};
    for (int t = 0; t < z.T; ++t)
      Rows::template rows<false, 0, 0>(z, in, t, state, *row, [&](const Row<double>& r) { add(r, offset, r.eps_coef); });
  };
  if (z.formulation == Formulation::Hermite4) add_rows.template operator()<Hermite4Rows>();
  else add_rows.template operator()<TaylorRows>();
  return M;
}

// The eigenvalues of a symmetric n x n matrix (row-major), by cyclic Jacobi rotations.
inline std::vector<double> symmetric_eigenvalues(std::vector<double> a, int n) {
  auto at = [&](int i, int j) -> double& { return a[static_cast<std::size_t>(i) * n + j]; };
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0.0, total = 0.0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) (i == j ? total : off) += at(i, j) * at(i, j);
    if (off <= 1e-32 * (total + off)) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (at(p, q) == 0.0) continue;
        // The rotation that zeroes a_pq (Golub and Van Loan, section 8.5.2).
        const double theta = (at(q, q) - at(p, p)) / (2.0 * at(p, q));
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < n; ++k) {
          const double kp = at(k, p), kq = at(k, q);
          at(k, p) = c * kp - s * kq;
          at(k, q) = s * kp + c * kq;
        }
        for (int k = 0; k < n; ++k) {
          const double pk = at(p, k), qk = at(q, k);
          at(p, k) = c * pk - s * qk;
          at(q, k) = s * pk + c * qk;
        }
      }
  }
  std::vector<double> values(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) values[static_cast<std::size_t>(i)] = at(i, i);
  return values;
}

// kappa_2(M) of one system's normal matrix (infinite when M is singular).
inline double normal_matrix_condition(const Sizes& z, const SystemInputs<double>& in) {
  int n = 0;
  std::vector<double> M = normal_matrix(z, in, n);   // sets n: not in the same call's arguments
  const std::vector<double> values = symmetric_eigenvalues(std::move(M), n);
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  return *low > 0.0 ? *high / *low : INFINITY;
}

}  // namespace mech::neurlp_core::testing
