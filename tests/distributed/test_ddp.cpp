// Data-parallel training across MPI ranks (run by ctest under mpiexec with 2 and 3 ranks): the
// process group's collectives, N ranks x batch b against one process x batch N*b, parameters
// identical bit for bit on every rank after every step, no_sync, unused parameters, the sampler,
// and a shape mismatch that fails on every rank instead of hanging.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <thread>

#include "core/parallel.h"
#include "core/process_group.h"
#include "nn/ddp_test_util.h"
#include "nn/distributed.h"

namespace mech::nn {
namespace {

using testing::f64;
using testing::global_batch;
using testing::rows_of;
using testing::SmallNet;

ProcessGroup& group() { return *default_process_group(); }
std::shared_ptr<ProcessGroup> group_pointer() { return default_process_group(); }

// Rank 0's copy of `tensor` (a broadcast), for exact comparisons across ranks.
Tensor rank_zero_copy(const Tensor& tensor) {
  Tensor copy = tensor.detach().clone();
  group().broadcast(copy, 0).wait();
  return copy;
}

void expect_identical_on_every_rank(Module& model, const std::string& when) {
  for (const auto& [name, parameter] : model.named_parameters()) {
    const Tensor reference = rank_zero_copy(parameter);
    EXPECT_EQ(parameter.to_vector<double>(), reference.to_vector<double>())
        << name << " differs from rank 0's on rank " << group().rank() << " " << when;
  }
}

double max_relative_difference(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]) / (std::abs(y[i]) + 1e-12));
  return worst;
}

TEST(ProcessGroupMpi, AllreduceAndBroadcastAgreeWithTheRankArithmetic) {
  const int world = group().world_size(), rank = group().rank();
  ASSERT_GE(world, 2) << "run under mpiexec -n 2 or more";
  EXPECT_EQ(group().backend_name(), "mpi");
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor values = full({1000}, rank + 1.0, TensorOptions().dtype(dtype));
    Work work = group().allreduce(values, ReduceOp::Sum);
    while (!work.is_completed()) {
    }
    const double sum = world * (world + 1) / 2.0;
    EXPECT_EQ(values.to_vector<double>(), std::vector<double>(1000, sum));
    Tensor average = full({3}, 2.0 * rank, TensorOptions().dtype(dtype));
    group().allreduce(average, ReduceOp::Average).wait();
    EXPECT_EQ(average.to_vector<double>(), std::vector<double>(3, world - 1.0));
    Tensor broadcast = full({5}, static_cast<double>(rank), TensorOptions().dtype(dtype));
    group().broadcast(broadcast, world - 1).wait();
    EXPECT_EQ(broadcast.to_vector<double>(), std::vector<double>(5, world - 1.0));
  }
  group().barrier();
}

// Every rank starts from other weights (seeded by rank): construction must copy rank 0's.
TEST(ProcessGroupMpi, RanksOnOneMachineShareItsCores) {
  // ctest starts every rank on this machine, and nothing here calls set_num_threads.
  EXPECT_EQ(group().local_world_size(), group().world_size());
  const char* chosen = std::getenv("OMP_NUM_THREADS");
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int expected = chosen != nullptr && std::atoi(chosen) > 0 ? std::atoi(chosen)
                                                                   : std::max(1, hardware / group().world_size());
  EXPECT_EQ(get_num_threads(), expected) << "hardware threads " << hardware << ", ranks " << group().world_size();
}

TEST(DistributedDataParallel, RanksTrainLikeOneProcessOnTheWholeBatchAndStayIdentical) {
  const int world = group().world_size(), rank = group().rank();
  const std::int64_t per_rank = 3;
  SmallNet reference(8, 7);            // one process, the whole batch
  SmallNet model(8, 7 + rank);         // this rank
  DistributedDataParallel ddp(model, group_pointer(),
                              DistributedDataParallelOptions().first_bucket_cap_mb(1e-4).bucket_cap_mb(2e-4));
  ASSERT_GE(ddp.bucket_parameters().size(), 3u);  // several buckets, launched in order during backward
  expect_identical_on_every_rank(model, "after construction");
  EXPECT_EQ(model.first->weight().to_vector<double>(), reference.first->weight().to_vector<double>());
  Adam reference_optimizer(reference.parameters(), AdamOptions(1e-2));
  Adam optimizer(model.parameters(), AdamOptions(1e-2));
  StepLR schedule(optimizer, 3, 0.5);
  StepLR reference_schedule(reference_optimizer, 3, 0.5);
  for (std::uint64_t step = 0; step < 6; ++step) {
    const auto batch = global_batch(per_rank * world, step);
    reference_optimizer.zero_grad();
    reference.loss(batch.inputs, batch.targets).backward();
    clip_grad_norm_(reference.parameters(), 0.5);
    reference_optimizer.step();
    reference_schedule.step();

    const auto share = rows_of(batch, rank * per_rank, (rank + 1) * per_rank);
    optimizer.zero_grad();
    model.loss(share.inputs, share.targets).backward();
    clip_grad_norm_(model.parameters(), 0.5);
    optimizer.step();
    schedule.step();
    expect_identical_on_every_rank(model, fmt::format("after step {}", step + 1));
  }
  for (const auto& [name, parameter] : model.named_parameters()) {
    // Sums in another order than one process's: equal to rounding, amplified a little by 6 Adam steps.
    EXPECT_LT(max_relative_difference(parameter, reference.find_tensor(name)), 1e-10) << name;
  }
  EXPECT_EQ(ddp.statistics().synchronised_passes, 6);
}

