// The process group's single-process backend and factory (core/process_group.h); MPI with several
// ranks is tested under mpiexec in tests/distributed.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/process_group.h"

namespace mech {
namespace {

TEST(ProcessGroup, SingleProcessCollectivesLeaveTheTensorAsItIs) {
  auto group = init_process_group("single");
  EXPECT_EQ(group->rank(), 0);
  EXPECT_EQ(group->world_size(), 1);
  EXPECT_EQ(group->local_rank(), 0);
  EXPECT_EQ(group->backend_name(), "single");
  Tensor values = from_vector(std::vector<double>{1.5, -2.0}, {2});
  Work work = group->allreduce(values, ReduceOp::Average);
  EXPECT_TRUE(work.is_completed());
  work.wait();
  group->broadcast(values, 0).wait();
  group->barrier();
  EXPECT_EQ(values.to_vector<double>(), (std::vector<double>{1.5, -2.0}));
}

TEST(ProcessGroup, CollectivesRefuseWhatNoBackendTakes) {
  auto group = init_process_group("single");
  Tensor integers = zeros({2}, TensorOptions().dtype(DType::Int64));
  EXPECT_THROW(group->allreduce(integers), Error);
  Tensor strided = zeros({3, 2}).t();
  EXPECT_THROW(group->allreduce(strided), Error);
  Tensor values = zeros({2});
  EXPECT_THROW(group->broadcast(values, 1), Error);
}

TEST(ProcessGroup, AMissingOrUnknownBackendIsAClearError) {
  try {
    (void)init_process_group("gloo");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unknown backend 'gloo'"), std::string::npos) << error.what();
  }
  if (!process_group_available("nccl")) {
    try {
      (void)init_process_group("nccl", Device::cuda(0));
      FAIL() << "no error";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("built without NCCL"), std::string::npos) << error.what();
    }
  }
  if (!process_group_available("mpi")) {
    EXPECT_THROW((void)init_process_group("mpi"), Error);
  }
}

TEST(ProcessGroup, AutoOutsideALauncherIsTheSingleProcessGroup) {
  if (launched_by_mpi()) GTEST_SKIP() << "this test process was started by mpirun";
  EXPECT_EQ(init_process_group("auto")->backend_name(), "single");
  EXPECT_EQ(default_process_group()->world_size(), 1);
}

}  // namespace
}  // namespace mech
