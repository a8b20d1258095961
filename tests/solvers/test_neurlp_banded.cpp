// The banded NeuRLP solver (raw batch API) against the dense reference backend, against the
// published solver's frozen outputs, and against central finite differences of its own forward.
#include <gtest/gtest.h>

#include <memory>
#include <new>
#include <string>

#include "core/error.h"
#include "solvers/neurlp_batch.h"
#include "solvers/neurlp_dense.h"
#include "tests/solvers/neurlp_test_util.h"

namespace mech::neurlp_core {
namespace {

using testing::expect_agree;
using testing::Problem;
using testing::random_problem;
using testing::random_vector;
using testing::relative_error;
using testing::Solution;
using testing::solve_sequential;   // the banded solver through the batch API, kept factors

// The dense reference backend, system by system, in the batch layouts.
Solution dense(const Problem& problem, const std::vector<double>& grad_u, const std::vector<double>& grad_eps) {
  Solution out;
  const Sizes& z = problem.sizes;
  const std::int64_t n = z.unknowns();
  out.coeffs.resize(problem.coeffs.size());
  out.rhs.resize(problem.rhs.size());
  out.iv.resize(problem.iv.size());
  out.steps.resize(problem.steps.size());
  const std::int64_t nc = problem.coeffs.size() / problem.batch, nr = problem.rhs.size() / problem.batch,
                     ni = problem.iv.size() / problem.batch, ns = problem.steps.size() / problem.batch;
  std::vector<double> scratch_iv(1);
  for (std::int64_t b = 0; b < problem.batch; ++b) {
    DenseSolution solution = dense_forward(z, problem.system(b));
    out.u.insert(out.u.end(), solution.u.begin(), solution.u.end());
    out.eps.push_back(solution.eps);
    dense_backward(z, problem.system(b), grad_u.data() + b * n, grad_eps[b],
                   {out.coeffs.data() + b * nc, out.rhs.data() + b * nr,
                    ni ? out.iv.data() + b * ni : scratch_iv.data(), out.steps.data() + b * ns});
  }
  return out;
}

// Steps of the random problems. The normal matrix holds products of h^j for j up to 2P; with P = 4
// and h = 0.05 its condition number reaches ~1e14 and no two float64 solvers can agree to 1e-10
// (both are then right only to ~1e-3). Steps near 0.5 keep cond(M) near 1e4..1e6, so a 1e-10
// disagreement is a bug and not rounding. Small steps are covered by the analytic tests.
constexpr double kLowStep = 0.3, kHighStep = 0.7;

std::string describe(const Sizes& z) {
  return fmt::format("T={} D={} K={} E={} S={} n_iv={} {}", z.T, z.D, z.K, z.E, z.S, z.n_iv,
                     z.formulation == Formulation::Mnn ? "mnn" : "scalable");
}

// Outputs written into 64-byte aligned arrays (as mech's tensors are) take the batch driver's
// whole-cache-line streaming stores when each system's row is a multiple of 8 doubles; shifted by
// one double they take the plain stores. Both must give the same bits, and agree with dense.
TEST(NeurlpBanded, AlignedAndUnalignedOutputsAgreeExactly) {
  Sizes z;
  z.T = 16;   // n = T*D*K = 48 and E*T*m = 48: multiples of 8
  z.D = 1;
  z.K = 3;
  z.E = 1;
  z.S = 1;
  z.n_iv = 2;
  const std::int64_t B = 19;   // two full lane packs of 8 and a partial one
  const Problem problem = random_problem(z, B, 77, kLowStep, kHighStep);
  const auto grad_u = random_vector(B * z.unknowns(), 78);
  const auto grad_eps = random_vector(B, 79);
  auto run = [&](std::size_t shift) {
    const std::size_t sizes[6] = {static_cast<std::size_t>(B * z.unknowns()), static_cast<std::size_t>(B),
                                  problem.coeffs.size(), problem.rhs.size(), problem.iv.size(),
                                  problem.steps.size()};
    std::vector<double*> arrays;
    for (std::size_t size : sizes)
      arrays.push_back(static_cast<double*>(::operator new((size + 8) * sizeof(double), std::align_val_t(64))) + shift);
    auto factors = forward_batch<double>(z, B, problem.inputs(), arrays[0], arrays[1], true);
    backward_batch<double>(*factors, problem.inputs(), arrays[0], arrays[1], grad_u.data(), grad_eps.data(),
                           {arrays[2], arrays[3], arrays[4], arrays[5]});
    Solution out;
    std::vector<double>* targets[6] = {&out.u, &out.eps, &out.coeffs, &out.rhs, &out.iv, &out.steps};
    for (int k = 0; k < 6; ++k) {
      targets[k]->assign(arrays[k], arrays[k] + sizes[k]);
      ::operator delete(arrays[k] - shift, std::align_val_t(64));
    }
    return out;
  };
  const Solution aligned = run(0), shifted = run(1);
  EXPECT_EQ(aligned.u, shifted.u);
  EXPECT_EQ(aligned.eps, shifted.eps);
  EXPECT_EQ(aligned.coeffs, shifted.coeffs);
  EXPECT_EQ(aligned.rhs, shifted.rhs);
  EXPECT_EQ(aligned.iv, shifted.iv);
  EXPECT_EQ(aligned.steps, shifted.steps);
  expect_agree(aligned, dense(problem, grad_u, grad_eps), 1e-10, describe(z));
}

// Banded and dense agree on random problems over orders 1..4, D, E, S, n_iv 0..K-1, both
// formulations. B = 11 so that a partial lane pack (padding lanes) is exercised too. T >= 8 and
// D = 1..3 so that the fixed-size interior-block code (blocks from kFirstInteriorBlock on, for
// the (D, K) the batch driver compiles in) is compared too, not only the runtime-bounded rows.
TEST(NeurlpBanded, AgreesWithDenseOnRandomProblems) {
  unsigned seed = 1;
  for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable}) {
    for (int P = 1; P <= 4; ++P) {
      for (int D : {1, 2, 3}) {
        for (int n_iv = 0; n_iv <= P; ++n_iv) {
          Sizes z;
          z.T = 7 + P;
          z.D = D;
          z.K = P + 1;
          z.E = D + (P % 2);            // square and over-determined coupled systems
          z.S = n_iv == 0 ? 0 : 1 + (P + n_iv) % 2;
          z.n_iv = n_iv;
          z.formulation = formulation;
          if (formulation == Formulation::Scalable) {
            z.equation_weight = 1.7;
            z.initial_weight = 0.6;
            z.smooth_weight = 2.3;
          }
          const Problem problem = random_problem(z, 11, seed++, kLowStep, kHighStep);
          const auto grad_u = random_vector(problem.batch * z.unknowns(), seed++);
          const auto grad_eps = random_vector(problem.batch, seed++);
          expect_agree(solve_sequential(problem, grad_u, grad_eps), dense(problem, grad_u, grad_eps), 1e-10,
                       describe(z));
        }
      }
    }
  }
}

