// ProcessGroup: the ranks of a data-parallel run and the collectives between them (allreduce,
// broadcast, barrier), as c10d's ProcessGroup in libtorch. Backends:
//   "single"  one process, always built: every collective is a no-op (the sum of one rank).
//   "mpi"     MPI (core/process_group_mpi.cpp; CMake MECH_MPI): CPU tensors, CUDA tensors through
//             host copies (Debian's OpenMPI is not CUDA-aware).
//   "nccl"    NCCL (cuda/process_group_nccl.cpp; CMake MECH_NCCL): CUDA tensors, one GPU per rank,
//             bootstrapped over MPI when mech has MPI and runs under mpirun, else from RANK,
//             WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
//   "auto"    nccl for a CUDA device and mpi for the CPU when the process was started by mpirun (or,
//             for nccl, by a launcher that sets WORLD_SIZE) and the backend was built; else single.
//
//   auto group = mech::init_process_group("auto");
//   mech::Work work = group->allreduce(gradients, mech::ReduceOp::Average);  // returns at once
//   ... more computation ...
//   work.wait();
//
// Collectives take contiguous float32/float64 tensors and work in place. Every rank must issue the
// same collectives in the same order (MPI and NCCL match them by order): a rank that skips one
// hangs the others.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace mech {

enum class ReduceOp { Sum, Average };

// The handle of an asynchronous collective. The tensor it was given holds the result once wait()
// has returned (or is_completed() has said true). A default Work is complete.
class Work {
 public:
  // What a backend implements: test() makes progress and says whether the collective is done;
  // wait() blocks until it is and finishes it (copies back, divides for Average).
  class State {
   public:
    virtual ~State() = default;
    virtual bool test() = 0;
    virtual void wait() = 0;
  };

  Work() = default;
  explicit Work(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Polls the backend: MPI progresses only inside MPI calls, so polling during computation is
  // what lets a non-blocking collective advance.
  bool is_completed();
  void wait();

 private:
  std::shared_ptr<State> state_;
  bool done_ = false;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  // The rank among the processes on this machine: which GPU a rank takes.
  int local_rank() const { return local_rank_; }
  // How many of the ranks run on this machine (they share its cores: core/parallel.h).
  int local_world_size() const { return local_world_size_; }
  bool is_main() const { return rank_ == 0; }
  virtual std::string backend_name() const = 0;

  // Sums (or averages) `tensor` over the ranks, in place. The result is the same bit for bit on
  // every rank; against one process summing the same numbers it differs by rounding (the order
  // of the sum depends on the rank count).
  virtual Work allreduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum) = 0;
  // Overwrites `tensor` on every rank with root's.
  virtual Work broadcast(Tensor& tensor, int root = 0) = 0;
  virtual void barrier() = 0;

 protected:
  ProcessGroup(int rank, int world_size, int local_rank, int local_world_size = 1)
      : rank_(rank), world_size_(world_size), local_rank_(local_rank), local_world_size_(local_world_size) {}
  // The checks every backend's collectives start with; `what` names the collective.
  static void check_collective_tensor(const char* backend, const char* what, const Tensor& tensor);

 private:
  int rank_;
  int world_size_;
  int local_rank_;
  int local_world_size_;
};

// One process: rank 0 of 1.
class SingleProcessGroup final : public ProcessGroup {
 public:
  SingleProcessGroup() : ProcessGroup(0, 1, 0) {}
  std::string backend_name() const override { return "single"; }
  Work allreduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum) override;
  Work broadcast(Tensor& tensor, int root = 0) override;
  void barrier() override {}
};

// "single", "mpi", "nccl" or "auto" (see the top of this file); `device` is where the tensors
// will live (auto picks nccl for CUDA). A backend that was not built is a mech::Error naming the
// CMake option; so is an unknown name. Unless a thread count was chosen, each rank's CPU kernels
// then take its share of the machine's cores (share_cores_among in core/parallel.h).
std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend = "auto", Device device = Device::cpu());

// True when the backend was compiled in ("single" always).
bool process_group_available(const std::string& backend);

// The group of the running program, for code that has no handle passed to it (drivers' logging,
// checkpoints): the last one set, else a single-process group.
std::shared_ptr<ProcessGroup> default_process_group();
void set_default_process_group(std::shared_ptr<ProcessGroup> group);

// Backend constructors, each defined in its backend's file or in its *_stubs.cpp (which throws
// "built without").
std::shared_ptr<ProcessGroup> make_mpi_process_group(Device device);
std::shared_ptr<ProcessGroup> make_nccl_process_group(Device device);
bool mpi_available();
bool nccl_available();
// True when this process was started by mpirun/mpiexec (OpenMPI, MPICH or PMIx environment).
bool launched_by_mpi();

}  // namespace mech
