// parallel_for over a small persistent thread pool. Between regions an idle worker first polls
// for the next one for a short while (kSpinTime, poll_yielding in core/parallel.h), and only then
// blocks on a condition variable; the caller waits for the workers the same way.
//
// Why both: OpenMP's default wait policy spins without yielding; on a shared 2-core machine that
// spinning competes with the very thread it waits for, and a 0.2 ms matmul took 25 ms of wall
// time under load. Blocking at once, though, makes every region pay a wake-up: on this KVM
// machine waking a worker whose core has gone idle costs tens of microseconds, and a 0.1 ms sum
// over 4 MB took 0.19 ms on 2 threads against 0.12 ms on 1. A training step runs its kernels back
// to back, so a worker that polls for a few tens of microseconds finds the next region waiting;
// the yields hand the core to any runnable thread, so a loaded machine loses little.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>

namespace mech {

namespace {

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// OMP_NUM_THREADS, read once (honoured for continuity with the OpenMP-based version); 0 if unset
// or invalid.
int threads_from_environment() {
  static const int threads = [] {
    const char* text = std::getenv("OMP_NUM_THREADS");
    return text != nullptr ? std::max(0, std::atoi(text)) : 0;
  }();
  return threads;
}

int& thread_setting() {
  static int threads = threads_from_environment() > 0 ? threads_from_environment() : hardware_threads();
  return threads;
}

// True once the count was chosen, by set_num_threads or OMP_NUM_THREADS: share_cores_among
// leaves it alone then.
bool& thread_count_chosen() {
  static bool chosen = threads_from_environment() > 0;
  return chosen;
}

// A region's chunk count shares a word with its generation (ThreadPool::region_).
constexpr std::int64_t kMaxChunks = 1 << 15;

// True on pool workers and on a caller while it runs its own chunk: nested loops run inline.
thread_local bool in_parallel_region = false;

class ThreadPool {
 public:
  // Runs body over `chunks` contiguous pieces of [begin, end): piece 0 on the caller, the rest on
  // workers. Returns false (doing nothing) when another thread is using the pool.
  bool run(std::int64_t begin, std::int64_t end, std::int64_t chunks,
           const std::function<void(std::int64_t, std::int64_t)>& body) {
    std::unique_lock<std::mutex> exclusive(run_mutex_, std::try_to_lock);
    if (!exclusive.owns_lock()) return false;
    grow(static_cast<int>(chunks) - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      begin_ = begin;
      count_ = end - begin;
      pending_.store(chunks - 1, std::memory_order_relaxed);
      failure_ = nullptr;
      // Publishes the region to workers that poll without the mutex.
      const std::uint64_t generation = (region_.load(std::memory_order_relaxed) >> kChunkBits) + 1;
      region_.store(generation << kChunkBits | static_cast<std::uint64_t>(chunks), std::memory_order_release);
    }
    wake_.notify_all();
    run_chunk(0, chunks);
    poll_yielding([&] { return pending_.load(std::memory_order_acquire) == 0; }, kSpinTime);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    body_ = nullptr;
    if (failure_) {
      std::exception_ptr failure = failure_;
      failure_ = nullptr;
      lock.unlock();
      std::rethrow_exception(failure);
    }
    return true;
  }

 private:
  void grow(int wanted) {
    std::lock_guard<std::mutex> lock(mutex_);
    while (static_cast<int>(workers_.size()) < wanted) {
      const auto index = static_cast<std::int64_t>(workers_.size()) + 1;
      workers_.emplace_back([this, index, seen = region_.load()]() mutable { work(index, seen); });
      workers_.back().detach();  // the pool lives for the whole process
    }
  }

  void run_chunk(std::int64_t chunk, std::int64_t chunks) {
    const std::int64_t chunk_begin = begin_ + count_ * chunk / chunks;
    const std::int64_t chunk_end = begin_ + count_ * (chunk + 1) / chunks;
    const bool was_inside = in_parallel_region;
    in_parallel_region = true;
    try {
      (*body_)(chunk_begin, chunk_end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
    in_parallel_region = was_inside;
  }

  void work(std::int64_t index, std::uint64_t seen) {
    in_parallel_region = true;
    for (;;) {
      const auto started = [&] { return region_.load(std::memory_order_acquire) != seen; };
      if (!poll_yielding(started, kSpinTime)) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, started);
      }
      // The chunk count travels in the same word as the generation: a worker this region does not
      // need may look only after the caller has moved on to the next one.
      seen = region_.load(std::memory_order_acquire);
      const auto chunks = static_cast<std::int64_t>(seen & kChunkMask);
      if (index >= chunks) continue;  // this region needs fewer workers
      run_chunk(index, chunks);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Under the mutex, so that a caller between its check and its wait cannot miss it.
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  // How long an idle thread polls before it blocks: longer than the gaps between the kernels of
  // a training step, short enough that a machine with other work loses little.
  static constexpr std::chrono::microseconds kSpinTime{100};

  std::mutex run_mutex_;  // one parallel_for at a time; others run inline
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(std::int64_t, std::int64_t)>* body_ = nullptr;
  std::int64_t begin_ = 0, count_ = 0;
  std::atomic<std::int64_t> pending_{0};
  // generation << kChunkBits | chunks of the latest region
  static constexpr int kChunkBits = 16;
  static constexpr std::uint64_t kChunkMask = (std::uint64_t(1) << kChunkBits) - 1;
  std::atomic<std::uint64_t> region_{0};
  std::exception_ptr failure_;
};

// Never destroyed: detached workers wait on it at exit. A forked child has none of the parent's
// workers (and maybe a mutex held by one), so it starts from a fresh pool.
ThreadPool* current_pool = nullptr;

ThreadPool& pool() {
  static const bool initialised = [] {
    current_pool = new ThreadPool();
    pthread_atfork(nullptr, nullptr, [] { current_pool = new ThreadPool(); });
    return true;
  }();
  (void)initialised;
  return *current_pool;
}

}  // namespace

int get_num_threads() { return thread_setting(); }

void set_num_threads(int threads) {
  thread_setting() = std::max(1, threads);
  thread_count_chosen() = true;
}

void share_cores_among(int processes) {
  if (thread_count_chosen() || processes <= 1) return;
  thread_setting() = std::max(1, hardware_threads() / processes);
}

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (end <= begin) return;
  const std::int64_t count = end - begin;
  const std::int64_t unit = std::max<std::int64_t>(grain, 1);
  std::int64_t chunks = std::min<std::int64_t>({get_num_threads(), (count + unit - 1) / unit, kMaxChunks});
  if (in_parallel_region) chunks = 1;
  if (chunks <= 1 || !pool().run(begin, end, chunks, body)) body(begin, end);
}

}  // namespace mech
