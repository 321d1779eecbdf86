#include "libs/config/read_small_file.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
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

// A FIFO put in the file's place (an operator's mistake) must not hold the caller, a watcher's
// thread, until something writes to it: it is refused at once. Bounded: were it to block, the
// test fails after 5 s and opens the FIFO's other end to let the read go.
TEST_F(ReadSmallFileTest, Fifo_IsInvalidArgumentAtOnceWithoutWaitingForAWriter) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  std::future<absl::StatusOr<std::string>> read =
      std::async(std::launch::async, [this] { return ReadSmallFile(path_, 100, "a test file"); });
  if (read.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "ReadSmallFile waited for a writer";
    const int writer = open(path_.c_str(), O_WRONLY);  // unblocks the reader's open
    if (writer >= 0) close(writer);                    // and its read: end of file
  }
  const absl::StatusOr<std::string> result = read.get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("not a regular file"));
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
