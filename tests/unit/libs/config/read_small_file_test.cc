#include "libs/config/read_small_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace hermes::config {
namespace {

using ::testing::HasSubstr;

class ReadSmallFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "read_small_file_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/file";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }

  std::string dir_;
  std::string path_;
};

TEST_F(ReadSmallFileTest, File_ReturnsItsWholeContents) {
  const std::string contents(20000, 'x');  // more than one read's buffer
  std::ofstream(path_) << contents;
  absl::StatusOr<std::string> read = ReadSmallFile(path_, 1 << 20, "a test file");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, contents);
}

TEST_F(ReadSmallFileTest, MissingFile_IsNotFoundNamingThePath) {
  absl::StatusOr<std::string> read = ReadSmallFile(path_, 100, "a test file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(path_));
}

TEST_F(ReadSmallFileTest, Directory_IsFailedPrecondition) {
  // Not read (a watcher tries again), unlike a file that holds the wrong thing.
  absl::StatusOr<std::string> read = ReadSmallFile(dir_, 100, "a test file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition) << read.status();
}

TEST_F(ReadSmallFileTest, FileOverTheCap_IsInvalidArgumentSayingWhatItIsNot) {
  std::ofstream(path_) << "123456789";
  absl::StatusOr<std::string> read = ReadSmallFile(path_, 8, "a test file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr("larger than 8 bytes; not a test file"));
  EXPECT_TRUE(ReadSmallFile(path_, 9, "a test file").ok());
}

}  // namespace
}  // namespace hermes::config
