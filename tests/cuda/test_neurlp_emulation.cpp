// The GPU solver's per-thread code (solvers/neurlp_gpu_device.h: slicing the batch-major arrays,
// validation, forward_one / backward_one) run on the CPU, one system after another exactly as the
// kernel's threads would, and compared with the CPU batch driver: so indexing and validation
// mistakes in the GPU path fail here, on machines without a GPU. Also the failure reports
// (non-finite input, bad step, singular system) and the envelope structure. The same for
// hermite4's per-thread code (against hermite4's CPU driver) and for the parallel-in-time kernels
// (the *_chunked_one functions): every thread of a launch, (system, chunk) pairs in reverse order,
// one launch after the other, on NaN-filled device arrays.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp_gpu_device.h"
#include "cuda/neurlp_gpu_test_util.h"
#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_gpu {
namespace {

namespace core = mech::neurlp_core;
using namespace core::testing;   // Problem, random_gradient_case, solve_sequential, expect_agree, ...

struct Emulated : Solution {
  std::vector<SystemStatus> status;
};

// The forward and backward kernels, emulated: thread b runs for b = 0 .. B-1 on host arrays filled
// with NaN, so anything a thread reads before writing, or leaves unwritten, shows.
Emulated emulate(const Problem& p, const std::vector<double>& grad_u, const std::vector<double>& grad_eps,
                 bool run_backward = true) {
  const core::Sizes& z = p.sizes;
  const Strides s = strides_of(z);
  const EnvelopeStructure structure = envelope_structure(z);
  const auto B = static_cast<std::size_t>(p.batch);
  const auto n = static_cast<std::size_t>(s.unknowns);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> env(B * static_cast<std::size_t>(structure.size), nan), inverse_diagonal(B * n, nan),
      z2(B * n, nan), schur(B, nan), latent(B * n, nan);
  Emulated out;
  out.u.assign(B * static_cast<std::size_t>(s.solution), nan);
  out.eps.assign(B, nan);
  const BatchArrays<double> arrays{p.inputs(), out.u.data(), out.eps.data(), env.data(), inverse_diagonal.data(),
                                   z2.data(),  schur.data(), latent.data()};
  std::vector<core::Row<double>> row(1);
  for (std::int64_t b = 0; b < p.batch; ++b)
    out.status.push_back(forward_one(z, structure.envelope(), arrays, s, b, row[0]));
  if (!run_backward) return out;
  out.coeffs.assign(p.coeffs.size(), nan);
  out.rhs.assign(p.rhs.size(), nan);
  out.iv.assign(p.iv.size(), nan);
  out.steps.assign(p.steps.size(), nan);
  std::vector<double> scratch(B * static_cast<std::size_t>(s.scratch), nan);
  const BatchGradients<double> gradients{out.coeffs.data(), out.rhs.data(), out.iv.empty() ? nullptr : out.iv.data(),
                                         out.steps.data()};
  for (std::int64_t b = 0; b < p.batch; ++b)
    backward_one(z, structure.envelope(), arrays, s, b, grad_u.data(), grad_eps.data(), scratch.data(), gradients,
                 row[0]);
  return out;
}

// A square system (E = D) with every derivative below the top given at the first point, and row
// weights 1 also for scalable (the validation and structure tests; the cases compared with the
// CPU driver take core::testing::sizes_of's weights, to exercise them).
core::Sizes square_sizes(int T, int D, int order, core::Formulation formulation) {
  core::Sizes z = core::testing::sizes_of(T, D, order, D, 1, order, formulation);
  z.equation_weight = z.initial_weight = z.smooth_weight = 1.0;
  return z;
}

TEST(CudaNeurlpEmulation, PerThreadCodeMatchesCpuBatchDriver) {
  unsigned seed = 100;
  for_each_formulation_order_and_dimension(4, 25, [&](const core::Sizes& z, const std::string& what) {
    // batch 11: not a multiple of the CPU's lane width. Steps near 0.5 keep cond(M) near 1e4..1e6
    // even at order 4 (as in tests/solvers), so a disagreement above 1e-10 is an indexing bug, not
    // rounding amplified by conditioning.
    const auto [p, grad_u, grad_eps] = random_gradient_case(z, 11, seed, 0.3, 0.7);
    const Emulated gpu = emulate(p, grad_u, grad_eps);
    for (const SystemStatus& status : gpu.status) ASSERT_EQ(status.outcome, kOk) << what;
    // Same arithmetic, scalar here and lane packs there: agreement to rounding.
    expect_agree(gpu, solve_sequential(p, grad_u, grad_eps), 1e-10, what);
  });
}

TEST(CudaNeurlpEmulation, ValidationReportsTheBatchElementAndInput) {
  const core::Sizes z = square_sizes(10, 1, 2, core::Formulation::Mnn);
  const std::vector<double> none;
  {
    Problem p = random_problem(z, 4, 7);
    p.rhs[static_cast<std::size_t>(2 * z.T + 5)] = std::numeric_limits<double>::infinity();
    const Emulated e = emulate(p, none, none, false);
    EXPECT_EQ(e.status[0].outcome, kOk);
    EXPECT_EQ(e.status[2].outcome, kBadRhs);
    EXPECT_EQ(e.status[2].index, 5);
    try {
      throw_first_failure(z, e.status);
      FAIL() << "no exception for an infinite rhs";
    } catch (const SolverError& error) {
      EXPECT_EQ(error.batch_element(), 2);
      const std::string expected = "neurlp: batch element 2: rhs holds a non-finite value (inf) at [e=0, t=5]";
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos)
          << error.what();
    }
  }
  {
    Problem p = random_problem(z, 3, 8);
    p.steps[static_cast<std::size_t>(1 * (z.T - 1) + 4)] = -0.1;
    p.coeffs[0] = std::numeric_limits<double>::quiet_NaN();
    const Emulated e = emulate(p, none, none, false);
    EXPECT_EQ(e.status[0].outcome, kBadCoefficient);
    EXPECT_EQ(e.status[1].outcome, kBadStep);
    EXPECT_EQ(e.status[1].index, 4);
    EXPECT_DOUBLE_EQ(e.status[1].pivot, -0.1);
    const std::string expected = "step size at [t=4, d=0] is -0.1; expected a positive finite value";
    EXPECT_NE(describe_failure(z, e.status[1]).find(expected), std::string::npos);
  }
}

