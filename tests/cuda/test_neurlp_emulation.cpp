// The GPU solver's per-thread code (solvers/neurlp_gpu_device.h: slicing the batch-major arrays,
// validation, forward_one / backward_one) run on the CPU, one system after another exactly as the
// kernel's threads would, and compared with the CPU batch driver: so indexing and validation
// mistakes in the GPU path fail here, on machines without a GPU. Also the failure reports
// (non-finite input, bad step, singular system) and the envelope structure. The same for the
// parallel-in-time kernels (the *_chunked_one functions): every thread of a launch, (system,
// chunk) pairs in reverse order, one launch after the other, on NaN-filled device arrays.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp_gpu_device.h"
#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_gpu {
namespace {

namespace core = mech::neurlp_core;
using namespace core::testing;   // Problem, random_gradient_case, solve_sequential, expect_agree, ...

struct Emulated : Solution {
  std::vector<SystemStatus> status;
};

// The forward and backward kernels, emulated: thread b runs for b = 0 .. B-1 on host arrays.
Emulated emulate(const Problem& p, const std::vector<double>& grad_u, const std::vector<double>& grad_eps,
                 bool run_backward = true) {
  const core::Sizes& z = p.sizes;
  const Strides s = strides_of(z);
  const EnvelopeStructure structure = envelope_structure(z);
  const auto B = static_cast<std::size_t>(p.batch);
  const auto n = static_cast<std::size_t>(s.unknowns);
  std::vector<double> env(B * static_cast<std::size_t>(structure.size)), inverse_diagonal(B * n), z2(B * n), schur(B);
  Emulated out;
  out.u.assign(B * n, 0.0);
  out.eps.assign(B, 0.0);
  const BatchArrays<double> arrays{p.inputs(), out.u.data(), out.eps.data(), env.data(), inverse_diagonal.data(),
                                   z2.data(), schur.data()};
  std::vector<core::Row<double>> row(1);
  for (std::size_t b = 0; b < B; ++b) {
    out.status.push_back(forward_one(z, structure.envelope(), arrays, s, static_cast<std::int64_t>(b), row[0]));
  }
  if (!run_backward) return out;
  out.coeffs.assign(p.coeffs.size(), 0.0);
  out.rhs.assign(p.rhs.size(), 0.0);
  out.iv.assign(p.iv.size(), 0.0);
  out.steps.assign(p.steps.size(), 0.0);
  std::vector<double> scratch(B * n);
  const BatchGradients<double> gradients{out.coeffs.data(), out.rhs.data(), out.iv.empty() ? nullptr : out.iv.data(),
                                         out.steps.data()};
  for (std::size_t b = 0; b < B; ++b) {
    backward_one(z, structure.envelope(), arrays, s, static_cast<std::int64_t>(b), grad_u.data(), grad_eps.data(),
                 scratch.data(), gradients, row[0]);
  }
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
  for (auto formulation : {core::Formulation::Mnn, core::Formulation::Scalable}) {
    for (int order = 1; order <= 4; ++order) {
      for (int D = 1; D <= 2; ++D) {
        const core::Sizes z = core::testing::sizes_of(25, D, order, D, 1, order, formulation);
        // batch 11: not a multiple of the CPU's lane width. Steps near 0.5 keep cond(M) near
        // 1e4..1e6 even at order 4 (as in tests/solvers), so a disagreement above 1e-10 is an
        // indexing bug, not rounding amplified by conditioning.
        const auto [p, grad_u, grad_eps] = random_gradient_case(z, 11, seed, 0.3, 0.7);
        const std::string what = std::string(formulation == core::Formulation::Mnn ? "mnn" : "scalable") + " order " +
                                 std::to_string(order) + " D " + std::to_string(D);
        const Emulated gpu = emulate(p, grad_u, grad_eps);
        for (const SystemStatus& status : gpu.status) ASSERT_EQ(status.outcome, kOk) << what;
        // Same arithmetic, scalar here and lane packs there: agreement to rounding.
        expect_agree(gpu, solve_sequential(p, grad_u, grad_eps), 1e-10, what);
      }
    }
  }
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
      EXPECT_NE(std::string(error.what()).find("rhs entry 5 of batch element 2 is not finite"), std::string::npos)
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
    EXPECT_NE(describe_failure(z, 1, e.status[1]).find("steps must be finite and > 0"), std::string::npos);
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
  EXPECT_NE(describe_failure(z, 0, e.status[0]).find("singular"), std::string::npos);
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
  EXPECT_THROW(check_sizes(square_sizes(10, 1, 2, core::Formulation::Hermite4), 1), Error);
  EXPECT_NO_THROW(check_sizes(small, 3));
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
  for (auto formulation : {core::Formulation::Mnn, core::Formulation::Scalable}) {
    for (int order = 1; order <= 4; ++order) {
      for (int D = 1; D <= 2; ++D) {
        const core::Sizes z = core::testing::sizes_of(41, D, order, D, 1, order, formulation);
        const auto [p, grad_u, grad_eps] = random_gradient_case(z, 5, seed, 0.3, 0.7);
        const Solution cpu = solve_sequential(p, grad_u, grad_eps);
        for (int chunks : {1, 4, neurlp_chunked::max_chunks(z.T)}) {
          const neurlp_chunked::Plan plan(z, neurlp_chunked::balanced_begins(z.T, chunks));
          const std::string what = std::string(formulation == core::Formulation::Mnn ? "mnn" : "scalable") +
                                   " order " + std::to_string(order) + " D " + std::to_string(D) + " chunks " +
                                   std::to_string(plan.chunks());
          const Emulated gpu = emulate_chunked(p, plan, grad_u, grad_eps);
          for (const SystemStatus& status : gpu.status) ASSERT_EQ(status.outcome, kOk) << what;
          // Another elimination order than the CPU's: agreement to rounding times cond(M) (h in
          // [0.3, 0.7]: cond(M) below ~1e6; tests/solvers/test_neurlp_chunked.cpp measures 3e-11).
          expect_agree(gpu, cpu, 1e-10, what);
        }
      }
    }
  }
}

TEST(CudaNeurlpEmulation, ChunkedValidationReportsWhatTheSequentialKernelReports) {
  // Bad inputs in different chunks' time ranges (T = 30, 4 chunks owning times [0, 8), [8, 16),
  // [16, 24), [24, 30)): every batch element must get the outcome and index that the
  // one-thread-per-system kernel gives, also when two chunks see a bad input.
  const core::Sizes z = square_sizes(30, 2, 2, core::Formulation::Mnn);
  const neurlp_chunked::Plan plan(z, neurlp_chunked::balanced_begins(z.T, 4));
  ASSERT_EQ(plan.chunks(), 4);
  Problem p = random_problem(z, 6, 17, 0.3, 0.7);
  const std::size_t coeffs = static_cast<std::size_t>(z.E * z.T * z.block()), rhs = static_cast<std::size_t>(z.E * z.T);
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
    EXPECT_EQ(chunked.status[b].pivot, sequential.status[b].pivot) << b;
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
    EXPECT_EQ(e.status[0].outcome, kOk) << chunks;
    EXPECT_EQ(e.status[2].outcome, kOk) << chunks;
    EXPECT_TRUE(e.status[1].outcome == kPivotTiny || e.status[1].outcome == kPivotNotPositive) << e.status[1].outcome;
    try {
      throw_first_failure(z, e.status);
      FAIL() << "a singular system was accepted";
    } catch (const SolverError& error) {
      EXPECT_EQ(error.batch_element(), 1) << error.what();
      EXPECT_NE(std::string(error.what()).find("singular"), std::string::npos) << error.what();
    }
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