// Central finite differences of the banded forward (float64) against its backward, for every input.
TEST(NeurlpBanded, GradientsMatchFiniteDifferences) {
  for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable}) {
    for (int P : {1, 2, 3}) {
      Sizes z;
      z.T = 6;
      z.D = 2;
      z.K = P + 1;
      z.E = 2;
      z.S = 2;
      z.n_iv = P > 1 ? 2 : 1;
      z.formulation = formulation;
      z.smooth_weight = 1.5;
      const Problem problem = random_problem(z, 2, 100 + P, kLowStep, kHighStep);
      const auto grad_u = random_vector(problem.batch * z.unknowns(), 200 + P);
      const auto grad_eps = random_vector(problem.batch, 300 + P);
      const Solution analytic = solve_sequential(problem, grad_u, grad_eps);
      auto loss = [&](const Problem& p) {
        std::vector<double> u(p.batch * z.unknowns()), eps(p.batch);
        forward_batch<double>(z, p.batch, p.inputs(), u.data(), eps.data(), false);
        double sum = 0.0;
        for (std::size_t i = 0; i < u.size(); ++i) sum += u[i] * grad_u[i];
        for (std::size_t i = 0; i < eps.size(); ++i) sum += eps[i] * grad_eps[i];
        return sum;
      };
      auto check = [&](std::vector<double> Problem::*field, const std::vector<double>& gradient,
                       const char* name) {
        Problem perturbed = problem;
        for (std::size_t i = 0; i < gradient.size(); ++i) {
          const double base = (problem.*field)[i];
          const double h = 1e-6 * std::max(1.0, std::abs(base));
          (perturbed.*field)[i] = base + h;
          const double up = loss(perturbed);
          (perturbed.*field)[i] = base - h;
          const double down = loss(perturbed);
          (perturbed.*field)[i] = base;
          const double numeric = (up - down) / (2 * h);
          EXPECT_NEAR(gradient[i], numeric, 1e-6 * std::max(1.0, std::abs(numeric)))
              << describe(z) << ": d/d" << name << "[" << i << "]";
        }
      };
      check(&Problem::coeffs, analytic.coeffs, "coeffs");
      check(&Problem::rhs, analytic.rhs, "rhs");
      check(&Problem::iv, analytic.iv, "iv");
      check(&Problem::steps, analytic.steps, "steps");
    }
  }
}