TEST(CudaNeurlpEmulation, SingularSystemIsReportedNotSolved) {
  // No initial values and all-zero coefficients: u is not pinned by anything but smoothness rows,
  // so M_uu is singular (constants and polynomials are in its null space).
  core::Sizes z = square_sizes(8, 1, 2, core::Formulation::Scalable);
  z.S = 0;
  z.n_iv = 0;
  Problem p = random_problem(z, 2, 9);
  for (double& c : p.coeffs) c = 0.0;
  const Emulated e = emulate(p, {}, {}, false);
  for (const SystemStatus& status : e.status) {
    EXPECT_TRUE(status.outcome == kPivotTiny || status.outcome == kPivotNotPositive) << status.outcome;
  }
  EXPECT_THROW(throw_first_failure(z, e.status), SolverError);
  EXPECT_NE(describe_failure(z, e.status[0]).find("singular"), std::string::npos);
}

TEST(CudaNeurlpEmulation, EnvelopeStructureIsBandedAndLinearInT) {
  const core::Sizes small = square_sizes(50, 1, 2, core::Formulation::Mnn);
  const core::Sizes large = square_sizes(100, 1, 2, core::Formulation::Mnn);
  const EnvelopeStructure a = envelope_structure(small), b = envelope_structure(large);
  for (std::size_t i = 0; i < a.first.size(); ++i) {
    ASSERT_LE(a.first[i], static_cast<int>(i));
    // Rows couple at most two time blocks back (central rows reach t-1 and t+1).
    ASSERT_GE(a.first[i], static_cast<int>(i) - 3 * small.block()) << i;
  }
  EXPECT_EQ(a.offset.back() + (static_cast<std::int64_t>(a.first.size()) - 1 - a.first.back()) + 1, a.size);
  EXPECT_NEAR(static_cast<double>(b.size) / static_cast<double>(a.size), 2.0, 0.1);
  EXPECT_THROW(check_sizes(square_sizes(1, 1, 2, core::Formulation::Mnn), 1), Error);
  EXPECT_NO_THROW(check_sizes(square_sizes(10, 1, 2, core::Formulation::Hermite4), 1));
  // hermite4 with fewer rows than unknowns (one equation for two dimensions) is singular whatever
  // the values: refused before any kernel runs, as the CPU driver does.
  core::Sizes underdetermined = square_sizes(10, 2, 2, core::Formulation::Hermite4);
  underdetermined.E = 1;
  EXPECT_THROW(check_sizes(underdetermined, 1), SolverError);
  EXPECT_NO_THROW(check_sizes(small, 3));
}

