// Large host memory blocks, cached for reuse. A training loop frees and allocates the same large
// buffers every step (tensors of a batch, the solver's workspaces); memory fresh from the kernel
// costs a page fault per 4 KiB, measured at a quarter of the NeuRLP forward's time and a tenth of
// a training step through the op. Freed blocks of at least kMinCachedBytes are kept and handed
// to the next request of exactly the same (page-rounded) size; the cache holds at most
// kMaxCachedBytes, dropping its oldest blocks first. Smaller blocks go straight to the C++
// allocator. Thread-safe. In AddressSanitizer builds nothing is cached, so a use after free is
// still reported.
//
//   void* block = mech::host_cache::take(bytes);      // 64-byte aligned, contents undefined
//   mech::host_cache::give(block, bytes);             // same bytes as taken
//   mech::host_cache::Block owned = mech::host_cache::take_block(bytes);   // given back when destroyed
//   mech::host_cache::release_all();                  // hand every cached block back to the system
#pragma once

#include <cstddef>
#include <memory>

namespace mech::host_cache {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMinCachedBytes = std::size_t(256) << 10;
constexpr std::size_t kMaxCachedBytes = std::size_t(1) << 30;

// A 64-byte aligned block of at least `bytes` (a cached one when one of the same size is free).
// Throws std::bad_alloc when the system has no memory.
void* take(std::size_t bytes);

// Returns a block from take() with the same `bytes`; nullptr is ignored. Never throws.
void give(void* block, std::size_t bytes) noexcept;

// False in AddressSanitizer builds (every block is freed at once).
bool enabled();

// An owned block: given back to the cache when destroyed.
struct GiveBack {
  std::size_t bytes = 0;
  void operator()(void* block) const noexcept { give(block, bytes); }
};
using Block = std::unique_ptr<void, GiveBack>;
inline Block take_block(std::size_t bytes) { return Block(take(bytes), GiveBack{bytes}); }

// Bytes currently held for reuse.
std::size_t cached_bytes();

// Frees every cached block.
void release_all();

}  // namespace mech::host_cache
