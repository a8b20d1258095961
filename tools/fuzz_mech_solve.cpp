// libFuzzer target for mech-solve's input validation: each input is split into the coeffs, rhs,
// steps and iv .npy files (layout in tools/common/solve_bytes.h) and run through the same
// validation and solve as the program. Contract: every input either solves or is refused with
// mech::Error; any other exception, a crash, a hang or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tools/common/solve_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mech::tools::run_solve_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
