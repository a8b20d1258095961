// The parallel-in-time solve (solvers/neurlp_chunked.h) against the sequential CPU solver
// (neurlp_core::forward_batch / backward_batch, itself checked against a dense reference and the
// published solver): u, eps and all four input gradients over orders 1-4, D 1-3, several E, S and
// n_iv, both formulations, and chunk counts from 1 to the most T allows, including uneven chunks.
// The phases run in the order the GPU kernels run them (every chunk of a phase before the next
// phase), chunks in reverse order, on work arrays filled with NaN: a chunk that read another
// chunk's unfinished output, or anything nobody wrote, would show up as a NaN or a mismatch.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "solvers/conditioning_test_util.h"
#include "solvers/neurlp_chunked.h"
#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_chunked {
namespace {

namespace core = mech::neurlp_core;
using namespace core::testing;   // Problem, random_gradient_case, solve_sequential, expect_agree, ...

struct Results : Solution {
  std::vector<FactorStatus> status;   // per batch element
};

template <class Real>
std::vector<Real> converted(const std::vector<double>& values) {
  return std::vector<Real>(values.begin(), values.end());
}
template <class Real>
std::vector<double> widened(const std::vector<Real>& values) {
  return std::vector<double>(values.begin(), values.end());
}

// Every phase for every (system, chunk), phase after phase, as solvers/neurlp_gpu.cu's kernels do, in
// precision Real (the inputs rounded to it); results widened to double.
template <class Real = double>
Results solve_chunked(const Problem& p, const Plan& plan, const std::vector<double>& grad_u_in,
                      const std::vector<double>& grad_eps_in, bool run_backward = true) {
  const Sizes& z = p.sizes;
  const Structure& s = plan.structure();
  const Extents x = extents(z, s);
  const int C = plan.chunks();
  const auto B = static_cast<std::size_t>(p.batch);
  const Real nan = std::numeric_limits<Real>::quiet_NaN();
  const std::vector<Real> coeffs = converted<Real>(p.coeffs), rhs = converted<Real>(p.rhs), iv = converted<Real>(p.iv),
                          steps = converted<Real>(p.steps), grad_u = converted<Real>(grad_u_in),
                          grad_eps = converted<Real>(grad_eps_in);
  const std::int64_t nc = std::int64_t(z.E) * z.T * z.block(), nrhs = std::int64_t(z.E) * z.T,
                     niv = std::int64_t(z.S) * z.D * z.n_iv, nh = std::int64_t(z.T - 1) * z.D;
  auto system = [&](std::size_t b) {
    return SystemInputs<Real>{coeffs.data() + b * nc, rhs.data() + b * nrhs, iv.empty() ? nullptr : iv.data() + b * niv,
                              steps.data() + b * nh};
  };
  auto slab = [&](std::int64_t per_system) { return std::vector<Real>(B * static_cast<std::size_t>(per_system), nan); };
  std::vector<Real> env = slab(x.env), inverse_diagonal = slab(x.unknowns), q = slab(x.unknowns), schur = slab(1),
                    left = slab(x.spike_left), right = slab(x.spike_right), reduced = slab(x.reduced),
                    reduced_inverse = slab(x.reduced_unknowns), records = slab(x.records),
                    vectors = slab(x.reduced_vectors), v = slab(x.unknowns);
  auto work = [&](std::size_t b) {
    return SystemWork<Real>{env.data() + b * x.env, inverse_diagonal.data() + b * x.unknowns,
                            q.data() + b * x.unknowns, schur.data() + b,
                            left.data() + b * x.spike_left, right.data() + b * x.spike_right,
                            reduced.data() + b * x.reduced, reduced_inverse.data() + b * x.reduced_unknowns,
                            records.data() + b * x.records, vectors.data() + b * x.reduced_vectors};
  };
  Results out;
  out.status.resize(B);
  std::vector<Real> u = slab(x.unknowns), eps = slab(1);
  std::vector<Row<Real>> row(1);
  std::vector<FactorStatus> chunk_status(B * static_cast<std::size_t>(C));
  for (std::size_t b = 0; b < B; ++b)
    for (int c = C - 1; c >= 0; --c)
      chunk_status[b * C + c] = factor_chunk(z, s, system(b), row[0], work(b), u.data() + b * x.unknowns, c);
  std::vector<bool> ok(B, true);
  for (std::size_t b = 0; b < B; ++b) {
    for (int c = 0; c < C && ok[b]; ++c) {
      if (chunk_status[b * C + c].status != Status::Ok) {
        out.status[b] = chunk_status[b * C + c];
        ok[b] = false;
      }
    }
    if (!ok[b]) continue;
    out.status[b] = reduce_forward(z, s, work(b), u.data() + b * x.unknowns, eps.data() + b);
    ok[b] = out.status[b].status == Status::Ok;
  }
  for (std::size_t b = 0; b < B; ++b)
    if (ok[b])
      for (int c = C - 1; c >= 0; --c) finish_forward_chunk(z, s, work(b), u.data() + b * x.unknowns, eps[b], c);
  out.u = widened(u);
  out.eps = widened(eps);
  if (!run_backward) return out;
  std::vector<Real> d_coeffs(p.coeffs.size(), nan), d_rhs(p.rhs.size(), nan), d_iv(p.iv.size(), nan),
      d_steps(p.steps.size(), nan);
  auto gradients = [&](std::size_t b) {
    return SystemGradients<Real>{d_coeffs.data() + b * nc, d_rhs.data() + b * nrhs,
                                 d_iv.empty() ? nullptr : d_iv.data() + b * niv, d_steps.data() + b * nh};
  };
  for (std::size_t b = 0; b < B; ++b)
    for (int c = C - 1; c >= 0; --c)
      backward_chunk(z, s, work(b), grad_u.data() + b * x.unknowns, v.data() + b * x.unknowns, c);
  for (std::size_t b = 0; b < B; ++b) reduce_backward(z, s, work(b), grad_eps[b], v.data() + b * x.unknowns);
  for (std::size_t b = 0; b < B; ++b)
    for (int c = C - 1; c >= 0; --c)
      finish_backward_chunk(z, s, system(b), row[0], work(b), u.data() + b * x.unknowns, eps[b],
                            v.data() + b * x.unknowns, gradients(b), c);
  for (std::size_t b = 0; b < B; ++b)
    boundary_gradients(z, s, system(b), row[0], work(b), u.data() + b * x.unknowns, eps[b], v.data() + b * x.unknowns,
                       gradients(b));
  out.coeffs = widened(d_coeffs);
  out.rhs = widened(d_rhs);
  out.iv = widened(d_iv);
  out.steps = widened(d_steps);
  return out;
}

// The chunked solve eliminates in another order than the sequential one, so the two agree to
// rounding amplified by cond(M); with steps in [0.3, 0.7] cond(M) stays near 1e4..1e6 up to order 4
// (tests/solvers), which keeps the difference inside 1e-10: measured at most 3.4e-11 (scalable,
// order 4, D 2: u and d steps), 1e-15 where cond(M) is small.
constexpr double kTolerance = 1e-10;

void expect_same(const Results& chunked, const Solution& sequential, const std::string& what) {
  for (std::size_t b = 0; b < chunked.status.size(); ++b)
    ASSERT_EQ(chunked.status[b].status, Status::Ok) << what << ": element " << b << " index " << chunked.status[b].index;
  expect_agree(chunked, sequential, kTolerance, what);
}

TEST(NeurlpChunked, BalancedBeginsCoverTheGridWithInteriorsOfAtLeastTwoBlocks) {
  for (int T : {2, 3, 4, 5, 6, 7, 10, 23, 100, 1001}) {
    for (int C : {1, 2, 3, 7, 50, 1000}) {
      const std::vector<int> begin = balanced_begins(T, C);
      const int chunks = static_cast<int>(begin.size()) - 1;
      EXPECT_EQ(chunks, std::clamp(C, 1, max_chunks(T))) << T << " " << C;
      EXPECT_EQ(begin.front(), 0);
      EXPECT_EQ(begin.back(), T + 2);
      int shortest = T, longest = 0;
      for (int c = 0; c < chunks; ++c) {
        const int interior = begin[c + 1] - 2 - begin[c];
        shortest = std::min(shortest, interior);
        longest = std::max(longest, interior);
      }
      if (chunks > 1) {
        EXPECT_GE(shortest, 2) << T << " " << C;
      }
      EXPECT_LE(longest - shortest, 1) << T << " " << C;
    }
  }
  EXPECT_EQ(max_chunks(5), 1);   // 2 + 2 + 2 = 6 > 5: too short to chunk
  EXPECT_EQ(max_chunks(6), 2);
}

TEST(NeurlpChunked, PlanClipsInteriorRowsAndRejectsShortInteriors) {
  const Sizes z = sizes_of(20, 2, 2, 2, 1, 2, core::Formulation::Mnn);
  const Plan plan(z, {0, 7, 13, 22});   // interiors [0,5), [7,11), [13,20)
  const int m = z.block();
  const Structure& s = plan.structure();
  for (int c = 0; c < plan.chunks(); ++c) {
    const int lo = s.layout.interior_begin(c) * m, ie = s.layout.interior_end(c) * m;
    for (int i = lo; i < ie; ++i) {
      EXPECT_GE(plan.clipped_first()[i], lo) << i;
      // Same row base address: offset - first unchanged.
      EXPECT_EQ(plan.clipped_offset()[i] - plan.clipped_first()[i], plan.offset()[i] - plan.first()[i]) << i;
      // Unclipped rows reach back at most two blocks: into the separator, never past it.
      EXPECT_GE(plan.first()[i], lo - 2 * m) << i;
    }
  }
  EXPECT_EQ(extents(z, s).reduced_unknowns, 2 * 2 * m);
  EXPECT_THROW(Plan(z, {0, 7, 10, 22}), Error);   // interior [7, 8): one block
  EXPECT_THROW(Plan(z, {0, 7, 13, 21}), Error);   // does not end at T + 2
}

TEST(NeurlpChunked, MatchesSequentialSolverOverOrdersDimensionsAndChunkCounts) {
  unsigned seed = 500;
  for (auto formulation : {core::Formulation::Mnn, core::Formulation::Scalable}) {
    for (int order = 1; order <= 4; ++order) {
      for (int D = 1; D <= 3; ++D) {
        // Vary the equations and initial values with the case: square, extra equations, initial
        // values at two points with fewer derivatives.
        const int variant = (order + D) % 3;
        const int E = variant == 1 ? D + 1 : D;
        const int S = variant == 2 ? 2 : 1;
        const int n_iv = variant == 2 ? std::max(1, order - 1) : order;
        const int T = 23 + D;
        const Sizes z = sizes_of(T, D, order, E, S, n_iv, formulation);
        const auto [p, grad_u, grad_eps] = random_gradient_case(z, 2, seed, 0.3, 0.7);
        const Solution sequential = solve_sequential(p, grad_u, grad_eps);
        std::vector<std::vector<int>> layouts;
        for (int C : {1, 2, 3, 5, max_chunks(T)}) layouts.push_back(balanced_begins(T, C));
        // Uneven: a minimal interior, a long one, a middle one.
        layouts.push_back({0, 4, 18, T + 2});
        for (const std::vector<int>& begin : layouts) {
          const Plan plan(z, begin);
          const std::string what = std::string(formulation == core::Formulation::Mnn ? "mnn" : "scalable") +
                                   " order " + std::to_string(order) + " D " + std::to_string(D) + " E " +
                                   std::to_string(E) + " S " + std::to_string(S) + " n_iv " + std::to_string(n_iv) +
                                   " chunks " + std::to_string(plan.chunks()) + " (second interior starts at " +
                                   std::to_string(begin.size() > 2 ? begin[1] : -1) + ")";
          expect_same(solve_chunked(p, plan, grad_u, grad_eps), sequential, what);
        }
      }
    }
  }
}

TEST(NeurlpChunked, GridTooShortToChunkIsOneChunk) {
  for (int T : {2, 3, 5}) {
    const Sizes z = sizes_of(T, 1, 2, 1, 1, 2, core::Formulation::Mnn);
    const Plan plan(z, balanced_begins(T, 8));
    EXPECT_EQ(plan.chunks(), 1);
    EXPECT_EQ(extents(z, plan.structure()).reduced_unknowns, 0);
    const Problem p = random_problem(z, 3, 40 + T, 0.3, 0.7);
    const auto grad_u = random_vector(static_cast<std::size_t>(3 * z.unknowns()), 50 + T);
    const auto grad_eps = random_vector(3, 60 + T);
    expect_same(solve_chunked(p, plan, grad_u, grad_eps), solve_sequential(p, grad_u, grad_eps),
                "T " + std::to_string(T));
  }
}

TEST(NeurlpChunked, LongGridManyChunksMatchesSequential) {
  // A training-sized grid (T = 400, P = 2): 1, 8 and 99 chunks (the most T allows).
  const Sizes z = sizes_of(400, 1, 2, 1, 1, 2, core::Formulation::Mnn);
  unsigned seed = 70;   // 71, 72, 73
  const auto [p, grad_u, grad_eps] = random_gradient_case(z, 3, seed, 0.01, 0.05);
  const Solution sequential = solve_sequential(p, grad_u, grad_eps);
  for (int C : {1, 8, max_chunks(z.T)}) {
    const Plan plan(z, balanced_begins(z.T, C));
    expect_same(solve_chunked(p, plan, grad_u, grad_eps), sequential, "T 400 chunks " + std::to_string(plan.chunks()));
  }
}

TEST(NeurlpChunked, SingularSystemIsReportedForItsBatchElement) {
  // Element 2 has zero coefficients and no initial values pin it: M_uu is singular (polynomials
  // are in its null space); the others are well posed and must still be solved exactly.
  Sizes z = sizes_of(30, 1, 2, 1, 0, 0, core::Formulation::Scalable);
  Problem p = random_problem(z, 4, 81, 0.3, 0.7);
  for (std::int64_t b : {0, 1, 3})   // pin the well-posed ones through their equations alone
    for (int t = 0; t < z.T; ++t) p.coeffs[static_cast<std::size_t>((b * z.T + t) * 3)] = 2.0;
  for (int i = 0; i < z.T * 3; ++i) p.coeffs[static_cast<std::size_t>(2 * z.T * 3 + i)] = 0.0;
  for (int C : {1, 2, 4}) {
    const Plan plan(z, balanced_begins(z.T, C));
    const Results chunked = solve_chunked(p, plan, {}, {}, false);
    for (std::int64_t b : {0, 1, 3}) EXPECT_EQ(chunked.status[b].status, Status::Ok) << C << " " << b;
    const Status failed = chunked.status[2].status;
    EXPECT_TRUE(failed == Status::PivotTiny || failed == Status::PivotNotPositive) << static_cast<int>(failed);
    EXPECT_GE(chunked.status[2].index, 0);
    EXPECT_LT(chunked.status[2].index, z.unknowns());
  }
  // The sequential solver agrees on which element fails and why.
  std::vector<double> u(static_cast<std::size_t>(4 * z.unknowns())), eps(4);
  try {
    core::forward_batch<double>(z, 4, p.inputs(), u.data(), eps.data(), false);
    FAIL() << "the sequential solver accepted a singular system";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 2) << error.what();
    EXPECT_NE(std::string(error.what()).find("singular"), std::string::npos) << error.what();
  }
  // The well-posed elements agree with the sequential solve of a batch without element 2.
  Problem rest = p;
  rest.batch = 1;
  const std::size_t per = static_cast<std::size_t>(z.T * 3);
  rest.coeffs.assign(p.coeffs.begin() + 3 * per, p.coeffs.begin() + 4 * per);
  rest.rhs.assign(p.rhs.begin() + 3 * z.T, p.rhs.begin() + 4 * z.T);
  rest.steps.assign(p.steps.begin() + 3 * (z.T - 1), p.steps.begin() + 4 * (z.T - 1));
  std::vector<double> u3(static_cast<std::size_t>(z.unknowns())), eps3(1);
  core::forward_batch<double>(z, 1, rest.inputs(), u3.data(), eps3.data(), false);
  const Results chunked = solve_chunked(p, Plan(z, balanced_begins(z.T, 3)), {}, {}, false);
  EXPECT_LE(relative_error(chunked.u.data() + 3 * per, u3.data(), per), kTolerance);
}

