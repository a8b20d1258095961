// InputFile: a read-only regular file with exact-length positioned reads, for the file-format
// readers (.npy, .safetensors). Every failure is a mech::IoError "<format>: '<path>': <what>".
// printable() makes text taken from such a file safe to quote in those errors.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mech {

class InputFile {
 public:
  // format names the reader in error messages ("npy", "safetensors").
  InputFile(const std::string& path, const char* format);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::size_t size() const { return size_; }
  // Reads exactly length bytes at offset; a short read (the file shrank) is an error.
  void read(std::size_t offset, void* destination, std::size_t length) const;

 private:
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  const char* format_;
  int descriptor_ = -1;
  std::size_t size_ = 0;
};

// Untrusted text quoted in an error message: control and non-ASCII bytes escaped as \xNN, at most
// `limit` bytes shown, then "...".
std::string printable(std::string_view text, std::size_t limit = 60);

}  // namespace mech
