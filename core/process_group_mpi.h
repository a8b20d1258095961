// What the MPI process group shares with the other backends built beside it (the NCCL backend
// bootstraps over MPI): only compiled into a build with MPI (MECH_MPI).
#pragma once

namespace mech {

// MPI_Init_thread once per process (MPI_THREAD_FUNNELED: only the thread that made the group calls
// MPI), and MPI_Finalize at exit when mech was the one that initialised it.
void mpi_initialize_once();

}  // namespace mech
