// libFuzzer target for the .npy reader. Contract checked on every input: parsing either succeeds or
// throws mech::IoError (any other exception, a crash or a sanitizer report is a finding), and what
// parses serialises back to an array with the same dtype, shape and bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/npy.h"
#include "core/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mech::Tensor tensor;
  try {
    tensor = mech::load_npy_from_bytes(bytes, "fuzz-input");
  } catch (const mech::IoError&) {
    return 0;  // rejected cleanly: the expected outcome for most inputs
  }
  // Accepted: writing it out and reading it back must not fail and must give the same array.
  const mech::Tensor again = mech::load_npy_from_bytes(mech::save_npy_to_bytes(tensor), "round-trip");
  const std::size_t data_bytes = static_cast<std::size_t>(tensor.numel()) * mech::dtype_size(tensor.dtype());
  if (again.dtype() != tensor.dtype() || again.shape() != tensor.shape() ||
      (data_bytes > 0 && std::memcmp(again.raw_data(), tensor.raw_data(), data_bytes) != 0)) {
    __builtin_trap();
  }
  return 0;
}
