// The NCCL process group with world size 1 on a GPU machine (NCCL refuses two ranks on one GPU;
// the multi-rank logic is tested with MPI in tests/distributed), and DistributedDataParallel on
// it: the collectives run on CUDA tensors and leave one rank's values as they are.
#include <gtest/gtest.h>

#include "core/process_group.h"
#include "cuda/backend.h"
#include "nn/distributed.h"
#include "nn/linear.h"

namespace mech {
namespace {

// Why the NCCL tests cannot run here ("" when they can).
std::string skip_reason() {
  if (!process_group_available("nccl")) return "mech was built without NCCL";
  if (!cuda::is_available()) return "no CUDA device: " + cuda::availability();
  if (launched_by_mpi()) return "world size 1 only: run outside mpirun";
  return "";
}

TEST(ProcessGroupNccl, OneRankCollectivesOnTheGpu) {
  if (const std::string reason = skip_reason(); !reason.empty()) GTEST_SKIP() << reason;
  auto group = init_process_group("nccl", Device::cuda(0));
  EXPECT_EQ(group->backend_name(), "nccl");
  EXPECT_EQ(group->world_size(), 1);
  Tensor values = from_vector(std::vector<double>{1.5, -2.0, 3.0}, {3}).to(Device::cuda(0));
  Work work = group->allreduce(values, ReduceOp::Average);
  work.wait();
  EXPECT_TRUE(work.is_completed());
  group->broadcast(values, 0).wait();
  group->barrier();
  EXPECT_EQ(values.to_vector<double>(), (std::vector<double>{1.5, -2.0, 3.0}));
  Tensor on_host = zeros({2});
  EXPECT_THROW(group->allreduce(on_host), Error);  // NCCL takes this rank's GPU tensors only
}

TEST(ProcessGroupNccl, DataParallelLinearKeepsItsGradientsOnOneRank) {
  if (const std::string reason = skip_reason(); !reason.empty()) GTEST_SKIP() << reason;
  auto group = init_process_group("nccl", Device::cuda(0));
  nn::Linear plain(3, 2), wrapped(3, 2);
  wrapped.load_state_dict(plain.state_dict());
  plain.to(Device::cuda(0));
  wrapped.to(Device::cuda(0));
  nn::DistributedDataParallel ddp(wrapped, group);
  const Tensor input = ones({4, 3}).to(Device::cuda(0));
  plain.forward(input).sum().backward();
  wrapped.forward(input).sum().backward();
  EXPECT_EQ(wrapped.weight().grad().to_vector<float>(), plain.weight().grad().to_vector<float>());
  EXPECT_EQ(ddp.statistics().synchronised_passes, 1);
}

}  // namespace
}  // namespace mech
