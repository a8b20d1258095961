// The device the CUDA parity and model tests run on, and their skip: the GPU when there is one;
// with MECH_PARITY_ON_CPU=1 and no GPU, or inside a CpuSelfCheck scope, the CPU, so that a test's
// harness and the device-generic code run on any machine (a CPU-vs-CPU comparison, which must
// agree exactly).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/dtype.h"
#include "cuda/backend.h"

namespace mech::cuda_tests {

// Set while a CpuSelfCheck scope runs (the parity harness's own tests, in every build).
inline bool& forced_cpu_self_check() {
  static bool forced = false;
  return forced;
}

struct CpuSelfCheck {
  CpuSelfCheck() { forced_cpu_self_check() = true; }
  ~CpuSelfCheck() { forced_cpu_self_check() = false; }
  CpuSelfCheck(const CpuSelfCheck&) = delete;
  CpuSelfCheck& operator=(const CpuSelfCheck&) = delete;
};

inline bool self_test_on_cpu() {
  if (forced_cpu_self_check()) return true;
  const char* flag = std::getenv("MECH_PARITY_ON_CPU");
  return !cuda::is_available() && flag != nullptr && std::string(flag) == "1";
}

inline Device device_under_test() { return self_test_on_cpu() ? Device::cpu() : Device::cuda(); }

}  // namespace mech::cuda_tests

// Skips the calling test, with the reason, when neither a GPU nor the CPU self-test is available.
#define REQUIRE_CUDA_DEVICE(what)                                                                     \
  do {                                                                                                \
    if (!::mech::cuda::is_available() && !::mech::cuda_tests::self_test_on_cpu())                    \
      GTEST_SKIP() << "no CUDA device (" << ::mech::cuda::availability() << "): " << (what) << " needs a GPU"; \
  } while (0)