// The published solver's frozen outputs (tests/data/neurlp, dense Cholesky, float64, mnn).
TEST(NeurlpBanded, MatchesPublishedSolverSolution) {
  const std::string root = std::string(MECH_TEST_DATA_DIR) + "/neurlp/";
  for (const char* name : {"order2", "order3_coupled", "order4", "multi_iv_steps", "long_order2"}) {
    const std::string dir = root + name + "/";
    auto coeffs = testing::read_npy_f8(dir + "coeffs.npy");
    auto rhs = testing::read_npy_f8(dir + "rhs.npy");
    auto iv = testing::read_npy_f8(dir + "iv.npy");
    auto steps = testing::read_npy_f8(dir + "steps.npy");
    ASSERT_EQ(coeffs.shape.size(), 5u) << name;
    ASSERT_EQ(iv.shape.size(), 4u) << name;
    Problem problem;
    problem.batch = coeffs.shape[0];
    problem.sizes.E = static_cast<int>(coeffs.shape[1]);
    problem.sizes.T = static_cast<int>(coeffs.shape[2]);
    problem.sizes.D = static_cast<int>(coeffs.shape[3]);
    problem.sizes.K = static_cast<int>(coeffs.shape[4]);
    problem.sizes.S = static_cast<int>(iv.shape[1]);
    problem.sizes.n_iv = static_cast<int>(iv.shape[3]);
    problem.sizes.gamma_alpha = 0.5 * 0.1;
    problem.coeffs = coeffs.values;
    problem.rhs = rhs.values;
    problem.iv = iv.values;
    problem.steps = steps.values;
    const auto grad_u = testing::read_npy_f8(dir + "grad_u.npy").values;
    const auto grad_eps = testing::read_npy_f8(dir + "grad_eps.npy").values;
    const Solution out = solve_sequential(problem, grad_u, grad_eps);
    const double tolerance = 1e-8;
    EXPECT_LT(relative_error(out.u, testing::read_npy_f8(dir + "u.npy").values), tolerance) << name << ": u";
    EXPECT_LT(relative_error(out.eps, testing::read_npy_f8(dir + "eps.npy").values), tolerance) << name << ": eps";
    EXPECT_LT(relative_error(out.coeffs, testing::read_npy_f8(dir + "grads/coeffs.npy").values), tolerance)
        << name << ": dcoeffs";
    EXPECT_LT(relative_error(out.rhs, testing::read_npy_f8(dir + "grads/rhs.npy").values), tolerance)
        << name << ": drhs";
    EXPECT_LT(relative_error(out.iv, testing::read_npy_f8(dir + "grads/iv.npy").values), tolerance)
        << name << ": div";
    EXPECT_LT(relative_error(out.steps, testing::read_npy_f8(dir + "grads/steps.npy").values), tolerance)
        << name << ": dsteps";
  }
}

