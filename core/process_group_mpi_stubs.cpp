// The MPI backend's entry points in a build without MPI (MECH_MPI=OFF or no MPI found): asking
// for it is an error naming the option. Replaced by core/process_group_mpi.cpp when MPI is built.
#include "core/process_group.h"

namespace mech {

bool mpi_available() { return false; }

std::shared_ptr<ProcessGroup> make_mpi_process_group(Device) {
  throw Error("init_process_group: mech was built without MPI (MECH_MPI=OFF or no MPI found); install "
              "libopenmpi-dev and reconfigure with -DMECH_MPI=ON");
}

}  // namespace mech