// Every system but `element` solved, `element` failing at a pivot, and throw_first_failure naming
// it as singular.
void expect_only_singular(const core::Sizes& z, const std::vector<SystemStatus>& status, std::int64_t element,
                          const std::string& what) {
  for (std::size_t b = 0; b < status.size(); ++b) {
    const int outcome = status[b].outcome;
    if (static_cast<std::int64_t>(b) == element)
      EXPECT_TRUE(outcome == kPivotTiny || outcome == kPivotNotPositive) << what << ": outcome " << outcome;
    else
      EXPECT_EQ(outcome, kOk) << what << ": element " << b;
  }
  try {
    throw_first_failure(z, status);
    ADD_FAILURE() << what << ": a singular system was accepted";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), element) << what << ": " << error.what();
    EXPECT_NE(std::string(error.what()).find("singular"), std::string::npos) << what << ": " << error.what();
  }
}

// ---- the hermite4 kernels, emulated ---------------------------------------------------------

TEST(CudaNeurlpEmulation, Hermite4PerThreadCodeMatchesCpuBatchDriver) {
  unsigned seed = 600;
  // Orders 1-4 in D = 1 and 2 (the CPU's runtime-sized code, and its fixed-size code for D = 1,
  // P <= 3), and D = 3 at order 2 (fixed-size on the CPU): the GPU runs the runtime-sized code.
  std::vector<std::pair<int, int>> shapes;   // (order, D)
  for (int order = 1; order <= 4; ++order)
    for (int D = 1; D <= 2; ++D) shapes.emplace_back(order, D);
  shapes.emplace_back(2, 3);
  for (const auto& [order, D] : shapes) {
    const core::Sizes z = hermite4_sizes(25, D, order);
    // batch 11: not a multiple of the CPU's lane width.
    const auto [p, grad_u, grad_eps] = hermite4_gradient_case(z, 11, seed);
    const std::string what = "hermite4 order " + std::to_string(order) + " D " + std::to_string(D);
    const Emulated gpu = emulate(p, grad_u, grad_eps);
    for (const SystemStatus& status : gpu.status) ASSERT_EQ(status.outcome, kOk) << what;
    // Same arithmetic, scalar here and lane packs (and fixed-size blocks) there: agreement to
    // rounding times cond(M), which grows with the order. Which products the compiler fuses into
    // multiply-adds differs between the two, and between the CPU's pack widths: the CPU driver's
    // own results move by ~1e-14 (order 1), ~1e-11 (2) and ~1e-9 (3) between 4- and 8-lane packs
    // (solvers/README.md, "The CPU batch driver"), so no tolerance can sit below that. Measured
    // (largest field): orders 1-2 below 4e-11 with either width; order 3, 4e-11 against 8-lane
    // packs and 1.6e-10 against 4-lane ones (D = 2, the coefficient gradient); order 4, whose
    // normal matrix is far worse conditioned (the CPU driver itself is ~1e-6 off a dense solve of
    // these problems), 6e-9 (D = 1) and 3.6e-8 (D = 2).
    const double tolerance = order <= 2 ? 1e-10 : order == 3 ? 1e-9 : 1e-7;
    expect_agree(gpu, solve_sequential(p, grad_u, grad_eps), tolerance, what);
  }
}

