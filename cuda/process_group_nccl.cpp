// The NCCL backend of the process group (core/process_group.h): one GPU per rank (the local
// rank's), collectives enqueued on mech's stream of that device, so they are ordered after the
// kernels that produced the gradients without a host synchronisation. Compiled only with
// MECH_NCCL (else cuda/process_group_nccl_stubs.cpp).
//
// Bootstrap: every rank needs rank 0's ncclUniqueId. Under mpirun (mech built with MPI) it is
// MPI_Bcast; otherwise rank 0 serves it over TCP at MASTER_ADDR:MASTER_PORT to the ranks given by
// RANK and WORLD_SIZE (LOCAL_RANK picks the GPU), as torchrun's variables say. World size 1 needs
// neither.
#include "cuda/nvcc_fmt.h"  // before fmt

#include <cuda_runtime.h>
#include <nccl.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/process_group.h"
#include "cuda/check.h"
#include "cuda/runtime.h"
#ifdef MECH_HAS_MPI
#include <mpi.h>

#include "core/process_group_mpi.h"
#endif

namespace mech {

namespace {

void check_nccl(ncclResult_t result, const char* what) {
  if (result == ncclSuccess) return;
  throw Error(fmt::format("{} (nccl): {}", what, ncclGetErrorString(result)));
}

ncclDataType_t nccl_type(DType dtype) { return dtype == DType::Float64 ? ncclFloat64 : ncclFloat32; }

int environment_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  MECH_CHECK(end != value && *end == '\0' && parsed >= 0, "init_process_group (nccl): {}='{}' is not a count", name,
             value);
  return static_cast<int>(parsed);
}

// Rank 0 listens on MASTER_PORT and sends the id to every other rank; the others connect (retrying
// for a minute while rank 0 starts) and read it.
void exchange_id_over_tcp(ncclUniqueId& id, int rank, int world_size) {
  const char* address = std::getenv("MASTER_ADDR");
  const char* port = std::getenv("MASTER_PORT");
  MECH_CHECK(address != nullptr && port != nullptr,
             "init_process_group (nccl): rank {} of {} needs MASTER_ADDR and MASTER_PORT (or mpirun and a build "
             "with MPI) to find rank 0",
             rank, world_size);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = rank == 0 ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  MECH_CHECK(getaddrinfo(rank == 0 ? nullptr : address, port, &hints, &found) == 0 && found != nullptr,
             "init_process_group (nccl): cannot resolve MASTER_ADDR={} MASTER_PORT={}", address, port);
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  auto fail = [&](const std::string& what) {
    close(fd);
    freeaddrinfo(found);
    throw Error(fmt::format("init_process_group (nccl): {} {}:{}: {}", what, address, port, std::strerror(errno)));
  };
  if (rank == 0) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, world_size) != 0) fail("cannot listen on");
    for (int peer = 1; peer < world_size; ++peer) {
      const int connection = accept(fd, nullptr, nullptr);
      if (connection < 0) fail("accept failed on");
      const bool sent = send(connection, &id, sizeof id, 0) == static_cast<ssize_t>(sizeof id);
      close(connection);
      if (!sent) fail("cannot send the NCCL id from");
    }
  } else {
    bool connected = false;
    for (int attempt = 0; attempt < 600 && !connected; ++attempt) {
      connected = connect(fd, found->ai_addr, found->ai_addrlen) == 0;
      if (!connected) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!connected) fail("cannot reach rank 0 at");
    std::size_t received = 0;
    auto* bytes = reinterpret_cast<char*>(&id);
    while (received < sizeof id) {
      const ssize_t got = recv(fd, bytes + received, sizeof id - received, 0);
      if (got <= 0) fail("lost the connection to rank 0 at");
      received += static_cast<std::size_t>(got);
    }
  }
  close(fd);
  freeaddrinfo(found);
}

// A collective on the device stream: complete when the event recorded after it has passed.
class NcclWork final : public Work::State {
 public:
  NcclWork(cudaStream_t stream, int device) : device_(device) {
    cuda::DeviceGuard guard(device_);
    MECH_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    MECH_CUDA_CHECK(cudaEventRecord(event_, stream));
  }
  ~NcclWork() override { cudaEventDestroy(event_); }
  bool test() override {
    const cudaError_t status = cudaEventQuery(event_);
    if (status == cudaErrorNotReady) return false;
    MECH_CUDA_CHECK(status);
    return true;
  }
  // Later work on mech's stream is ordered after the collective already; waiting makes the result
  // visible to the host too (item(), a copy to the CPU on another stream).
  void wait() override { MECH_CUDA_CHECK(cudaEventSynchronize(event_)); }

