// Parallel loops over index ranges for the CPU kernels (OpenMP underneath where available).
#pragma once

#include <cstdint>
#include <functional>

namespace mech {

// Number of threads CPU kernels use; defaults to the hardware's count (or OMP_NUM_THREADS).
int get_num_threads();
void set_num_threads(int threads);

// For `processes` processes sharing this machine (the ranks of a process group on one host;
// init_process_group calls it): unless the thread count was chosen (set_num_threads or
// OMP_NUM_THREADS), each takes its share of the cores, at least one. N ranks that each started
// a thread per core would run N x cores threads, and every parallel loop would wait for a
// descheduled worker (as torchrun sets OMP_NUM_THREADS=1 for the same reason).
void share_cores_among(int processes);

// Calls body(chunk_begin, chunk_end) over [begin, end) split into at most get_num_threads()
// contiguous chunks; runs inline when the range is shorter than `grain` or already inside a
// parallel region. Exceptions thrown by body are rethrown on the calling thread.
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);

}  // namespace mech
