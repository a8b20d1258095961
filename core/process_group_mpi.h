// What the MPI process group shares with the other backends built beside it (the NCCL backend
// bootstraps over MPI): only compiled into a build with MPI (MECH_MPI).
#pragma once

#include <mpi.h>

namespace mech {

// MPI_Init_thread once per process (MPI_THREAD_FUNNELED: only the thread that made the group calls
// MPI), and MPI_Finalize at exit when mech was the one that initialised it.
void mpi_initialize_once();

// This process's place in `comm`: its rank and the size, and the same among the ranks on its
// machine (the shared-memory split of comm), which pick the GPU and share the cores.
struct MpiPlace {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
};
MpiPlace mpi_place(MPI_Comm comm);

}  // namespace mech