TEST(NeurlpChunked, SingularReducedSystemReportsASeparatorUnknown) {
  // Zero coefficients and no initial values: only smoothness rows, whose null space holds the
  // polynomials of degree <= order, so M_uu is singular. An interior alone is not (a polynomial that
  // vanishes on the separators around it breaks the Taylor rows that reach them), so the chunks
  // factor and the singularity must surface in the reduced system, reported, not solved.
  Sizes z = sizes_of(30, 1, 2, 1, 0, 0, core::Formulation::Scalable);
  Problem p = random_problem(z, 1, 91, 0.3, 0.7);
  for (double& c : p.coeffs) c = 0.0;
  const Plan plan(z, balanced_begins(z.T, 3));
  const Results chunked = solve_chunked(p, plan, {}, {}, false);
  const Status failed = chunked.status[0].status;
  EXPECT_TRUE(failed == Status::PivotTiny || failed == Status::PivotNotPositive) << static_cast<int>(failed);
  EXPECT_GE(chunked.status[0].index, 0);
  EXPECT_LT(chunked.status[0].index, z.unknowns());
}

TEST(NeurlpChunked, Float32MeetsTheConditioningBoundLikeSequentialFloat32) {
  // The float instantiation (what the GPU runs for float tensors) against the CPU batch driver in
  // float32, with and without the eps border, on steps where float32 normal equations keep digits.
  unsigned seed = 900;
  for (auto formulation : {core::Formulation::Mnn, core::Formulation::Scalable}) {
    const Sizes z = sizes_of(30, 1, 2, 1, 1, 2, formulation);
    const std::int64_t batch = 3;
    const auto [p, grad_u, grad_eps] = random_gradient_case(z, batch, seed, 0.3, 0.7);
    const std::vector<float> coeffs = converted<float>(p.coeffs), rhs = converted<float>(p.rhs),
                             iv = converted<float>(p.iv), steps = converted<float>(p.steps),
                             gu = converted<float>(grad_u), ge = converted<float>(grad_eps);
    const core::BatchInputs<float> inputs{coeffs.data(), rhs.data(), iv.data(), steps.data()};
    std::vector<float> u(static_cast<std::size_t>(batch * z.unknowns())), eps(static_cast<std::size_t>(batch));
    auto factors = core::forward_batch<float>(z, batch, inputs, u.data(), eps.data(), true);
    std::vector<float> dc(coeffs.size()), dr(rhs.size()), di(iv.size()), dh(steps.size());
    core::backward_batch<float>(*factors, inputs, u.data(), eps.data(), gu.data(), ge.data(),
                                {dc.data(), dr.data(), di.data(), dh.data()});
    // The float64 solve is the truth both float32 solves approximate. Both are backward-stable
    // solves of M (the chunked one a block Cholesky of M in another elimination order), so each
    // solution is within c kappa_2(M) u of the truth in the 2-norm, relative, to first order
    // (conditioning_test_util.h; u = 2^-24, c of order one); in relative_error's max norm (error
    // over the largest entry) that is at most sqrt(n) times as much, n = T*D*K (+1 for eps). The
    // gradients are bilinear in the solution and the adjoint solution v = M^-1 grad_u, both that
    // accurate, and inherit the same relative error to first order. Checked with c = 1 and the
    // batch's largest kappa_2(M): 2.1e4 (mnn), 1.2e4 (scalable), bounds 1.2e-2 and 6.7e-3.
    // Measured at -O1 and -O2: errors 1/32 (scalable d coeffs) to 1/20000 of the bound. (A bound of
    // 3x the sequential float32 error failed at -O1: a ratio of two rounding errors has no bound.)
    // Scalable eps is exactly 0 in all three solves.
    const Solution exact = solve_sequential(p, grad_u, grad_eps);
    const Solution sequential{widened(u), widened(eps), widened(dc), widened(dr), widened(di), widened(dh)};
    double kappa = 0.0;
    for (std::int64_t b = 0; b < batch; ++b) kappa = std::max(kappa, normal_matrix_condition(z, p.system(b)));
    const double bound = std::sqrt(double(z.unknowns() + (z.has_eps() ? 1 : 0))) * kappa * kFloat32Unit;
    auto compare = [&](const Solution& solved, const std::string& what) {
      auto field_error = [&](const std::vector<double> Solution::*field, const char* name) {
        const double error = relative_error(solved.*field, exact.*field);
        EXPECT_LE(error, bound) << what << ": " << name << " (kappa_2(M) " << kappa << ")";
      };
      field_error(&Solution::u, "u");
      field_error(&Solution::eps, "eps");
      field_error(&Solution::coeffs, "d coeffs");
      field_error(&Solution::rhs, "d rhs");
      field_error(&Solution::steps, "d steps");
    };
    const std::string name = formulation == core::Formulation::Mnn ? "mnn" : "scalable";
    compare(sequential, name + " sequential");
    for (int C : {1, 3, 7}) {
      const Results chunked = solve_chunked<float>(p, Plan(z, balanced_begins(z.T, C)), grad_u, grad_eps);
      for (const FactorStatus& status : chunked.status) ASSERT_EQ(status.status, Status::Ok);
      compare(chunked, name + " chunks " + std::to_string(C));
    }
  }
}

