// Dense reference backend of NeuRLP (see neurlp_dense.h): the tests' oracle.
#include "solvers/neurlp_dense.h"

#include <cmath>
#include <memory>

#include "core/error.h"
#include "solvers/hermite4_dense.h"

namespace mech::neurlp_core {
namespace {

// A dense copy of the problem: rows of A over the columns (eps?, u...), b, and the row metadata.
struct DenseProblem {
  int columns = 0;          // 1 + n with eps, n without
  int offset_u = 0;         // column of u[0]
  std::vector<double> a;    // rows x columns
  std::vector<double> b;
  std::vector<Row<double>> rows;
};

DenseProblem build(const Sizes& sizes, const SystemInputs<double>& inputs) {
  DenseProblem problem;
  const int n = sizes.unknowns();
  problem.offset_u = sizes.has_eps() ? 1 : 0;
  problem.columns = n + problem.offset_u;
  auto row = std::make_unique<Row<double>>();
  for (int t = 0; t < sizes.T; ++t) {
    rows_at(sizes, inputs, t, *row, [&](const Row<double>& r) {
      problem.rows.push_back(r);
      std::vector<double> dense(problem.columns, 0.0);
      if (sizes.has_eps()) dense[0] = r.eps_coef;
      for (int p = 0; p < r.count; ++p) dense[problem.offset_u + r.col[p]] += r.value[p];
      problem.a.insert(problem.a.end(), dense.begin(), dense.end());
      problem.b.push_back(r.rhs);
    });
  }
  return problem;
}

// Dense Cholesky of the columns x columns matrix, in place (lower triangle).
void cholesky(std::vector<double>& matrix, int size) {
  for (int j = 0; j < size; ++j) {
    double pivot = matrix[j * size + j];
    for (int k = 0; k < j; ++k) pivot -= matrix[j * size + k] * matrix[j * size + k];
    if (!(pivot > 0.0))
      throw SolverError(fmt::format("neurlp (dense reference): the normal matrix is not positive "
                                    "definite: pivot {} at column {}", pivot, j), 0);
    const double root = std::sqrt(pivot);
    matrix[j * size + j] = root;
    for (int i = j + 1; i < size; ++i) {
      double sum = matrix[i * size + j];
      for (int k = 0; k < j; ++k) sum -= matrix[i * size + k] * matrix[j * size + k];
      matrix[i * size + j] = sum / root;
    }
  }
}

void cholesky_solve(const std::vector<double>& factor, int size, std::vector<double>& x) {
  for (int i = 0; i < size; ++i) {
    double sum = x[i];
    for (int k = 0; k < i; ++k) sum -= factor[i * size + k] * x[k];
    x[i] = sum / factor[i * size + i];
  }
  for (int i = size - 1; i >= 0; --i) {
    double sum = x[i];
    for (int k = i + 1; k < size; ++k) sum -= factor[k * size + i] * x[k];
    x[i] = sum / factor[i * size + i];
  }
}

std::vector<double> normal_matrix(const DenseProblem& problem) {
  const int columns = problem.columns;
  const int rows = static_cast<int>(problem.b.size());
  std::vector<double> m(static_cast<std::size_t>(columns) * columns, 0.0);
  for (int r = 0; r < rows; ++r) {
    const double* a = problem.a.data() + static_cast<std::size_t>(r) * columns;
    for (int i = 0; i < columns; ++i) {
      if (a[i] == 0.0) continue;
      for (int j = 0; j < columns; ++j) m[i * columns + j] += a[i] * a[j];
    }
  }
  return m;
}

std::vector<double> solve_normal(const Sizes& sizes, const DenseProblem& problem,
                                 std::vector<double>& factor) {
  const int columns = problem.columns;
  const int rows = static_cast<int>(problem.b.size());
  factor = normal_matrix(problem);
  std::vector<double> y(columns, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < columns; ++i) y[i] += problem.a[static_cast<std::size_t>(r) * columns + i] * problem.b[r];
  if (sizes.has_eps()) y[0] += sizes.gamma_alpha;
  cholesky(factor, columns);
  cholesky_solve(factor, columns, y);
  return y;
}

}  // namespace

DenseSolution dense_forward(const Sizes& sizes, const SystemInputs<double>& inputs) {
  if (sizes.formulation == Formulation::Hermite4) return hermite4::dense_forward(sizes, inputs);
  DenseProblem problem = build(sizes, inputs);
  std::vector<double> factor;
  std::vector<double> y = solve_normal(sizes, problem, factor);
  DenseSolution solution;
  solution.eps = sizes.has_eps() ? y[0] : 0.0;
  solution.u.assign(y.begin() + problem.offset_u, y.end());
  return solution;
}

void dense_backward(const Sizes& sizes, const SystemInputs<double>& inputs, const double* grad_u,
                    double grad_eps, const SystemGradients<double>& gradients) {
  // hermite4 has no eps: grad_eps has nothing to reach.
  if (sizes.formulation == Formulation::Hermite4) return hermite4::dense_backward(sizes, inputs, grad_u, gradients);
  DenseProblem problem = build(sizes, inputs);
  std::vector<double> factor;
  const std::vector<double> y = solve_normal(sizes, problem, factor);
  const int columns = problem.columns;
  const int n = sizes.unknowns();
  std::vector<double> v(columns);
  if (sizes.has_eps()) v[0] = grad_eps;
  for (int i = 0; i < n; ++i) v[problem.offset_u + i] = grad_u[i];
  cholesky_solve(factor, columns, v);
  const int rows = static_cast<int>(problem.b.size());
  const int m = sizes.block();
  for (int i = 0; i < (sizes.T - 1) * sizes.D; ++i) gradients.steps[i] = 0.0;
  for (int r = 0; r < rows; ++r) {
    const double* a = problem.a.data() + static_cast<std::size_t>(r) * columns;
    double ay = 0.0, av = 0.0;
    for (int i = 0; i < columns; ++i) {
      ay += a[i] * y[i];
      av += a[i] * v[i];
    }
    const double residual = problem.b[r] - ay;
    const Row<double>& row = problem.rows[r];
    auto dA = [&](int p) {
      const int c = problem.offset_u + row.col[p];
      return residual * v[c] - av * y[c];
    };
    switch (row.kind) {
      case RowKind::Equation:
        gradients.rhs[row.index] = av * row.weight;
        for (int p = 0; p < row.count; ++p) gradients.coeffs[row.index * m + p] = dA(p) * row.weight;
        break;
      case RowKind::Initial:
        gradients.iv[row.index] = av * row.weight;
        break;
      case RowKind::Smooth: {
        double total = 0.0;
        for (int p = 0; p < row.count; ++p) total += dA(p) * row.dvalue[p];
        for (int s = 0; s < row.step_count; ++s) gradients.steps[row.step_index[s]] += total;
        break;
      }
      case RowKind::Derived:   // hermite4's rows only (hermite4_dense.cpp)
        break;
    }
  }
}

}  // namespace mech::neurlp_core
