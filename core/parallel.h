// Parallel loops over index ranges for the CPU kernels (OpenMP underneath where available).
#pragma once

#include <cstdint>
#include <functional>

namespace mech {

// Number of threads CPU kernels use; defaults to the hardware's count (or OMP_NUM_THREADS).
int get_num_threads();
void set_num_threads(int threads);

// Calls body(chunk_begin, chunk_end) over [begin, end) split into at most get_num_threads()
// contiguous chunks; runs inline when the range is shorter than `grain` or already inside a
// parallel region. Exceptions thrown by body are rethrown on the calling thread.
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);

}  // namespace mech
