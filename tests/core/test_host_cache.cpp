// The host block cache (core/host_cache.h): large blocks are reused by size, small ones are not
// cached, the cache stays under its bound dropping the oldest blocks, and tensors use it.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/host_cache.h"
#include "core/tensor.h"

namespace {

using namespace mech;

class HostCache : public ::testing::Test {
 protected:
  void SetUp() override { host_cache::release_all(); }
  void TearDown() override { host_cache::release_all(); }
};

TEST_F(HostCache, BlocksAreAlignedAndWritable) {
  for (std::size_t bytes : {std::size_t(1), std::size_t(100), std::size_t(300000), std::size_t(5) << 20}) {
    void* block = host_cache::take(bytes);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % host_cache::kAlignment, 0u) << bytes;
    std::memset(block, 0xab, bytes);
    host_cache::give(block, bytes);
  }
  host_cache::give(nullptr, 123);   // ignored
}

TEST_F(HostCache, LargeBlocksAreReusedBySizeSmallOnesAreNot) {
  if (!host_cache::enabled()) GTEST_SKIP() << "host cache disabled in AddressSanitizer builds";
  const std::size_t large = std::size_t(3) << 20, other = std::size_t(5) << 20;
  void* first = host_cache::take(large);
  host_cache::give(first, large);
  EXPECT_EQ(host_cache::cached_bytes(), large);
  void* unrelated = host_cache::take(other);   // another size: a new block
  EXPECT_NE(unrelated, first);
  EXPECT_EQ(host_cache::take(large - 100), first);   // same page-rounded size: reused
  EXPECT_EQ(host_cache::cached_bytes(), 0u);
  host_cache::give(first, large);
  host_cache::give(unrelated, other);
  EXPECT_EQ(host_cache::cached_bytes(), large + other);

  const std::size_t small = 1000;
  void* tiny = host_cache::take(small);
  host_cache::give(tiny, small);
  EXPECT_EQ(host_cache::cached_bytes(), large + other);   // not cached
  host_cache::release_all();
  EXPECT_EQ(host_cache::cached_bytes(), 0u);
}

TEST_F(HostCache, StaysUnderItsBoundDroppingTheOldestFirst) {
  if (!host_cache::enabled()) GTEST_SKIP() << "host cache disabled in AddressSanitizer builds";
  const std::size_t block = host_cache::kMaxCachedBytes / 4;
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) blocks.push_back(host_cache::take(block + i * 4096));   // 5 sizes
  for (int i = 0; i < 5; ++i) host_cache::give(blocks[i], block + i * 4096);
  EXPECT_LE(host_cache::cached_bytes(), host_cache::kMaxCachedBytes);
  // The first two (oldest) made room: asking for them again gives new blocks, the newest is kept.
  EXPECT_EQ(host_cache::take(block + 4 * 4096), blocks[4]);
  host_cache::give(blocks[4], block + 4 * 4096);
  void* again = host_cache::take(block);
  EXPECT_LE(host_cache::cached_bytes(), host_cache::kMaxCachedBytes);
  host_cache::give(again, block);
  EXPECT_LE(host_cache::cached_bytes(), host_cache::kMaxCachedBytes);
}

TEST_F(HostCache, TensorsOfTheSameSizeReuseStorage) {
  if (!host_cache::enabled()) GTEST_SKIP() << "host cache disabled in AddressSanitizer builds";
  const void* first = nullptr;
  {
    Tensor t = empty({512, 1024}, TensorOptions().dtype(DType::Float64));   // 4 MiB
    first = t.data_ptr<double>();
  }
  EXPECT_GE(host_cache::cached_bytes(), std::size_t(4) << 20);
  Tensor again = zeros({512, 1024}, TensorOptions().dtype(DType::Float64));
  EXPECT_EQ(static_cast<const void*>(again.data_ptr<double>()), first);
  for (double value : again.to_vector<double>()) ASSERT_EQ(value, 0.0);   // zeros() still zero-fills
}

}  // namespace