// What the GPU's chunk-count choice rests on, measured on one CPU core (scalar float64, mnn P=2
// D=1 T=1000): the sequential forward+backward of one system against the chunked phases run one
// after another, timing each phase's slowest chunk (the chain a GPU thread runs) and the
// per-system phases. Disabled (a timing, not a check of behaviour); run with
//   test_solvers --gtest_also_run_disabled_tests --gtest_filter='*CriticalPath*'
// Measured 2026-11-27 on this project's 2-core build machine: sequential 0.27 ms; C = 8, 16, 32,
// 64, 128: total work 1.47, 1.48, 1.53, 1.60, 1.69x the sequential, longest chain 4.7, 7.9, 8.6,
// 6.1, 3.5x shorter (the per-system reduced phases grow with C: 0.017 ms of 0.031 at C = 32).
TEST(NeurlpChunked, DISABLED_CriticalPathOnOneCore) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); };
  const Sizes z = sizes_of(1000, 1, 2, 1, 1, 2, core::Formulation::Mnn);
  const Problem p = random_problem(z, 1, 5, 0.01, 0.01);
  const int n = z.unknowns();
  const std::vector<double> grad_u(static_cast<std::size_t>(n), 1.0);
  std::vector<Row<double>> row(1);
  std::vector<double> dc(p.coeffs.size()), dr(p.rhs.size()), di(p.iv.size()), dh(p.steps.size());
  const SystemGradients<double> gradients{dc.data(), dr.data(), di.data(), dh.data()};
  for (int chunks : {1, 8, 16, 32, 64, 128}) {
    const Plan plan(z, balanced_begins(z.T, chunks));
    const Structure& s = plan.structure();
    const Extents x = extents(z, s);
    std::vector<double> env(static_cast<std::size_t>(x.env)), inverse(static_cast<std::size_t>(n)),
        q(static_cast<std::size_t>(n)), u(static_cast<std::size_t>(n)), v(static_cast<std::size_t>(n)), schur(1),
        left(static_cast<std::size_t>(x.spike_left)), right(static_cast<std::size_t>(x.spike_right)),
        reduced(static_cast<std::size_t>(x.reduced)), reduced_inverse(static_cast<std::size_t>(x.reduced_unknowns)),
        records(static_cast<std::size_t>(x.records)), vectors(static_cast<std::size_t>(x.reduced_vectors));
    const core::Factors<double> factors{env.data(), inverse.data(), q.data(), schur.data()};
    const SystemWork<double> w{env.data(),  inverse.data(), q.data(),       schur.data(),   left.data(),
                               right.data(), reduced.data(), reduced_inverse.data(), records.data(), vectors.data()};
    double best_sequential = 1e9, best_chain = 1e9, best_total = 1e9, reduced_phases = 0, eps = 0;
    std::vector<double> u_sequential;
    for (int repeat = 0; repeat < 20; ++repeat) {
      auto start = Clock::now();
      core::forward_system(z, s.full, p.system(0), row[0], factors, u.data(), &eps);
      core::backward_system(z, s.full, p.system(0), row[0], factors, u.data(), eps, grad_u.data(), 1.0, v.data(), gradients);
      best_sequential = std::min(best_sequential, since(start));
      u_sequential = u;
      double total = 0, chain = 0, per_system = 0;
      auto each_chunk = [&](auto&& phase) {
        double slowest = 0;
        for (int c = 0; c < plan.chunks(); ++c) {
          const auto t0 = Clock::now();
          phase(c);
          const double took = since(t0);
          total += took;
          slowest = std::max(slowest, took);
        }
        chain += slowest;
      };
      auto once = [&](auto&& phase) {
        const auto t0 = Clock::now();
        phase();
        const double took = since(t0);
        total += took;
        chain += took;
        per_system += took;
      };
      each_chunk([&](int c) { factor_chunk(z, s, p.system(0), row[0], w, u.data(), c); });
      once([&] { reduce_forward(z, s, w, u.data(), &eps); });
      each_chunk([&](int c) { finish_forward_chunk(z, s, w, u.data(), eps, c); });
      each_chunk([&](int c) { backward_chunk(z, s, w, grad_u.data(), v.data(), c); });
      once([&] { reduce_backward(z, s, w, 1.0, v.data()); });
      each_chunk([&](int c) { finish_backward_chunk(z, s, p.system(0), row[0], w, u.data(), eps, v.data(), gradients, c); });
      once([&] { boundary_gradients(z, s, p.system(0), row[0], w, u.data(), eps, v.data(), gradients); });
      if (chain < best_chain) {
        best_chain = chain;
        reduced_phases = per_system;
      }
      best_total = std::min(best_total, total);
    }
    EXPECT_LE(relative_error(u, u_sequential), kTolerance) << chunks;
    std::printf("neurlp chunked C=%d: sequential %.3f ms; total work %.3f ms (%.2fx); longest chain %.3f ms (per-system "
                "phases %.3f) = %.1fx shorter\n",
                plan.chunks(), best_sequential, best_total, best_total / best_sequential, best_chain, reduced_phases,
                best_sequential / best_chain);
  }
}

}  // namespace
}  // namespace mech::neurlp_chunked
