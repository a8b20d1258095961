// AtomicFile: temporary file + fsync + rename, with the temporary removed on every failure path.
#include "core/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/error.h"

namespace mech {
namespace {

std::string system_reason(int error_number) { return std::strerror(error_number); }

// The directory part of `path` ("." when there is none), so the temporary lands on the same file
// system as the target: rename is only atomic within one file system.
std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty() || path_.back() == '/') {
    throw IoError(fmt::format("atomic write: '{}' is not a file path", path_));
  }
  // A process-wide counter plus the clock keeps names unique across threads and across stale
  // temporaries a killed process may have left; O_EXCL guarantees we never reuse one.
  static std::atomic<unsigned long> counter{0};
  const std::string prefix = directory_of(path_) + "/." + base_name_of(path_) + ".tmp.";
  int last_error = 0;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const auto ticks = static_cast<unsigned long>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    temporary_path_ = fmt::format("{}{}.{}.{:x}", prefix, static_cast<long>(::getpid()),
                                  counter.fetch_add(1), ticks & 0xffffffUL);
    descriptor_ = ::open(temporary_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (descriptor_ >= 0) break;
    last_error = errno;
    if (last_error != EEXIST) break;
  }
  if (descriptor_ < 0) {
    const std::string temporary = temporary_path_;
    temporary_path_.clear();
    throw IoError(fmt::format("atomic write of '{}': cannot create temporary file '{}': {}", path_,
                              temporary, system_reason(last_error)));
  }
  // Keep the permissions of a file we replace (a checkpoint a user made group-readable stays so).
  struct stat existing {};
  if (::stat(path_.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    (void)::fchmod(descriptor_, existing.st_mode & 07777);
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (descriptor_ >= 0) {
    ::close(descriptor_);
    descriptor_ = -1;
  }
  if (!temporary_path_.empty()) {
    ::unlink(temporary_path_.c_str());
    temporary_path_.clear();
  }
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (committed_ || descriptor_ < 0) {
    throw IoError(fmt::format("atomic write of '{}': write after commit or failure", path_));
  }
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    // Large writes are split: Linux transfers at most about 2 GiB per call.
    const std::size_t chunk = size < (std::size_t{1} << 30) ? size : (std::size_t{1} << 30);
    const ssize_t written = ::write(descriptor_, bytes, chunk);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      discard();
      throw IoError(fmt::format("atomic write of '{}': writing the temporary file failed: {}",
                                path_, system_reason(error_number)));
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
}

void AtomicFile::commit() {
  if (committed_ || descriptor_ < 0) {
    throw IoError(fmt::format("atomic write of '{}': commit after commit or failure", path_));
  }
  if (::fsync(descriptor_) != 0) {
    const int error_number = errno;
    discard();
    throw IoError(fmt::format("atomic write of '{}': fsync of the temporary file failed: {}",
                              path_, system_reason(error_number)));
  }
  const int close_result = ::close(descriptor_);
  descriptor_ = -1;
  if (close_result != 0) {
    const int error_number = errno;
    discard();
    throw IoError(fmt::format("atomic write of '{}': closing the temporary file failed: {}",
                              path_, system_reason(error_number)));
  }
  if (::rename(temporary_path_.c_str(), path_.c_str()) != 0) {
    const int error_number = errno;
    discard();
    throw IoError(fmt::format("atomic write of '{}': renaming the temporary file over it failed: {}",
                              path_, system_reason(error_number)));
  }
  temporary_path_.clear();
  committed_ = true;
  // Make the rename itself durable. The new file is already in place, so this is best effort:
  // some file systems refuse fsync on a directory, and failing here would misreport the write.
  const int directory = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory >= 0) {
    (void)::fsync(directory);
    ::close(directory);
  }
}

void write_file_atomically(const std::string& path,
                           const std::function<void(AtomicFile&)>& writer) {
  AtomicFile file(path);
  writer(file);
  file.commit();
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace mech