// The fused forward+backward and the re-solve with kept factors give the same numbers.
TEST(NeurlpBanded, FusedAndReusePathsAgree) {
  for (Formulation formulation : {Formulation::Mnn, Formulation::Scalable}) {
    Sizes z;
    z.T = 40;
    z.D = 2;
    z.K = 3;
    z.E = 2;
    z.S = 1;
    z.n_iv = 2;
    z.formulation = formulation;
    Problem problem = random_problem(z, 19, 7);
    const auto grad_u = random_vector(problem.batch * z.unknowns(), 8);
    const auto grad_eps = random_vector(problem.batch, 9);
    const Solution reference = solve_sequential(problem, grad_u, grad_eps);
    Solution fused;
    fused.u.resize(reference.u.size());
    fused.eps.resize(reference.eps.size());
    fused.coeffs.resize(problem.coeffs.size());
    fused.rhs.resize(problem.rhs.size());
    fused.iv.resize(problem.iv.size());
    fused.steps.resize(problem.steps.size());
    forward_backward_batch<double>(z, problem.batch, problem.inputs(), fused.u.data(), fused.eps.data(),
                                   grad_u.data(), grad_eps.data(),
                                   {fused.coeffs.data(), fused.rhs.data(),
                                    fused.iv.data(), fused.steps.data()});
    expect_agree(fused, reference, 1e-13, "fused");

    // New rhs and initial values, same coefficients and steps: substitution only.
    std::vector<double> u(reference.u.size()), eps(reference.eps.size());
    auto factors = forward_batch<double>(z, problem.batch, problem.inputs(), u.data(), eps.data(), true);
    Problem changed = problem;
    changed.rhs = random_vector(problem.rhs.size(), 10);
    changed.iv = random_vector(problem.iv.size(), 11);
    resolve_batch<double>(*factors, changed.inputs(), u.data(), eps.data());
    std::vector<double> u_fresh(u.size()), eps_fresh(eps.size());
    forward_batch<double>(z, problem.batch, changed.inputs(), u_fresh.data(), eps_fresh.data(), false);
    EXPECT_LT(relative_error(u, u_fresh), 1e-12);
    EXPECT_LT(relative_error(eps, eps_fresh), 1e-12);
  }
}


// Failures are attributed to the right batch element wherever it sits in a lane pack (middle of
// a full pack, a partial last pack), in forward, fused and backward.
TEST(NeurlpBanded, FailuresNameTheBatchElementAcrossLanePacks) {
  Sizes z;
  z.T = 12;
  z.D = 1;
  z.K = 3;
  z.E = 1;
  z.S = 0;
  z.n_iv = 0;
  z.formulation = Formulation::Scalable;
  const std::int64_t B = 19;
  const std::int64_t n = z.unknowns();
  auto element_of = [](auto&& body) -> std::int64_t {
    try {
      body();
    } catch (const SolverError& error) {
      return error.batch_element();
    }
    return -1;
  };
  std::vector<double> u(B * n), eps(B), grad_u(B * n, 0.5), grad_eps(B, 0.0);
  std::vector<double> gc, gr, gs;
  // No equations and no initial values for element 13: the constants are undetermined.
  Problem singular = random_problem(z, B, 5, kLowStep, kHighStep);
  for (int i = 0; i < z.T * 3; ++i) singular.coeffs[13 * z.T * 3 + i] = 0.0;
  EXPECT_EQ(element_of([&] { forward_batch<double>(z, B, singular.inputs(), u.data(), eps.data(), false); }), 13);
  gc.resize(singular.coeffs.size());
  gr.resize(singular.rhs.size());
  gs.resize(singular.steps.size());
  EXPECT_EQ(element_of([&] {
              forward_backward_batch<double>(z, B, singular.inputs(), u.data(), eps.data(), grad_u.data(),
                                             grad_eps.data(), {gc.data(), gr.data(), nullptr, gs.data()});
            }),
            13);
  // A NaN in the partial last pack (elements 16..18).
  Problem bad = random_problem(z, B, 6, kLowStep, kHighStep);
  bad.rhs[17 * z.T + 4] = NAN;
  EXPECT_EQ(element_of([&] { forward_batch<double>(z, B, bad.inputs(), u.data(), eps.data(), true); }), 17);
  // An upstream gradient with an infinity for element 9 in backward.
  Problem good = random_problem(z, B, 7, kLowStep, kHighStep);
  auto factors = forward_batch<double>(z, B, good.inputs(), u.data(), eps.data(), true);
  grad_u[9 * n + 3] = INFINITY;
  EXPECT_EQ(element_of([&] {
              backward_batch<double>(*factors, good.inputs(), u.data(), eps.data(), grad_u.data(), grad_eps.data(),
                                     {gc.data(), gr.data(), nullptr, gs.data()});
            }),
            9);
  // float32 packs (16 lanes): element 13 again.
  std::vector<float> coeffs32(singular.coeffs.begin(), singular.coeffs.end()),
      rhs32(singular.rhs.begin(), singular.rhs.end()), steps32(singular.steps.begin(), singular.steps.end());
  std::vector<float> u32(B * n), eps32(B);
  EXPECT_EQ(element_of([&] {
              forward_batch<float>(z, B, {coeffs32.data(), rhs32.data(), nullptr, steps32.data()}, u32.data(),
                                   eps32.data(), false);
            }),
            13);
}

}  // namespace
}  // namespace mech::neurlp_core