 private:
  int device_;
  cudaEvent_t event_ = nullptr;
};

class NcclProcessGroup final : public ProcessGroup {
 public:
  NcclProcessGroup(ncclComm_t comm, int rank, int world_size, int local_rank, int local_world_size, int device)
      : ProcessGroup(rank, world_size, local_rank, local_world_size), comm_(comm), device_(device) {}
  ~NcclProcessGroup() override { ncclCommDestroy(comm_); }
  std::string backend_name() const override { return "nccl"; }

  Work allreduce(Tensor& tensor, ReduceOp op) override {
    check(tensor, "allreduce");
    cuda::DeviceGuard guard(device_);
    cudaStream_t stream = cuda::stream(device_);
    check_nccl(ncclAllReduce(tensor.raw_data(), tensor.raw_data(), static_cast<std::size_t>(tensor.numel()),
                             nccl_type(tensor.dtype()), op == ReduceOp::Average ? ncclAvg : ncclSum, comm_, stream),
               "ncclAllReduce");
    return Work(std::make_shared<NcclWork>(stream, device_));
  }

  Work broadcast(Tensor& tensor, int root) override {
    check(tensor, "broadcast");
    MECH_CHECK(root >= 0 && root < world_size(), "broadcast (nccl): root {} out of range for a world of {}", root,
               world_size());
    cuda::DeviceGuard guard(device_);
    cudaStream_t stream = cuda::stream(device_);
    check_nccl(ncclBroadcast(tensor.raw_data(), tensor.raw_data(), static_cast<std::size_t>(tensor.numel()),
                             nccl_type(tensor.dtype()), root, comm_, stream),
               "ncclBroadcast");
    return Work(std::make_shared<NcclWork>(stream, device_));
  }

  // An allreduce of one number, waited for: NCCL has no barrier of its own.
  void barrier() override {
    Tensor token = zeros({1}, TensorOptions().device(Device::cuda(device_)));
    allreduce(token, ReduceOp::Sum).wait();
  }

 private:
  void check(const Tensor& tensor, const char* what) const {
    check_collective_tensor("nccl", what, tensor);
    MECH_CHECK(tensor.device() == Device::cuda(device_),
               "{} (nccl): expected a tensor on cuda:{} (this rank's GPU), got one on {}", what, device_,
               tensor.device().str());
  }

  ncclComm_t comm_;
  int device_;
};

}  // namespace

bool nccl_available() { return true; }

std::shared_ptr<ProcessGroup> make_nccl_process_group(Device) {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  ncclUniqueId id{};
#ifdef MECH_HAS_MPI
  const bool over_mpi = launched_by_mpi();
#else
  const bool over_mpi = false;
#endif
  if (over_mpi) {
#ifdef MECH_HAS_MPI
    mpi_initialize_once();
    const MpiPlace place = mpi_place(MPI_COMM_WORLD);
    rank = place.rank, world_size = place.world_size;
    local_rank = place.local_rank, local_world_size = place.local_world_size;
    if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
#endif
  } else {
    rank = environment_int("RANK", 0);
    world_size = environment_int("WORLD_SIZE", 1);
    local_rank = environment_int("LOCAL_RANK", rank);
    local_world_size = environment_int("LOCAL_WORLD_SIZE", 1);  // torchrun's name; unknown: 1
    MECH_CHECK(world_size >= 1 && rank < world_size, "init_process_group (nccl): RANK={} out of range for WORLD_SIZE={}",
               rank, world_size);
    if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (world_size > 1) exchange_id_over_tcp(id, rank, world_size);
  }
  int devices = 0;
  MECH_CUDA_CHECK(cudaGetDeviceCount(&devices));
  MECH_CHECK(local_rank < devices,
             "init_process_group (nccl): local rank {} needs a GPU of its own but this machine has {} (NCCL takes one "
             "GPU per rank)",
             local_rank, devices);
  cuda::DeviceGuard guard(local_rank);
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, world_size, id, rank), "ncclCommInitRank");
  return std::make_shared<NcclProcessGroup>(comm, rank, world_size, local_rank, local_world_size, local_rank);
}

}  // namespace mech
