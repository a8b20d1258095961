// The host block cache (see host_cache.h): a list of free blocks, oldest first, under one mutex.
#include "core/host_cache.h"

#include <list>
#include <mutex>
#include <new>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define MECH_HOST_CACHE_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MECH_HOST_CACHE_ENABLED 0
#endif
#endif
#ifndef MECH_HOST_CACHE_ENABLED
#define MECH_HOST_CACHE_ENABLED 1
#endif

namespace mech::host_cache {

namespace {

constexpr std::size_t kPage = 4096;

// Blocks that may be cached are rounded up to whole pages, so that sizes differing only in their
// last page share blocks.
std::size_t block_size(std::size_t bytes) {
  if (bytes < kMinCachedBytes) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return (bytes + kPage - 1) / kPage * kPage;
}

void* allocate(std::size_t size) { return ::operator new(size == 0 ? kAlignment : size, std::align_val_t(kAlignment)); }
void deallocate(void* block) noexcept { ::operator delete(block, std::align_val_t(kAlignment)); }

class Cache {
 public:
  void* take(std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->first != size) continue;
      void* block = it->second;
      free_.erase(it);
      held_ -= size;
      return block;
    }
    return nullptr;
  }
  // Keeps the block, or frees it when it cannot be kept; the oldest blocks make room first (a loop
  // that changes shape should not leave the cache full of sizes nobody asks for any more).
  void give(void* block, std::size_t size) noexcept {
    std::list<std::pair<std::size_t, void*>> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (held_ + size > kMaxCachedBytes && !free_.empty()) {
        held_ -= free_.front().first;
        dropped.splice(dropped.end(), free_, free_.begin());
      }
      try {
        free_.emplace_back(size, block);
        held_ += size;
        block = nullptr;
      } catch (...) {   // no memory for the list node: free the block instead
      }
    }
    for (auto& entry : dropped) deallocate(entry.second);
    if (block) deallocate(block);
  }
  std::size_t held() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
  }
  void release_all() {
    std::list<std::pair<std::size_t, void*>> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      dropped.swap(free_);
      held_ = 0;
    }
    for (auto& entry : dropped) deallocate(entry.second);
  }

 private:
  std::mutex mutex_;
  std::list<std::pair<std::size_t, void*>> free_;   // (size, block), oldest first
  std::size_t held_ = 0;
};

Cache& cache() {
  static Cache* instance = new Cache();   // never destroyed: blocks may be given back during exit
  return *instance;
}

}  // namespace

void* take(std::size_t bytes) {
  const std::size_t size = block_size(bytes);
  if (MECH_HOST_CACHE_ENABLED && size >= kMinCachedBytes && size <= kMaxCachedBytes)
    if (void* block = cache().take(size)) return block;
  return allocate(size);
}

void give(void* block, std::size_t bytes) noexcept {
  if (block == nullptr) return;
  const std::size_t size = block_size(bytes);
  if (MECH_HOST_CACHE_ENABLED && size >= kMinCachedBytes && size <= kMaxCachedBytes) {
    cache().give(block, size);
    return;
  }
  deallocate(block);
}

bool enabled() { return MECH_HOST_CACHE_ENABLED != 0; }

std::size_t cached_bytes() { return cache().held(); }

void release_all() { cache().release_all(); }

}  // namespace mech::host_cache
