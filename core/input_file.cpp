// Positioned, exact-length reads of a regular file, with errors naming the file; untrusted text
// escaped for those errors.
#include "core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace mech {

InputFile::InputFile(const std::string& path, const char* format) : path_(path), format_(format) {
  descriptor_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor_ < 0) fail(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat info {};
  if (::fstat(descriptor_, &info) != 0) {
    const int error_number = errno;
    ::close(descriptor_);
    fail(fmt::format("cannot stat: {}", std::strerror(error_number)));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(descriptor_);
    fail("not a regular file");
  }
  size_ = static_cast<std::size_t>(info.st_size);
}

InputFile::~InputFile() { ::close(descriptor_); }

void InputFile::read(std::size_t offset, void* destination, std::size_t length) const {
  auto* out = static_cast<char*>(destination);
  while (length > 0) {
    const ssize_t got = ::pread(descriptor_, out, length, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(fmt::format("read failed: {}", std::strerror(errno)));
    if (got == 0) fail("truncated: the file shrank while being read");
    out += got;
    offset += static_cast<std::size_t>(got);
    length -= static_cast<std::size_t>(got);
  }
}

void InputFile::fail(const std::string& what) const {
  throw IoError(fmt::format("{}: '{}': {}", format_, path_, what));
}

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > limit) out += "...";
  return out;
}

}  // namespace mech
