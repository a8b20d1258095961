// Helpers shared by the file-format tests (test_npy.cpp, test_safetensors.cpp): raw element bytes,
// the message of the mech::IoError an action throws, a fresh temporary folder per test, and the
// replay of the fuzz folders (tests/fuzz/corpus/<format>, tests/fuzz/regressions/<format>).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

namespace mech::io_testing {

// The elements' bytes as this (little-endian) machine holds them.
template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// The message of the mech::IoError `action` throws; fails the test if it throws nothing or
// anything else.
inline std::string io_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const IoError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected mech::IoError, got: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected mech::IoError, nothing was thrown";
  return "";
}

// A fixture with an empty folder of its own (named after the test and the process), removed after.
class TemporaryFolderTest : public ::testing::Test {
 protected:
  explicit TemporaryFolderTest(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = std::filesystem::temp_directory_path() /
                 (prefix_ + std::string(info->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  std::string path(const std::string& name) const { return (directory_ / name).string(); }
  static void write(const std::string& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  }

  std::filesystem::path directory_;

 private:
  std::string prefix_;
};

// (name, contents) of every regular file in `directory` whose name does not start with '.'.
inline std::vector<std::pair<std::string, std::string>> files_in(const std::filesystem::path& directory) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (!entry.is_regular_file() || entry.path().filename().string().front() == '.') continue;
    std::ifstream stream(entry.path(), std::ios::binary);
    files.emplace_back(entry.path().filename().string(),
                       std::string(std::istreambuf_iterator<char>(stream), {}));
  }
  return files;
}

// tests/fuzz/corpus/<format>: every seed must load.
inline void expect_seeds_load(const std::string& format,
                              const std::function<void(const std::string& bytes, const std::string& name)>& load) {
  const auto seeds = files_in(std::filesystem::path(MECH_SOURCE_DIR) / "tests/fuzz/corpus" / format);
  EXPECT_GE(seeds.size(), 3u);
  for (const auto& [name, bytes] : seeds) {
    EXPECT_NO_THROW(load(bytes, name)) << name;
  }
}

// tests/fuzz/regressions/<format>: malformed files (made by hand or found by tools/fuzz.sh), each
// of which must load or be refused with a mech::IoError naming it; a crash, a sanitizer report or
// another exception fails. An empty folder fails too: a replay of nothing would check nothing.
inline void expect_regressions_load_or_throw_io_error(
    const std::string& format, const std::function<void(const std::string& bytes, const std::string& name)>& load) {
  const auto files = files_in(std::filesystem::path(MECH_SOURCE_DIR) / "tests/fuzz/regressions" / format);
  EXPECT_FALSE(files.empty()) << "tests/fuzz/regressions/" << format << " holds no files to replay";
  for (const auto& [name, bytes] : files) {
    try {
      load(bytes, name);
    } catch (const IoError& error) {
      EXPECT_NE(std::string(error.what()).find("'" + name + "'"), std::string::npos)
          << name << ": the message does not name the file: " << error.what();
    } catch (const std::exception& error) {
      ADD_FAILURE() << name << ": expected success or mech::IoError, got: " << error.what();
    }
  }
}

}  // namespace mech::io_testing
