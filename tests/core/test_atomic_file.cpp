// AtomicFile: new and replaced files get exactly the written bytes; a writer that fails midway
// (the in-process stand-in for a crash during save) leaves the old file intact and no temporary.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace {

// A fresh empty directory per test, removed afterwards.
class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = fs::temp_directory_path() /
                 ("mech_atomic_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  std::string path(const std::string& name) const { return (directory_ / name).string(); }
  static std::string read(const std::string& file) {
    std::ifstream stream(file, std::ios::binary);
    std::stringstream contents;
    contents << stream.rdbuf();
    return contents.str();
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(directory_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  fs::path directory_;
};

TEST_F(AtomicFileTest, WritesANewFile) {
  const std::string target = path("new.bin");
  std::string bytes = "header";
  bytes += std::string("\0\x01\xff", 3);
  mech::write_file_atomically(target, bytes);
  EXPECT_EQ(read(target), bytes);
  EXPECT_EQ(entries(), std::vector<std::string>{"new.bin"});
}

TEST_F(AtomicFileTest, ReplacesAnExistingFileWithPiecewiseWrites) {
  const std::string target = path("model.ckpt");
  mech::write_file_atomically(target, std::string(1000, 'o'));
  mech::write_file_atomically(target, [](mech::AtomicFile& file) {
    file.write("new ");
    file.write("contents", 8);
  });
  EXPECT_EQ(read(target), "new contents");  // shorter than before: no stale tail
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, WriterThatThrowsMidwayLeavesTheOldFileAndNoTemporary) {
  const std::string target = path("model.ckpt");
  mech::write_file_atomically(target, "old checkpoint");
  bool temporary_existed = false;
  EXPECT_THROW(mech::write_file_atomically(target,
                                           [&](mech::AtomicFile& file) {
                                             file.write(std::string(1 << 20, 'x'));
                                             temporary_existed = fs::exists(file.temporary_path());
                                             throw std::runtime_error("simulated crash mid-write");
                                           }),
               std::runtime_error);
  EXPECT_TRUE(temporary_existed);  // the half-written data really went somewhere else
  EXPECT_EQ(read(target), "old checkpoint");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, AbandonedWithoutCommitLeavesNothing) {
  const std::string target = path("never.bin");
  {
    mech::AtomicFile file(target);
    file.write("partial");
    EXPECT_EQ(fs::path(file.temporary_path()).parent_path(), directory_);
  }
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicFileTest, TemporaryLivesBesideTheTargetWhenThePathIsRelative) {
  // rename() is atomic only within one file system, so the temporary must share the directory.
  const fs::path previous = fs::current_path();
  fs::current_path(directory_);
  {
    mech::AtomicFile file("relative.bin");
    EXPECT_EQ(fs::path(file.temporary_path()).parent_path(), fs::path("."));
    file.write("abc");
    file.commit();
  }
  fs::current_path(previous);
  EXPECT_EQ(read(path("relative.bin")), "abc");
}

TEST_F(AtomicFileTest, MissingDirectoryIsAnIoErrorNamingThePath) {
  const std::string target = path("no/such/dir/file.bin");
  try {
    mech::write_file_atomically(target, "x");
    FAIL() << "expected mech::IoError";
  } catch (const mech::IoError& error) {
    EXPECT_NE(std::string(error.what()).find(target), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("No such file"), std::string::npos) << error.what();
  }
}

TEST_F(AtomicFileTest, FailedRenameKeepsTheTargetAndRemovesTheTemporary) {
  // A directory in the target's place makes rename fail after all the data was written.
  const std::string target = path("occupied");
  fs::create_directories(path("occupied/inner"));
  EXPECT_THROW(mech::write_file_atomically(target, "data"), mech::IoError);
  EXPECT_TRUE(fs::is_directory(path("occupied/inner")));
  EXPECT_EQ(entries(), std::vector<std::string>{"occupied"});
}

TEST_F(AtomicFileTest, KeepsThePermissionsOfTheReplacedFile) {
  const std::string target = path("shared.bin");
  mech::write_file_atomically(target, "v1");
  ASSERT_EQ(::chmod(target.c_str(), 0640), 0);
  mech::write_file_atomically(target, "v2");
  struct stat info {};
  ASSERT_EQ(::stat(target.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u);
  EXPECT_EQ(read(target), "v2");
}

TEST_F(AtomicFileTest, WriteOrCommitAfterCommitIsRefused) {
  mech::AtomicFile file(path("once.bin"));
  file.write("a");
  file.commit();
  EXPECT_THROW(file.write("b"), mech::IoError);
  EXPECT_THROW(file.commit(), mech::IoError);
  EXPECT_EQ(read(path("once.bin")), "a");
}

TEST_F(AtomicFileTest, EmptyPathAndDirectoryPathAreRefused) {
  EXPECT_THROW(mech::AtomicFile(""), mech::IoError);
  EXPECT_THROW(mech::AtomicFile(directory_.string() + "/"), mech::IoError);
}

}  // namespace
