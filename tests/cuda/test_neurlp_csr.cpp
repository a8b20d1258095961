// The CSR form of the batch's normal matrix that the cuSPARSE comparison solver factors
// (solvers/neurlp_csr.h), checked on the CPU without a GPU: the pattern is well formed (monotone row
// offsets, sorted columns, diagonal last, lower triangular, block diagonal), and a zero-fill
// incomplete Cholesky on that pattern followed by the two triangular solves - what csric02 and
// SpSV do, written out here as a short reference - reproduces the solver's forward (u and eps) to
// 1e-10: so the pattern holds all of the Cholesky fill. Dropping the structural zeros from the
// pattern must break that (the reference is not blind to missing fill).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/neurlp_gpu_test_util.h"
#include "solvers/neurlp_batch.h"
#include "solvers/neurlp_csr.h"
#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_gpu {
namespace {

namespace core = mech::neurlp_core;
using namespace core::testing;   // Problem, random_problem, relative_error, sizes_of_order, ...

// A lower-triangular CSR matrix with sorted columns and the diagonal last in each row.
struct Csr {
  std::vector<int> row_offsets, columns;
  std::vector<double> values;
  int rows() const { return static_cast<int>(row_offsets.size()) - 1; }
};

// Zero-fill incomplete Cholesky in place (L L^T = A on the pattern; entries outside it dropped):
//   L[i][j] = (A[i][j] - sum_{k<j, (i,k) and (j,k) stored} L[i][k] L[j][k]) / L[j][j]
//   L[i][i] = sqrt(A[i][i] - sum_{k<i} L[i][k]^2)
void incomplete_cholesky(Csr& a) {
  std::vector<std::int64_t> position(static_cast<std::size_t>(a.rows()), -1);   // of row i's columns
  for (int i = 0; i < a.rows(); ++i) {
    const int begin = a.row_offsets[i], end = a.row_offsets[i + 1];
    for (int p = begin; p < end; ++p) position[static_cast<std::size_t>(a.columns[p])] = p;
    for (int p = begin; p < end - 1; ++p) {
      const int j = a.columns[p];
      double sum = a.values[p];
      for (int r = a.row_offsets[j]; r < a.row_offsets[j + 1] - 1; ++r) {
        const std::int64_t q = position[static_cast<std::size_t>(a.columns[r])];
        if (q >= 0 && q < p) sum -= a.values[static_cast<std::size_t>(q)] * a.values[r];
      }
      a.values[p] = sum / a.values[a.row_offsets[j + 1] - 1];
    }
    double pivot = a.values[end - 1];
    for (int p = begin; p < end - 1; ++p) pivot -= a.values[p] * a.values[p];
    ASSERT_GT(pivot, 0.0) << "row " << i;
    a.values[end - 1] = std::sqrt(pivot);
    for (int p = begin; p < end; ++p) position[static_cast<std::size_t>(a.columns[p])] = -1;
  }
}

// x <- L^{-T} L^{-1} x with the factor from incomplete_cholesky.
void cholesky_solve(const Csr& l, std::vector<double>& x) {
  for (int i = 0; i < l.rows(); ++i) {
    const int end = l.row_offsets[i + 1] - 1;
    double sum = x[i];
    for (int p = l.row_offsets[i]; p < end; ++p) sum -= l.values[p] * x[l.columns[p]];
    x[i] = sum / l.values[end];
  }
  for (int i = l.rows() - 1; i >= 0; --i) {
    const int end = l.row_offsets[i + 1] - 1;
    x[i] /= l.values[end];
    for (int p = l.row_offsets[i]; p < end; ++p) x[l.columns[p]] -= l.values[p] * x[i];
  }
}

std::string describe(const core::Sizes& z, std::int64_t batch) {
  return std::string(z.has_eps() ? "mnn" : "scalable") + " P=" + std::to_string(z.K - 1) + " D=" +
         std::to_string(z.D) + " T=" + std::to_string(z.T) + " B=" + std::to_string(batch);
}

// The batch's CSR matrix and right-hand side.
Csr assemble_csr(const Problem& p, const core::EnvelopePlan& plan, std::vector<double>& rhs) {
  const CsrPattern pattern = csr_pattern(p.sizes, plan.envelope(), p.batch);
  Csr csr{pattern.row_offsets, pattern.columns, std::vector<double>(pattern.columns.size())};
  rhs.assign(static_cast<std::size_t>(pattern.layout.rows()), 0.0);
  csr_batch_values(p.sizes, plan.envelope(), p.batch, p.inputs(), csr.values.data(), rhs.data());
  return csr;
}

TEST(NeurlpCsr, PatternIsWellFormedLowerTriangularAndBlockDiagonal) {
  for (auto formulation : {core::Formulation::Mnn, core::Formulation::Scalable}) {
    for (int order = 1; order <= 3; ++order) {
      for (int D = 1; D <= 2; ++D) {
        const core::Sizes z = core::testing::sizes_of_order(order, D, formulation, 9);
        const core::EnvelopePlan plan(z);
        const std::int64_t batch = 3;
        const CsrPattern pattern = csr_pattern(z, plan.envelope(), batch);
        const CsrLayout& l = pattern.layout;
        const std::string what = describe(z, batch);
        const int n = z.unknowns();
        ASSERT_EQ(l.system_rows, n + (z.has_eps() ? 1 : 0)) << what;
        ASSERT_EQ(l.system_nonzeros, plan.size() + (z.has_eps() ? n + 1 : 0)) << what;
        ASSERT_EQ(pattern.row_offsets.size(), static_cast<std::size_t>(batch * l.system_rows + 1)) << what;
        ASSERT_EQ(pattern.row_offsets.front(), 0) << what;
        ASSERT_EQ(pattern.row_offsets.back(), static_cast<int>(pattern.columns.size())) << what;
        ASSERT_EQ(static_cast<std::int64_t>(pattern.columns.size()), l.nonzeros()) << what;
        for (int r = 0; r < l.rows(); ++r) {
          const int begin = pattern.row_offsets[r], end = pattern.row_offsets[r + 1];
          ASSERT_LT(begin, end) << what << ": row " << r << " is empty";
          ASSERT_EQ(pattern.columns[end - 1], r) << what << ": the diagonal must end row " << r;
          const int block_start = r / l.system_rows * l.system_rows;
          ASSERT_GE(pattern.columns[begin], block_start) << what << ": row " << r << " leaves its system";
          for (int p = begin + 1; p < end; ++p)
            ASSERT_LT(pattern.columns[p - 1], pattern.columns[p]) << what << ": row " << r << " unsorted";
          // Rows of M_uu span exactly their envelope; the eps row is full.
          const int local = r - block_start;
          const int expected_first = local < n ? plan.envelope().first[local] : 0;
          ASSERT_EQ(pattern.columns[begin], block_start + expected_first) << what << ": row " << r;
        }
      }
    }
  }
}

TEST(NeurlpCsr, CholeskyOnThePatternReproducesTheSolverForward) {
  unsigned seed = 100;
  for_each_formulation_order_and_dimension(3, 23, [&](const core::Sizes& z, const std::string&) {
    const std::int64_t batch = 4;
    // Steps near 0.5 keep cond(M) below ~1e6 (tests/cuda/test_neurlp_cuda.cpp): two orders of
    // evaluation of the same factorisation then agree to ~1e-11.
    const Problem problem = random_problem(z, batch, ++seed, 0.3, 0.7);
    const std::string what = describe(z, batch);
    const int n = z.unknowns();
    std::vector<double> u(static_cast<std::size_t>(batch * n)), eps(static_cast<std::size_t>(batch));
    core::forward_batch<double>(z, batch, problem.inputs(), u.data(), eps.data(), false);

    const core::EnvelopePlan plan(z);
    std::vector<double> solution;
    Csr csr = assemble_csr(problem, plan, solution);
    incomplete_cholesky(csr);
    cholesky_solve(csr, solution);
    const CsrLayout layout = csr_layout(z, plan.size(), batch);
    std::vector<double> u_csr(u.size()), eps_csr(eps.size(), -1.0);
    csr_split_solution(layout, solution.data(), u_csr.data(), eps_csr.data());
    EXPECT_LE(relative_error(u_csr, u), 1e-10) << what << ": u";
    if (z.has_eps()) {
      EXPECT_LE(relative_error(eps_csr, eps), 1e-10) << what << ": eps";
      EXPECT_GT(core::testing::max_abs(eps), 0.0) << what << ": eps is exercised";
    } else {
      EXPECT_EQ(core::testing::max_abs(eps_csr), 0.0) << what;
    }
  });
}

// Without the explicitly stored structural zeros the zero-fill factorisation drops real fill and
// the solution moves: the stored zeros are what makes csric02 exact.
TEST(NeurlpCsr, DroppingTheStructuralZerosLosesFill) {
  const core::Sizes z = core::testing::sizes_of_order(2, 1, core::Formulation::Mnn, 23);
  const Problem problem = random_problem(z, 2, 7, 0.3, 0.7);
  const core::EnvelopePlan plan(z);
  std::vector<double> exact, dropped;
  Csr csr = assemble_csr(problem, plan, exact);
  dropped = exact;
  Csr sparse;
  sparse.row_offsets.push_back(0);
  int zeros = 0;
  for (int r = 0; r < csr.rows(); ++r) {
    for (int p = csr.row_offsets[r]; p < csr.row_offsets[r + 1]; ++p) {
      if (csr.values[p] == 0.0 && csr.columns[p] != r) {
        ++zeros;
        continue;
      }
      sparse.columns.push_back(csr.columns[p]);
      sparse.values.push_back(csr.values[p]);
    }
    sparse.row_offsets.push_back(static_cast<int>(sparse.columns.size()));
  }
  ASSERT_GT(zeros, 0) << "the mnn envelope has structural zeros (central rows reach two blocks back)";
  incomplete_cholesky(csr);
  cholesky_solve(csr, exact);
  incomplete_cholesky(sparse);
  cholesky_solve(sparse, dropped);
  EXPECT_GT(relative_error(dropped, exact), 1e-6);
}

TEST(NeurlpCsr, RejectsBadInputsAndOversizedBatches) {
  const core::Sizes z = core::testing::sizes_of_order(2, 1, core::Formulation::Mnn, 10);
  Problem problem = random_problem(z, 3, 11, 0.3, 0.7);
  problem.steps[problem.steps.size() - 1] = -0.1;   // the last system's last step
  const core::EnvelopePlan plan(z);
  const CsrLayout layout = csr_layout(z, plan.size(), problem.batch);
  std::vector<double> values(static_cast<std::size_t>(layout.nonzeros())), rhs(static_cast<std::size_t>(layout.rows()));
  try {
    csr_batch_values(z, plan.envelope(), problem.batch, problem.inputs(), values.data(), rhs.data());
    FAIL() << "a negative step was accepted";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 2);
    EXPECT_NE(std::string(error.what()).find("step"), std::string::npos) << error.what();
  }
  // 32-bit indices: 2^31 stored entries do not fit.
  EXPECT_THROW(csr_layout(z, plan.size(), (std::int64_t(1) << 31) / layout.system_nonzeros + 1), Error);
  // hermite4's rows are not the ones csr_system_values assembles.
  EXPECT_THROW(csr_layout(core::testing::sizes_of_order(2, 1, core::Formulation::Hermite4, 10), plan.size(), 1), Error);
}

}  // namespace
}  // namespace mech::neurlp_gpu