TEST(CudaNeurlpEmulation, Hermite4ValidationReportsTheBatchElementAndInput) {
  const core::Sizes z = hermite4_sizes(10, 1, 2);
  unsigned seed = 31;
  Problem p = hermite4_gradient_case(z, 4, seed).problem;
  const std::size_t coeffs = static_cast<std::size_t>(strides_of(z).coeffs);
  p.coeffs[2 * coeffs + 7] = std::numeric_limits<double>::quiet_NaN();    // element 2
  p.steps[3 * static_cast<std::size_t>(z.T - 1) + 4] = 0.0;               // element 3
  const Emulated e = emulate(p, {}, {}, false);
  EXPECT_EQ(e.status[0].outcome, kOk);
  EXPECT_EQ(e.status[1].outcome, kOk);
  EXPECT_EQ(e.status[2].outcome, kBadCoefficient);
  EXPECT_EQ(e.status[2].index, 7);
  EXPECT_EQ(e.status[3].outcome, kBadStep);
  EXPECT_EQ(e.status[3].index, 4);
  EXPECT_EQ(e.status[3].pivot, 0.0);
  try {
    throw_first_failure(z, e.status);
    FAIL() << "no exception for a NaN coefficient";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 2) << error.what();
    EXPECT_NE(std::string(error.what()).find("batch element 2"), std::string::npos) << error.what();
  }
  EXPECT_NE(describe_failure(z, e.status[3]).find("step size at [t=4, d=0] is 0"), std::string::npos);
}

TEST(CudaNeurlpEmulation, Hermite4SingularSystemIsReportedNotSolved) {
  // c_P = 0 at every t in element 1: the equations are of order P-1 and the P initial values
  // over-fix them, so M is singular (tests/solvers/test_hermite4.cpp: the CPU driver refuses it).
  const core::Sizes z = hermite4_sizes(12, 1, 2);
  unsigned seed = 32;
  Problem p = hermite4_gradient_case(z, 3, seed).problem;
  for (int t = 0; t < z.T; ++t) p.coeffs[static_cast<std::size_t>((1 * z.T + t) * z.K + z.K - 1)] = 0.0;
  expect_only_singular(z, emulate(p, {}, {}, false).status, 1, "hermite4");
  std::vector<double> u(static_cast<std::size_t>(p.batch * z.solution_size())), eps(static_cast<std::size_t>(p.batch));
  EXPECT_THROW(core::forward_batch<double>(z, p.batch, p.inputs(), u.data(), eps.data(), false), SolverError)
      << "the CPU driver refuses it too";
}

