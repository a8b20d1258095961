// Names of dtypes and devices, and parsing of device strings.
#include "core/dtype.h"

#include <cstdlib>

namespace mech {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
  }
  return "unknown";
}

std::string Device::str() const { return is_cpu() ? "cpu" : fmt::format("cuda:{}", index); }

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    char* end = nullptr;
    long index = std::strtol(text.c_str() + 5, &end, 10);
    if (*end == '\0' && index >= 0) return cuda(static_cast<int>(index));
  }
  throw Error(fmt::format("Device::parse: expected 'cpu', 'cuda' or 'cuda:N', got '{}'", text));
}

}  // namespace mech
