// The entry point of test_distributed, which ctest runs under mpiexec with 2 and 3 ranks: every
// rank runs every test on the MPI process group (the default group), and the exit status is the
// same on every rank (failed anywhere = failed everywhere), so mpiexec reports one result.
#include <gtest/gtest.h>

#include "core/process_group.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto group = mech::init_process_group("mpi");
  mech::set_default_process_group(group);
  if (group->rank() != 0) {
    // The other ranks print failures only: one full report is enough to read.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local = RUN_ALL_TESTS();
  mech::Tensor failed = mech::full({1}, local != 0 ? 1.0 : 0.0, mech::TensorOptions().dtype(mech::DType::Float64));
  group->allreduce(failed, mech::ReduceOp::Sum).wait();
  const int result = failed.item() > 0 ? 1 : 0;
  group.reset();
  mech::set_default_process_group(nullptr);
  return result;
}