// The per-thread code and the CPU driver report a bad system in the same words (neurlp_errors.h's
// validator and messages): the same batch element, input, index and value, for mnn and hermite4;
// for a singular system the same element, verdict and time (the pivot's digits may differ).
TEST(CudaNeurlpEmulation, FailuresReadAsTheCpuDriversDo) {
  auto cpu_message = [](const Problem& p) {
    std::vector<double> u(static_cast<std::size_t>(p.batch * p.sizes.solution_size())),
        eps(static_cast<std::size_t>(p.batch));
    try {
      core::forward_batch<double>(p.sizes, p.batch, p.inputs(), u.data(), eps.data(), false);
    } catch (const SolverError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  auto gpu_message = [](const Problem& p) {
    try {
      throw_first_failure(p.sizes, emulate(p, {}, {}, false).status);
    } catch (const SolverError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  unsigned seed = 40;
  for (const core::Sizes& z : {square_sizes(10, 2, 2, core::Formulation::Mnn), hermite4_sizes(10, 2, 2)}) {
    const Strides s = strides_of(z);
    const std::vector<std::function<void(Problem&)>> spoilers{
        [&](Problem& p) { p.rhs[static_cast<std::size_t>(2 * s.rhs + 5)] = inf; },
        [&](Problem& p) { p.coeffs[static_cast<std::size_t>(1 * s.coeffs + 7)] = nan; },
        [&](Problem& p) { p.iv[static_cast<std::size_t>(3 * s.iv + 1)] = nan; },
        [&](Problem& p) { p.steps[static_cast<std::size_t>(3 * s.steps + 4)] = -0.1; },
        [&](Problem& p) {   // no equation at t = 6 in element 1: singular for hermite4 (mnn smooths over it)
          for (std::int64_t i = 0; i < z.E; ++i)
            for (std::int64_t k = 0; k < z.D * z.K; ++k)
              p.coeffs[static_cast<std::size_t>(s.coeffs + (i * z.T + 6) * z.D * z.K + k)] = 0.0;
        }};
    const std::size_t cases = z.has_eps() ? spoilers.size() - 1 : spoilers.size();
    for (std::size_t c = 0; c < cases; ++c) {
      Problem p = hermite4_gradient_case(z, 4, seed).problem;
      spoilers[c](p);
      const std::string gpu = gpu_message(p), cpu = cpu_message(p);
      const std::string what = std::string(z.has_eps() ? "mnn" : "hermite4") + " case " + std::to_string(c);
      ASSERT_NE(cpu, "no error") << what;
      const std::size_t pivot = cpu.find(" (the Cholesky pivot");
      if (pivot == std::string::npos) EXPECT_EQ(gpu, cpu) << what;
      else EXPECT_EQ(gpu.substr(0, pivot), cpu.substr(0, pivot)) << what << "\n  gpu: " << gpu << "\n  cpu: " << cpu;
    }
  }
}

// ---- the chunked kernels, emulated ----------------------------------------------------------

// The chunked forward (3 launches) and backward (4 launches): thread (b, c) of a launch runs for
// every b and c, chunks of a system in reverse order, each launch finishing before the next.
Emulated emulate_chunked(const Problem& p, const neurlp_chunked::Plan& plan, const std::vector<double>& grad_u,
                         const std::vector<double>& grad_eps, bool run_backward = true) {
  const core::Sizes& z = p.sizes;
  const Strides s = strides_of(z);
  const neurlp_chunked::Structure& st = plan.structure();
  const neurlp_chunked::Extents x = neurlp_chunked::extents(z, st);
  const int C = plan.chunks();
  const auto B = static_cast<std::size_t>(p.batch);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto slab = [&](std::int64_t per_system) { return std::vector<double>(B * static_cast<std::size_t>(per_system), nan); };
  std::vector<double> env = slab(x.env), inverse_diagonal = slab(x.unknowns), q = slab(x.unknowns), schur = slab(1),
                      left = slab(x.spike_left), right = slab(x.spike_right), reduced = slab(x.reduced),
                      reduced_inverse = slab(x.reduced_unknowns), records = slab(x.records),
                      vectors = slab(x.reduced_vectors);
  std::vector<SystemStatus> chunk_status(B * static_cast<std::size_t>(C));
  Emulated out;
  out.u.assign(B * static_cast<std::size_t>(s.unknowns), nan);
  out.eps.assign(B, nan);
  out.status.resize(B);
  const ChunkedArrays<double> arrays{p.inputs(),         out.u.data(),       out.eps.data(),   env.data(),
                                     inverse_diagonal.data(), q.data(),      schur.data(),     left.data(),
                                     right.data(),       reduced.data(),     reduced_inverse.data(), records.data(),
                                     vectors.data(),     chunk_status.data(), out.status.data()};
  std::vector<core::Row<double>> row(1);
  const auto batch = static_cast<std::int64_t>(B);
  for (std::int64_t b = 0; b < batch; ++b)
    for (int c = C - 1; c >= 0; --c) factor_chunked_one(z, st, arrays, s, x, b, c, row[0]);
  for (std::int64_t b = 0; b < batch; ++b) reduce_chunked_one(z, st, arrays, s, x, b);
  for (std::int64_t b = 0; b < batch; ++b)
    for (int c = C - 1; c >= 0; --c) finish_forward_chunked_one(z, st, arrays, s, x, b, c);
  if (!run_backward) return out;
  out.coeffs.assign(p.coeffs.size(), nan);
  out.rhs.assign(p.rhs.size(), nan);
  out.iv.assign(p.iv.size(), nan);
  out.steps.assign(p.steps.size(), nan);
  std::vector<double> scratch = slab(s.unknowns);
  const BatchGradients<double> gradients{out.coeffs.data(), out.rhs.data(), out.iv.empty() ? nullptr : out.iv.data(),
                                         out.steps.data()};
  for (std::int64_t b = 0; b < batch; ++b)
    for (int c = C - 1; c >= 0; --c) backward_chunked_one(z, st, arrays, s, x, b, c, grad_u.data(), scratch.data());
  for (std::int64_t b = 0; b < batch; ++b) reduce_backward_chunked_one(z, st, arrays, s, x, b, grad_eps.data(), scratch.data());
  for (std::int64_t b = 0; b < batch; ++b)
    for (int c = C - 1; c >= 0; --c)
      finish_backward_chunked_one(z, st, arrays, s, x, b, c, scratch.data(), gradients, row[0]);
  for (std::int64_t b = 0; b < batch; ++b)
    boundary_gradients_chunked_one(z, st, arrays, s, x, b, scratch.data(), gradients, row[0]);
  return out;
}

TEST(CudaNeurlpEmulation, ChunkedPerThreadCodeMatchesCpuBatchDriver) {
  unsigned seed = 300;
  for_each_formulation_order_and_dimension(4, 41, [&](const core::Sizes& z, const std::string& shape) {
    const auto [p, grad_u, grad_eps] = random_gradient_case(z, 5, seed, 0.3, 0.7);
    const Solution cpu = solve_sequential(p, grad_u, grad_eps);
    for (int chunks : {1, 4, neurlp_chunked::max_chunks(z.T)}) {
      const neurlp_chunked::Plan plan(z, neurlp_chunked::balanced_begins(z.T, chunks));
      const std::string what = shape + " chunks " + std::to_string(plan.chunks());
      const Emulated gpu = emulate_chunked(p, plan, grad_u, grad_eps);
      for (const SystemStatus& status : gpu.status) ASSERT_EQ(status.outcome, kOk) << what;
      // Another elimination order than the CPU's: agreement to rounding times cond(M) (h in
      // [0.3, 0.7]: cond(M) below ~1e6; tests/solvers/test_neurlp_chunked.cpp measures 3e-11).
      expect_agree(gpu, cpu, 1e-10, what);
    }
  });
}

TEST(CudaNeurlpEmulation, ChunkedValidationReportsWhatTheSequentialKernelReports) {
  // Bad inputs in different chunks' time ranges (T = 30, 4 chunks owning times [0, 8), [8, 16),
  // [16, 24), [24, 30)): every batch element must get the outcome and index that the
  // one-thread-per-system kernel gives, also when two chunks see a bad input.
  const core::Sizes z = square_sizes(30, 2, 2, core::Formulation::Mnn);
  const neurlp_chunked::Plan plan(z, neurlp_chunked::balanced_begins(z.T, 4));
  ASSERT_EQ(plan.chunks(), 4);
  Problem p = random_problem(z, 6, 17, 0.3, 0.7);
  const std::size_t coeffs = static_cast<std::size_t>(strides_of(z).coeffs), rhs = static_cast<std::size_t>(z.E * z.T);
  const std::size_t steps = static_cast<std::size_t>((z.T - 1) * z.D);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  p.coeffs[1 * coeffs + (1 * z.T + 3) * z.block() + 3] = nan;    // element 1: equation 1, t = 3 (chunk 0)
  p.coeffs[1 * coeffs + (0 * z.T + 26) * z.block() + 1] = nan;   //   and equation 0, t = 26 (chunk 3): first
  p.rhs[2 * rhs + 0 * z.T + 16] = inf;                           // element 2: t = 16 (chunk 2)
  p.steps[3 * steps + 2 * z.D + 1] = 0.0;                        // element 3: a bad step in chunk 0 ...
  p.rhs[3 * rhs + 1 * z.T + 29] = nan;                           //   and a bad rhs in chunk 3: rhs first
  p.iv[4 * static_cast<std::size_t>(z.D * z.n_iv) + 1] = nan;    // element 4: an initial value
  p.steps[5 * steps + 14 * z.D] = -1.0;                          // element 5: step at t = 14 (chunk 1's separator)
  const Emulated sequential = emulate(p, {}, {}, false);
  const Emulated chunked = emulate_chunked(p, plan, {}, {}, false);
  const int expected[] = {kOk, kBadCoefficient, kBadRhs, kBadRhs, kBadInitialValue, kBadStep};
  for (std::size_t b = 0; b < 6; ++b) {
    EXPECT_EQ(sequential.status[b].outcome, expected[b]) << b;
    EXPECT_EQ(chunked.status[b].outcome, sequential.status[b].outcome) << b;
    EXPECT_EQ(chunked.status[b].index, sequential.status[b].index) << b;
    // The bad input's value (NaN for some: NaN == NaN fails, so compare NaN-ness first).
    const double chunked_value = chunked.status[b].pivot, sequential_value = sequential.status[b].pivot;
    EXPECT_TRUE(std::isnan(chunked_value) ? std::isnan(sequential_value) : chunked_value == sequential_value) << b;
  }
  EXPECT_EQ(chunked.status[1].index, 26 * z.block() + 1);
  try {
    throw_first_failure(z, chunked.status);
    FAIL() << "no exception for the bad inputs";
  } catch (const SolverError& error) {
    EXPECT_EQ(error.batch_element(), 1) << error.what();
  }
}

TEST(CudaNeurlpEmulation, ChunkedSingularSystemIsReportedNotSolved) {
  core::Sizes z = square_sizes(24, 1, 2, core::Formulation::Scalable);
  z.S = 0;
  z.n_iv = 0;
  Problem p = random_problem(z, 3, 19);
  for (int i = 0; i < z.T * z.K; ++i) p.coeffs[static_cast<std::size_t>(z.T * z.K + i)] = 0.0;   // element 1
  for (int b : {0, 2})   // the others are pinned by their equations
    for (int t = 0; t < z.T; ++t) p.coeffs[static_cast<std::size_t>((b * z.T + t) * z.K)] = 2.0;
  for (int chunks : {1, 3}) {
    const Emulated e = emulate_chunked(p, neurlp_chunked::Plan(z, neurlp_chunked::balanced_begins(z.T, chunks)), {}, {},
                                       false);
    expect_only_singular(z, e.status, 1, "chunks " + std::to_string(chunks));
  }
}

TEST(CudaNeurlpEmulation, ChunkChoiceFollowsShapeAndOverrides) {
  // Automatic: the chunked path where the batch leaves the GPU mostly idle and T is long; one
  // thread per system where the batch alone fills it or T is short.
  EXPECT_GE(choose_chunks(256, 1000, 132, kAutomaticChunks), 2);
  EXPECT_EQ(choose_chunks(1 << 16, 1000, 132, kAutomaticChunks), 0);
  EXPECT_EQ(choose_chunks(256, 20, 132, kAutomaticChunks), 0);
  EXPECT_LE(choose_chunks(256, 1000, 132, kAutomaticChunks), neurlp_chunked::max_chunks(1000));
  // More systems, fewer chunks (never more threads than the GPU holds).
  EXPECT_LE(choose_chunks(4096, 1000, 132, kAutomaticChunks), choose_chunks(256, 1000, 132, kAutomaticChunks));
  // Requested counts are kept (clipped to what T allows); 0 forces one thread per system.
  EXPECT_EQ(choose_chunks(256, 1000, 132, 0), 0);
  EXPECT_EQ(choose_chunks(1 << 16, 1000, 132, 7), 7);
  EXPECT_EQ(choose_chunks(4, 10, 132, 50), neurlp_chunked::max_chunks(10));
  EXPECT_EQ(choose_chunks(4, 5, 132, 50), 0);   // too short to chunk: the sequential kernel
  {
    const ChunkOverride force(5);
    EXPECT_EQ(requested_chunks(), 5);
    {
      const ChunkOverride inner(0);
      EXPECT_EQ(requested_chunks(), 0);
    }
    EXPECT_EQ(requested_chunks(), 5);
  }
  EXPECT_EQ(parse_chunk_request("auto"), kAutomaticChunks);
  EXPECT_EQ(parse_chunk_request("12"), 12);
  EXPECT_EQ(parse_chunk_request("0"), 0);
  EXPECT_THROW(parse_chunk_request("many"), Error);
  EXPECT_THROW(parse_chunk_request("-3"), Error);
}

}  // namespace
}  // namespace mech::neurlp_gpu
