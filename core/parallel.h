// Parallel loops over index ranges for the CPU kernels (a persistent thread pool,
// core/parallel.cpp), and the polling wait the pool and the MPI process group share.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

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

// Polls `ready` until it returns true or `limit` has passed, yielding the core between polls (to
// a runnable thread if there is one; at once otherwise); returns whether it became true. For waits
// that are usually short, where blocking would cost a wake-up: the pool's idle workers, a rank
// waiting on an allreduce. Callers fall back to blocking or sleeping after it.
template <class Ready>
bool poll_yielding(Ready&& ready, std::chrono::microseconds limit) {
  const auto started = std::chrono::steady_clock::now();
  while (!ready()) {
    if (std::chrono::steady_clock::now() - started > limit) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace mech
