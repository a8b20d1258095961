// The .safetensors format: named tensors in one file, readable by PyTorch, NumPy and JAX users
// through the `safetensors` package. Layout: an 8-byte little-endian header length N, N bytes of
// JSON ({"name": {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [begin, end]}, ...,
// optional "__metadata__": {string: string}}), then the raw little-endian data, offsets counted
// from the end of the header.
//
//   mech::save_safetensors("ckpt.safetensors", {{"weight", w}, {"bias", b}}, {{"step", "120"}});
//   mech::SafetensorsFile file = mech::load_safetensors("ckpt.safetensors");
//   mech::Tensor w2 = file.at("weight");
//
// Reading is strict, as the reference implementation is: a wrong or absurd header length, a
// truncated file, malformed JSON, offsets out of range, overlapping or leaving gaps, a dtype/shape/
// offset size mismatch or an unknown dtype throw mech::IoError naming the file. Sizes are checked
// against the bytes present before any tensor is allocated.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mech {

struct SafetensorsFile {
  // In file order (ascending data offset): for files this library writes, the order they were saved in.
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const;
  // The tensor called `name`; throws mech::IoError listing what the file holds if there is none.
  const Tensor& at(const std::string& name) const;
};

// The largest JSON header accepted (the reference implementation uses the same 100 MB bound).
inline constexpr std::size_t kSafetensorsMaxHeaderBytes = 100'000'000;

// Writes atomically (temporary file + rename). Tensors may be non-contiguous or on CUDA; names must
// be unique and not "__metadata__" (any other string, even empty, is a valid JSON key).
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
std::string save_safetensors_to_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                      const std::map<std::string, std::string>& metadata = {});

SafetensorsFile load_safetensors(const std::string& path);
// Parses a complete file held in memory; `source` names it in errors. Tensors own copies.
SafetensorsFile load_safetensors_from_bytes(std::string_view bytes,
                                            const std::string& source = "<memory>");

}  // namespace mech