TEST(DistributedDataParallel, NoSyncAccumulatesLocallyThenAveragesTheSum) {
  const int world = group().world_size(), rank = group().rank();
  SmallNet reference, model;
  DistributedDataParallel ddp(model, group_pointer());
  const auto first = global_batch(2 * world, 10), second = global_batch(2 * world, 11);
  reference.loss(first.inputs, first.targets).backward();
  reference.loss(second.inputs, second.targets).backward();
  {
    auto guard = ddp.no_sync();
    const auto share = rows_of(first, 2 * rank, 2 * rank + 2);
    model.loss(share.inputs, share.targets).backward();
    // Local until the next synchronised pass: the other ranks' gradients differ.
    SmallNet local;
    local.loss(share.inputs, share.targets).backward();
    EXPECT_EQ(model.first->weight().grad().to_vector<double>(), local.first->weight().grad().to_vector<double>());
  }
  const auto share = rows_of(second, 2 * rank, 2 * rank + 2);
  model.loss(share.inputs, share.targets).backward();
  for (const auto& [name, parameter] : model.named_parameters()) {
    if (!parameter.grad().defined()) continue;
    EXPECT_LT(max_relative_difference(parameter.grad(), reference.find_tensor(name).grad()), 1e-12) << name;
    EXPECT_EQ(parameter.grad().to_vector<double>(), rank_zero_copy(parameter.grad()).to_vector<double>()) << name;
  }
}

TEST(DistributedDataParallel, UnusedParametersCompleteTheirBucketsAndAreAveragedAsZeros) {
  const int world = group().world_size(), rank = group().rank();
  SmallNet model;
  // One bucket for everything: without unused-parameter handling it would never complete.
  DistributedDataParallel ddp(model, group_pointer());
  const auto batch = global_batch(world, 20);
  const auto share = rows_of(batch, rank, rank + 1);
  model.loss(share.inputs, share.targets, /*use_extra=*/rank == 0).backward();
  // extra: 2 * extra on rank 0, nothing elsewhere; the average is 2 * 0.5 / world per element.
  ASSERT_TRUE(model.extra.grad().defined());
  EXPECT_EQ(model.extra.grad().to_vector<double>(), std::vector<double>(2, 1.0 / world));
  EXPECT_FALSE(model.never.grad().defined()) << "no rank used it";
  // The next step uses extra nowhere, and still completes.
  model.zero_grad();
  model.loss(share.inputs, share.targets).backward();
  EXPECT_FALSE(model.extra.grad().defined());
  EXPECT_EQ(ddp.statistics().synchronised_passes, 2);
}

TEST(DistributedDataParallel, AShapeMismatchIsAnErrorOnEveryRank) {
  const int rank = group().rank();
  SmallNet model(rank == 1 ? 9 : 8);
  try {
    DistributedDataParallel ddp(model, group_pointer());
    FAIL() << "rank " << rank << " accepted a module that differs across ranks";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("differ across the"), std::string::npos) << error.what();
  }
  // A parameter more on the last rank, same everything else.
  SmallNet other;
  if (rank == group().world_size() - 1) other.register_parameter("surplus", zeros({1}, f64));
  EXPECT_THROW(DistributedDataParallel(other, group_pointer()), Error);
  group().barrier();  // every rank got here: nobody hangs
}

TEST(DistributedSampler, RanksTogetherCoverTheEpochInEqualSteps) {
  const int world = group().world_size(), rank = group().rank();
  const std::int64_t size = 10;
  DistributedSampler sampler(size, world, rank, true, 3);
  sampler.set_epoch(2);
  const auto share = sampler.indices();
  // Count each item over all ranks with one allreduce; lengths with another.
  Tensor counts = zeros({size}, f64);
  for (std::int64_t index : share) counts.narrow(0, index, 1).add_(ones({1}, f64));
  group().allreduce(counts, ReduceOp::Sum).wait();
  double total = 0;
  for (double count : counts.to_vector<double>()) {
    EXPECT_GE(count, 1.0);
    total += count;
  }
  EXPECT_EQ(total, static_cast<double>(sampler.samples_per_rank() * world));
  Tensor length = full({1}, static_cast<double>(share.size()), f64);
  const Tensor rank_zero_length = rank_zero_copy(length);
  EXPECT_EQ(length.item(), rank_zero_length.item());
}

}  // namespace
}  // namespace mech::nn
