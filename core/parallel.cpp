// parallel_for over OpenMP threads (serial where OpenMP is absent).
#include "core/parallel.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mech {

namespace {
int& thread_setting() {
  static int threads = [] {
#ifdef _OPENMP
    return std::max(1, omp_get_max_threads());
#else
    return 1;
#endif
  }();
  return threads;
}
}  // namespace

int get_num_threads() { return thread_setting(); }

void set_num_threads(int threads) { thread_setting() = std::max(1, threads); }

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (end <= begin) return;
  const std::int64_t count = end - begin;
  std::int64_t chunks = std::min<std::int64_t>(get_num_threads(), (count + std::max<std::int64_t>(grain, 1) - 1) /
                                                                       std::max<std::int64_t>(grain, 1));
#ifdef _OPENMP
  if (omp_in_parallel()) chunks = 1;
#endif
  if (chunks <= 1) {
    body(begin, end);
    return;
  }
#ifdef _OPENMP
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
    const std::int64_t chunk_begin = begin + count * chunk / chunks;
    const std::int64_t chunk_end = begin + count * (chunk + 1) / chunks;
    try {
      body(chunk_begin, chunk_end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
#else
  body(begin, end);
#endif
}

}  // namespace mech
