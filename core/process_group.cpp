// The backend-independent part of the process group (core/process_group.h): Work, the checks,
// the single-process backend, the factory and the default group.
#include "core/process_group.h"

#include <cstdlib>
#include <mutex>

#include "core/parallel.h"

namespace mech {

bool Work::is_completed() {
  if (done_ || !state_) return true;
  if (!state_->test()) return false;
  state_->wait();  // finishes it (copy back, divide): cheap once the transfer is done
  done_ = true;
  return true;
}

void Work::wait() {
  if (done_ || !state_) return;
  state_->wait();
  done_ = true;
}

void ProcessGroup::check_collective_tensor(const char* backend, const char* what, const Tensor& tensor) {
  MECH_CHECK(tensor.defined(), "{} ({}): the tensor is undefined", what, backend);
  MECH_CHECK(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Float64,
             "{} ({}): expected a float32 or float64 tensor, got {} of shape {}", what, backend,
             dtype_name(tensor.dtype()), shape_str(tensor.shape()));
  MECH_CHECK(tensor.is_contiguous(), "{} ({}): expected a contiguous tensor, got shape {} with strides {}", what,
             backend, shape_str(tensor.shape()), shape_str(tensor.strides()));
}

Work SingleProcessGroup::allreduce(Tensor& tensor, ReduceOp) {
  check_collective_tensor("single", "allreduce", tensor);
  return Work();  // the sum and the average of one rank are its own tensor
}

Work SingleProcessGroup::broadcast(Tensor& tensor, int root) {
  check_collective_tensor("single", "broadcast", tensor);
  MECH_CHECK(root == 0, "broadcast (single): root {} out of range for a world of 1", root);
  return Work();
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

bool process_group_available(const std::string& backend) {
  if (backend == "single" || backend == "auto") return true;
  if (backend == "mpi") return mpi_available();
  if (backend == "nccl") return nccl_available();
  return false;
}

namespace {

std::shared_ptr<ProcessGroup> make_process_group(const std::string& backend, Device device) {
  if (backend == "single") return std::make_shared<SingleProcessGroup>();
  if (backend == "mpi") return make_mpi_process_group(device);
  if (backend == "nccl") return make_nccl_process_group(device);
  MECH_CHECK(backend == "auto", "init_process_group: unknown backend '{}': expected single, mpi, nccl or auto",
             backend);
  const bool torchrun_style = std::getenv("WORLD_SIZE") != nullptr && std::getenv("RANK") != nullptr;
  if (device.is_cuda() && nccl_available() && (launched_by_mpi() || torchrun_style))
    return make_nccl_process_group(device);
  if (launched_by_mpi()) {
    if (mpi_available()) return make_mpi_process_group(device);
    // Several copies of a program without MPI would each train alone and overwrite each
    // other's outputs: refuse.
    const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (size == nullptr) size = std::getenv("PMI_SIZE");
    MECH_CHECK(size == nullptr || std::string(size) == "1",
               "init_process_group: started by mpirun with {} processes, but mech was built without MPI "
               "(MECH_MPI=OFF); rebuild with -DMECH_MPI=ON or run one process",
               size);
  }
  return std::make_shared<SingleProcessGroup>();
}

}  // namespace

std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend, Device device) {
  std::shared_ptr<ProcessGroup> group = make_process_group(backend, device);
  share_cores_among(group->local_world_size());
  return group;
}

namespace {
std::mutex default_group_mutex;
std::shared_ptr<ProcessGroup> default_group;
}  // namespace

std::shared_ptr<ProcessGroup> default_process_group() {
  std::lock_guard lock(default_group_mutex);
  if (!default_group) default_group = std::make_shared<SingleProcessGroup>();
  return default_group;
}

void set_default_process_group(std::shared_ptr<ProcessGroup> group) {
  std::lock_guard lock(default_group_mutex);
  default_group = std::move(group);
}

}  // namespace mech
