// The NCCL backend's entry points in a build without NCCL (MECH_NCCL=OFF, no CUDA, or no NCCL in
// the CUDA toolkit): asking for it is an error naming the option. Replaced by
// cuda/process_group_nccl.cpp when NCCL is built.
#include "core/process_group.h"

namespace mech {

bool nccl_available() { return false; }

std::shared_ptr<ProcessGroup> make_nccl_process_group(Device) {
  throw Error("init_process_group: mech was built without NCCL (MECH_NCCL=OFF, or no CUDA/NCCL found); "
              "reconfigure with CUDA and -DMECH_NCCL=ON, or use the mpi backend");
}

}  // namespace mech
