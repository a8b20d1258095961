// Atomic file replacement: the new contents go to a temporary file in the target's directory, are
// flushed to disk, and only then renamed over the target. A reader (or a process restarted after a
// crash) sees either the complete old file or the complete new one, never a half-written mix.
//
//   mech::write_file_atomically("model.safetensors", [&](mech::AtomicFile& file) {
//     file.write(header.data(), header.size());
//     file.write(tensor.raw_data(), tensor_bytes);
//   });
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace mech {

// One pending replacement of `path`. Until commit() succeeds the target is untouched; destroying an
// uncommitted AtomicFile (an exception in the writer, say) removes the temporary.
// Errors throw mech::IoError naming the target path and the system's reason.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // fsync the temporary, rename it over the target, fsync the directory so the rename survives a
  // power loss. After this the object is spent.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temporary_path_; }

 private:
  void discard() noexcept;

  std::string path_;
  std::string temporary_path_;
  int descriptor_ = -1;
  bool committed_ = false;
};

// Creates an AtomicFile for `path`, lets `writer` fill it and commits. If `writer` throws, the
// temporary is removed, `path` keeps its old contents and the exception propagates.
void write_file_atomically(const std::string& path, const std::function<void(AtomicFile&)>& writer);
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace mech
