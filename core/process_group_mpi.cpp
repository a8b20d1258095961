// The MPI backend of the process group (core/process_group.h): non-blocking MPI_Iallreduce and
// MPI_Ibcast on a duplicate of MPI_COMM_WORLD. Compiled only with MECH_MPI (else
// core/process_group_mpi_stubs.cpp).
//
// MPI makes progress on a non-blocking collective only while the rank is inside an MPI call, so
// Work::is_completed polls MPI_Test: a caller that polls between pieces of computation (the
// gradient buckets of nn::DistributedDataParallel, once per ready gradient) overlaps the transfer
// with the computation. CUDA tensors are staged through host copies: Debian's OpenMPI is not
// CUDA-aware.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/grad_mode.h"
#include "core/parallel.h"
#include "core/process_group.h"
#include "core/process_group_mpi.h"

namespace mech {

namespace {

struct MpiLifetime {
  bool initialised_here = false;
  ~MpiLifetime() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (initialised_here && !finalised) MPI_Finalize();
  }
};

MPI_Datatype mpi_type(DType dtype) { return dtype == DType::Float64 ? MPI_DOUBLE : MPI_FLOAT; }

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("{} (mpi): {}", what, std::string(text, static_cast<std::size_t>(length))));
}

// One collective in flight: the request, the host buffer it works on (the tensor itself on the
// CPU, a copy for a CUDA tensor) and what wait() must do after it: divide, copy back.
class MpiWork final : public Work::State {
 public:
  MpiWork(Tensor target, Tensor host, bool average, int world_size)
      : target_(std::move(target)), host_(std::move(host)), average_(average), world_size_(world_size) {}
  MPI_Request* request() { return &request_; }

  bool test() override {
    if (transferred_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    transferred_ = flag != 0;
    return transferred_;
  }

  void wait() override {
    if (finished_) return;
    // MPI_Wait spins at full speed; with more ranks than free cores (other work on the machine,
    // --oversubscribe) the spinning rank takes the core the rank it waits for needs: measured on
    // 2 loaded cores, mech-logistic with 2 ranks took 3x the CPU time of one. Sleeping at once
    // is no better: a sleep overshoots by tens of microseconds, and the other rank's collective
    // advances only while this one is inside MPI, so every step paid the overshoot (2 ranks of
    // mech-logistic, 3000 steps: 7.9 s, against 6.5-6.8 s with the yields below). So: for 2 ms
    // test between yields, which hand the core to a runnable rank if there is one and return at
    // once if not; after that, test between sleeps that double up to 250 us, so that a long
    // wait for a descheduled rank costs few wake-ups.
    if (!poll_yielding([&] { return test(); }, std::chrono::milliseconds(2))) {
      auto pause = std::chrono::microseconds(10);
      while (!test()) {
        std::this_thread::sleep_for(pause);
        pause = std::min(2 * pause, std::chrono::microseconds(250));
      }
    }
    finished_ = true;
    if (average_) {
      // Every rank divides the same sum the same way: the result stays identical across ranks.
      const double scale = 1.0 / world_size_;
      MECH_DISPATCH_FLOAT(host_.dtype(), "allreduce", [&]<class T>() {
        T* data = static_cast<T*>(host_.raw_data());
        const std::int64_t count = host_.numel();
        for (std::int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(data[i] * scale);
      });
    }
    if (!host_.is_same(target_)) {
      NoGradGuard no_grad;
      target_.detach().copy_(host_);
    }
  }

 private:
  Tensor target_;
  Tensor host_;
  bool average_;
  int world_size_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool transferred_ = false;
  bool finished_ = false;
};

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup(MPI_Comm comm, int rank, int world_size, int local_rank, int local_world_size)
      : ProcessGroup(rank, world_size, local_rank, local_world_size), comm_(comm) {}
  ~MpiProcessGroup() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }
  std::string backend_name() const override { return "mpi"; }

  Work allreduce(Tensor& tensor, ReduceOp op) override {
    auto work = start(tensor, "allreduce", op == ReduceOp::Average);
    Tensor& host = work.second;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, host.raw_data(), static_cast<int>(host.numel()), mpi_type(host.dtype()),
                             MPI_SUM, comm_, work.first->request()),
              "MPI_Iallreduce");
    return Work(work.first);
  }

  Work broadcast(Tensor& tensor, int root) override {
    MECH_CHECK(root >= 0 && root < world_size(), "broadcast (mpi): root {} out of range for a world of {}", root,
               world_size());
    auto work = start(tensor, "broadcast", false);
    Tensor& host = work.second;
    check_mpi(MPI_Ibcast(host.raw_data(), static_cast<int>(host.numel()), mpi_type(host.dtype()), root, comm_,
                         work.first->request()),
              "MPI_Ibcast");
    return Work(work.first);
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

 private:
  std::pair<std::shared_ptr<MpiWork>, Tensor> start(const Tensor& tensor, const char* what, bool average) {
    check_collective_tensor("mpi", what, tensor);
    MECH_CHECK(tensor.numel() <= INT_MAX, "{} (mpi): {} elements exceed MPI's int count; split the tensor", what,
               tensor.numel());
    Tensor host = tensor.device().is_cpu() ? tensor : tensor.detach().to(Device::cpu());
    auto state = std::make_shared<MpiWork>(tensor, host, average, world_size());
    return {state, host};
  }

  MPI_Comm comm_;
};

}  // namespace

void mpi_initialize_once() {
  static std::mutex mutex;
  static MpiLifetime lifetime;
  std::lock_guard lock(mutex);
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return;
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  lifetime.initialised_here = true;
}

MpiPlace mpi_place(MPI_Comm comm) {
  MpiPlace place;
  MPI_Comm_rank(comm, &place.rank);
  MPI_Comm_size(comm, &place.world_size);
  MPI_Comm local = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, place.rank, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
  MPI_Comm_rank(local, &place.local_rank);
  MPI_Comm_size(local, &place.local_world_size);
  MPI_Comm_free(&local);
  return place;
}

bool mpi_available() { return true; }

std::shared_ptr<ProcessGroup> make_mpi_process_group(Device) {
  mpi_initialize_once();
  MPI_Comm comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
  const MpiPlace place = mpi_place(comm);
  return std::make_shared<MpiProcessGroup>(comm, place.rank, place.world_size, place.local_rank,
                                           place.local_world_size);
}

}  // namespace mech
