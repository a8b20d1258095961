// libFuzzer target for the .safetensors reader and its JSON parser. Contract checked on every
// input: parsing either succeeds or throws mech::IoError (any other exception, a crash or a
// sanitizer report is a finding), and what parses serialises back to the same names, dtypes,
// shapes, bytes and metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mech::SafetensorsFile file;
  try {
    file = mech::load_safetensors_from_bytes(bytes, "fuzz-input");
  } catch (const mech::IoError&) {
    return 0;  // rejected cleanly: the expected outcome for most inputs
  }
  // Accepted: writing it out and reading it back must not fail and must give the same contents.
  const mech::SafetensorsFile again = mech::load_safetensors_from_bytes(
      mech::save_safetensors_to_bytes(file.tensors, file.metadata), "round-trip");
  if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size()) __builtin_trap();
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, tensor] = file.tensors[i];
    const auto& [name_again, tensor_again] = again.tensors[i];
    const std::size_t data_bytes =
        static_cast<std::size_t>(tensor.numel()) * mech::dtype_size(tensor.dtype());
    if (name_again != name || tensor_again.dtype() != tensor.dtype() ||
        tensor_again.shape() != tensor.shape() ||
        (data_bytes > 0 && std::memcmp(tensor_again.raw_data(), tensor.raw_data(), data_bytes) != 0)) {
      __builtin_trap();
    }
  }
  return 0;
}
