// The cuSPARSE comparison solver (solvers/neurlp_cusparse.h: csric02 + SpSV L, L^T on the batch's
// block-diagonal CSR normal matrix) against mech's GPU solver (solvers/neurlp_gpu.h) and the CPU batch
// driver: u and eps to 1e-8 over orders 1-3, D = 1 and 2, both formulations; one analysis serving
// several solves with different values (so SpSV really sees each new factor), inputs left intact.
// The CSR form itself is checked on the CPU (test_neurlp_csr.cpp). Without a device every test
// skips.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/tensor.h"
#include "cuda/backend.h"
#include "cuda/neurlp_gpu_test_util.h"
#include "solvers/neurlp_csr.h"
#include "solvers/neurlp_cusparse.h"
#include "solvers/neurlp_gpu.h"
#include "solvers/neurlp_test_util.h"

namespace mech::neurlp_gpu {
namespace {

namespace core = mech::neurlp_core;
using core::testing::Problem;
using core::testing::random_problem;
using core::testing::relative_error;

#define REQUIRE_CUDA_DEVICE()                                                                      \
  do {                                                                                             \
    if (!cuda::is_available())                                                                     \
      GTEST_SKIP() << "no CUDA device: the cuSPARSE solver needs a GPU (run tools/gpu-check)";     \
  } while (0)

Tensor on_device(const std::vector<double>& values) {
  return from_vector<double>(values, {static_cast<std::int64_t>(values.size())}).to(Device::cuda());
}
std::vector<double> on_host(const Tensor& t) { return t.to(Device::cpu()).to_vector<double>(); }

struct Solution {
  std::vector<double> u, eps;
};

Solution cpu_forward(const Problem& p) {
  Solution s{std::vector<double>(static_cast<std::size_t>(p.batch * p.sizes.unknowns())),
             std::vector<double>(static_cast<std::size_t>(p.batch))};
  core::forward_batch<double>(p.sizes, p.batch, p.inputs(), s.u.data(), s.eps.data(), false);
  return s;
}

Solution gpu_forward(const Problem& p) {
  const Tensor coeffs = on_device(p.coeffs), rhs = on_device(p.rhs), iv = on_device(p.iv), steps = on_device(p.steps);
  const auto options = TensorOptions().dtype(DType::Float64).device(Device::cuda());
  const Tensor u = empty({p.batch * p.sizes.unknowns()}, options), eps = empty({p.batch}, options);
  forward_batch<double>(p.sizes, p.batch,
                        {coeffs.data_ptr<double>(), rhs.data_ptr<double>(), iv.data_ptr<double>(),
                         steps.data_ptr<double>()},
                        u.data_ptr<double>(), eps.data_ptr<double>(), false, 0);
  return {on_host(u), on_host(eps)};
}

// Assembles on the host, solves with `solver` (whose shape must be p's), and checks that solve()
// left its device inputs as they were.
Solution cusparse_forward(CusparseSolver<double>& solver, const Problem& p) {
  const CsrLayout& layout = solver.layout();
  const core::EnvelopePlan plan(p.sizes);
  std::vector<double> values(static_cast<std::size_t>(layout.nonzeros())), rhs(static_cast<std::size_t>(layout.rows()));
  csr_batch_values(p.sizes, plan.envelope(), p.batch, p.inputs(), values.data(), rhs.data());
  const Tensor device_values = on_device(values), device_rhs = on_device(rhs);
  const Tensor solution = empty({layout.rows()}, TensorOptions().dtype(DType::Float64).device(Device::cuda()));
  solver.solve(device_values.data_ptr<double>(), device_rhs.data_ptr<double>(), solution.data_ptr<double>());
  EXPECT_EQ(on_host(device_values), values) << "solve() modified its values";
  EXPECT_EQ(on_host(device_rhs), rhs) << "solve() modified its right-hand side";
  const std::vector<double> y = on_host(solution);
  Solution s{std::vector<double>(static_cast<std::size_t>(p.batch * p.sizes.unknowns())),
             std::vector<double>(static_cast<std::size_t>(p.batch))};
  csr_split_solution(layout, y.data(), s.u.data(), s.eps.data());
  return s;
}

// Three factorisations of the same matrices in different orders of work (envelope Cholesky with
// eps eliminated by its border, on the CPU and the GPU; cuSPARSE's level-scheduled Cholesky with
// eps last): with steps near 0.5, cond(M) stays below ~1e6 (test_neurlp_cuda.cpp), so 1e-8 leaves
// a factor of ~100 over the expected cond(M) * 1e-16.
constexpr double kTolerance = 1e-8;

TEST(CudaNeurlpCusparse, MatchesTheGpuAndCpuSolvers) {
  REQUIRE_CUDA_DEVICE();
  unsigned seed = 500;
  core::testing::for_each_formulation_order_and_dimension(3, 40, [&](const core::Sizes& z, const std::string& what) {
    const std::int64_t batch = 5;
    const Problem problem = random_problem(z, batch, ++seed, 0.3, 0.7);
    const Solution cpu = cpu_forward(problem), gpu = gpu_forward(problem);
    CusparseSolver<double> solver(z, batch);
    ASSERT_EQ(solver.layout().rows(), batch * (z.unknowns() + (z.has_eps() ? 1 : 0))) << what;
    EXPECT_GT(solver.bytes(), 0) << what;
    const Solution sparse = cusparse_forward(solver, problem);
    EXPECT_LE(relative_error(sparse.u, gpu.u), kTolerance) << what << ": u against the GPU solver";
    EXPECT_LE(relative_error(sparse.u, cpu.u), kTolerance) << what << ": u against the CPU solver";
    EXPECT_LE(relative_error(sparse.eps, gpu.eps), kTolerance) << what << ": eps against the GPU solver";
    EXPECT_LE(relative_error(sparse.eps, cpu.eps), kTolerance) << what << ": eps against the CPU solver";
  });
}

TEST(CudaNeurlpCusparse, OneAnalysisServesSolvesWithNewValues) {
  REQUIRE_CUDA_DEVICE();
  const core::Sizes z = core::testing::sizes_of_order(2, 1, core::Formulation::Mnn, 200);
  const std::int64_t batch = 17;
  CusparseSolver<double> solver(z, batch);
  for (unsigned seed : {1u, 2u, 1u}) {
    const Problem problem = random_problem(z, batch, seed, 0.3, 0.7);
    const Solution cpu = cpu_forward(problem);
    const Solution sparse = cusparse_forward(solver, problem);
    EXPECT_LE(relative_error(sparse.u, cpu.u), kTolerance) << "seed " << seed;
    EXPECT_LE(relative_error(sparse.eps, cpu.eps), kTolerance) << "seed " << seed;
  }
}

TEST(CudaNeurlpCusparse, RejectsBatchesBeyondThirtyTwoBitIndices) {
  REQUIRE_CUDA_DEVICE();
  const core::Sizes z = core::testing::sizes_of_order(2, 1, core::Formulation::Mnn, 10000);
  try {
    CusparseSolver<double> solver(z, 100000);   // ~1.7e10 stored entries
    FAIL() << "an oversized batch was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("32-bit"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace mech::neurlp_gpu
