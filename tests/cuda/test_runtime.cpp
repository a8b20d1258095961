// The CUDA runtime layer's contract on any machine: queries answer without throwing when there is
// no device or no driver (this is what lets a CUDA build run its CPU tests anywhere), requests
// for device memory fail with a mech::Error that says why, and with a device the caching allocator
// reuses blocks, counts its bytes and gives them back in empty_cache().
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/tensor.h"
#include "cuda/backend.h"

namespace mech::cuda {
namespace {

TEST(CudaRuntime, QueriesNeverThrow) {
  EXPECT_NO_THROW(is_available());
  std::string availability_line;
  EXPECT_NO_THROW(availability_line = availability());
  EXPECT_FALSE(availability_line.empty());
  std::printf("cuda availability: %s\n", availability_line.c_str());
  EXPECT_NO_THROW(device_count());
  EXPECT_EQ(is_available(), device_count() > 0);
  EXPECT_NO_THROW(empty_cache());
  EXPECT_NO_THROW(synchronize());
}

TEST(CudaRuntime, WithoutDeviceRequestsFailClearly) {
  if (is_available()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device path";
  EXPECT_EQ(cached_bytes(), 0u);
  try {
    allocate(1024, 0);
    FAIL() << "allocate succeeded without a device";
  } catch (const Error& error) {
    const std::string message = error.what();
    // Either build: "no CUDA device" (CUDA build) or "built without CUDA" (stubs).
    EXPECT_TRUE(message.find("no CUDA device") != std::string::npos ||
                message.find("without CUDA") != std::string::npos)
        << message;
  }
  const Tensor x = ones({3});
  EXPECT_THROW((void)x.to(Device::cuda()), Error);
}

TEST(CudaRuntime, AllocatorReusesAndCountsBlocks) {
  if (!is_available()) GTEST_SKIP() << "no CUDA device: allocator reuse needs one";
  empty_cache();
  EXPECT_EQ(cached_bytes(), 0u);
  const std::size_t before = allocated_bytes();
  void* first = allocate(1000, 0);
  ASSERT_NE(first, nullptr);
  EXPECT_GE(allocated_bytes(), before + 1000);
  release(first, 1000, 0);
  EXPECT_GE(cached_bytes(), 1000u);
  // Same size class: the cached block comes back, no cudaMalloc.
  void* second = allocate(900, 0);
  EXPECT_EQ(second, first);
  release(second, 900, 0);
  EXPECT_EQ(allocated_bytes(), before);
  empty_cache();
  EXPECT_EQ(cached_bytes(), 0u);
  EXPECT_EQ(allocate(0, 0), nullptr);
  EXPECT_FALSE(device_name(0).empty());
  EXPECT_THROW(device_name(device_count()), Error);
}

TEST(CudaRuntime, HostDeviceRoundTripIsExact) {
  if (!is_available()) GTEST_SKIP() << "no CUDA device: round trip needs one";
  // Larger than one pinned staging buffer (4 MiB), so the double-buffered path runs several chunks.
  const std::int64_t n = (std::int64_t{9} << 20) / 8 + 3;
  const Tensor x = arange(0, static_cast<double>(n), 1.0, TensorOptions().dtype(DType::Float64));
  const Tensor back = x.to(Device::cuda()).to(Device::cpu());
  const auto values = back.to_vector<double>();
  ASSERT_EQ(static_cast<std::int64_t>(values.size()), n);
  for (std::int64_t i = 0; i < n; i += 4097) ASSERT_EQ(values[static_cast<std::size_t>(i)], static_cast<double>(i));
  EXPECT_EQ(values.back(), static_cast<double>(n - 1));
}

}  // namespace
}  // namespace mech::cuda
