// WatchedFiles' contract with its reload function, with a scripted reload: which changes call it,
// and what each outcome it returns leads to. (The authorization policy's tests and TlsMaterial's
// cover it again with real files behind the reload.)
#include "libs/config/watched_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace hermes::config {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
// Generous: sanitizer builds on a loaded machine are slow.
constexpr absl::Duration kDeadline = absl::Seconds(5);

// A reload whose outcome the test sets, counting its calls, and a log of what is reported.
class Script {
 public:
  WatchedFiles::Reload Reload() {
    return [this] {
      absl::MutexLock lock(&mu_);
      ++calls_;
      return next_;
    };
  }
  WatchedFiles::ReloadCallback Callback() {
    return [this](const absl::Status& outcome) {
      absl::MutexLock lock(&mu_);
      reports_.push_back(outcome);
    };
  }

  void Return(absl::Status outcome) {
    absl::MutexLock lock(&mu_);
    next_ = std::move(outcome);
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Waits (bounded) until the reload has been called `count` times in all.
  bool WaitForCalls(int count) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kDeadline);
  }
  // Waits (bounded) until `count` reports have arrived; returns them all.
  std::vector<absl::Status> WaitForReports(size_t count) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return reports_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), kDeadline);
    return reports_;
  }

 private:
  absl::Mutex mu_;
  absl::Status next_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Status> reports_ ABSL_GUARDED_BY(mu_);
};

class WatchedFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "watched_files_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    first_ = dir_ + "/first";
    second_ = dir_ + "/second";
    std::ofstream(first_) << "one";
    std::ofstream(second_) << "two";
  }
  void TearDown() override {
    std::remove(first_.c_str());
    std::remove(second_.c_str());
    std::remove((dir_ + "/new").c_str());
    rmdir(dir_.c_str());
  }

  // Renames a new file over `path`: a change every stat sees (another inode).
  void Replace(const std::string& path, const std::string& content) {
    std::ofstream(dir_ + "/new") << content;
    ASSERT_EQ(std::rename((dir_ + "/new").c_str(), path.c_str()), 0);
  }

  // Returns once `watched` has polled `n` more times (bounded): what polls must not do is then
  // known not to have happened, rather than assumed after a sleep that may hold no poll at all.
  static void AwaitPolls(const WatchedFiles& watched, int n) {
    const int64_t until = watched.polls() + n;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (watched.polls() < until && absl::Now() < deadline) absl::SleepFor(kPollInterval);
    ASSERT_GE(watched.polls(), until) << "the watcher stopped polling";
  }

  absl::StatusOr<std::unique_ptr<WatchedFiles>> Start() {
    return WatchedFiles::Start({first_, second_}, kPollInterval, script_.Reload(),
                               script_.Callback());
  }

  std::string dir_;
  std::string first_;
  std::string second_;
  Script script_;
};

TEST_F(WatchedFilesTest, Start_LoadsOnceAndReportsNothing) {
  auto watched = Start();
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(script_.calls(), 1);
  ASSERT_NO_FATAL_FAILURE(AwaitPolls(**watched, 10));  // polls that see no change
  EXPECT_EQ(script_.calls(), 1);
  EXPECT_TRUE(script_.WaitForReports(0).empty());
}

TEST_F(WatchedFilesTest, Start_FirstLoadFails_ReturnsItsError) {
  script_.Return(absl::InvalidArgumentError("bad"));
  auto watched = Start();
  EXPECT_EQ(watched.status(), absl::InvalidArgumentError("bad"));
}

TEST_F(WatchedFilesTest, ChangeToAnyFileOfTheSet_ReloadsAndReportsOk) {
  auto watched = Start();
  ASSERT_TRUE(watched.ok()) << watched.status();

  Replace(second_, "two, changed");
  std::vector<absl::Status> reports = script_.WaitForReports(1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].ok());

  Replace(first_, "one, changed");
  reports = script_.WaitForReports(2);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(reports[1].ok());
  EXPECT_EQ(script_.calls(), 3);
}

TEST_F(WatchedFilesTest, InvalidFiles_ReportedOnceThenLeftUntilTheyChange) {
  auto watched = Start();
  ASSERT_TRUE(watched.ok()) << watched.status();
  script_.Return(absl::InvalidArgumentError("not valid"));

  Replace(first_, "bad");
  ASSERT_EQ(script_.WaitForReports(1).size(), 1u);
  ASSERT_NO_FATAL_FAILURE(AwaitPolls(**watched, 10));
  EXPECT_EQ(script_.calls(), 2);  // not read again at every poll

  script_.Return(absl::OkStatus());
  Replace(first_, "good");
  const std::vector<absl::Status> reports = script_.WaitForReports(2);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0], absl::InvalidArgumentError("not valid"));
  EXPECT_TRUE(reports[1].ok());
}

TEST_F(WatchedFilesTest, FilesNotRead_TriedAtEveryPoll_ReportedOnce_ThenTheFix) {
  auto watched = Start();
  ASSERT_TRUE(watched.ok()) << watched.status();
  script_.Return(absl::FailedPreconditionError("cannot read"));

  Replace(second_, "unreadable for now");
  ASSERT_TRUE(script_.WaitForCalls(6));  // the start-up load, then one a poll
  EXPECT_EQ(script_.WaitForReports(1).size(), 1u);

  // Fixed without any change to the files (as a directory's permissions would be).
  script_.Return(absl::OkStatus());
  const std::vector<absl::Status> reports = script_.WaitForReports(2);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0], absl::FailedPreconditionError("cannot read"));
  EXPECT_TRUE(reports[1].ok());
  const int calls = script_.calls();
  ASSERT_NO_FATAL_FAILURE(AwaitPolls(**watched, 10));
  EXPECT_EQ(script_.calls(), calls);  // read: done with until the next change
}

// Rejected files that then cannot be read for a while and come back unchanged (here a link
// pointed elsewhere and back; a directory's permissions would do the same) are still rejected:
// the report is the rejection again, never an OK that would claim them in force.
TEST_F(WatchedFilesTest, RejectedFilesUnreadableThenBackUnchanged_ReportedRejectedAgain) {
  const std::string link = dir_ + "/link";
  const auto point_link_at = [&](const std::string& target) {
    const std::string next = dir_ + "/link.next";
    ASSERT_EQ(symlink(target.c_str(), next.c_str()), 0);
    ASSERT_EQ(std::rename(next.c_str(), link.c_str()), 0);
  };
  ASSERT_NO_FATAL_FAILURE(point_link_at(first_));
  auto watched =
      WatchedFiles::Start({link, second_}, kPollInterval, script_.Reload(), script_.Callback());
  ASSERT_TRUE(watched.ok()) << watched.status();

  script_.Return(absl::InvalidArgumentError("not valid"));
  Replace(first_, "bad");
  ASSERT_EQ(script_.WaitForReports(1).size(), 1u);
  script_.Return(absl::FailedPreconditionError("cannot read"));
  ASSERT_NO_FATAL_FAILURE(point_link_at(dir_ + "/missing"));
  ASSERT_EQ(script_.WaitForReports(2).size(), 2u);
  ASSERT_NO_FATAL_FAILURE(point_link_at(first_));  // the rejected file, as it was

  const std::vector<absl::Status> reports = script_.WaitForReports(3);
  std::remove(link.c_str());
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0], absl::InvalidArgumentError("not valid"));
  EXPECT_EQ(reports[1], absl::FailedPreconditionError("cannot read"));
  EXPECT_EQ(reports[2], absl::InvalidArgumentError("not valid"));
}

TEST_F(WatchedFilesTest, FileDeletedAndBack_ReloadsEachTime) {
  auto watched = Start();
  ASSERT_TRUE(watched.ok()) << watched.status();

  ASSERT_EQ(std::remove(first_.c_str()), 0);
  ASSERT_TRUE(script_.WaitForCalls(2));
  Replace(first_, "back");
  ASSERT_TRUE(script_.WaitForCalls(3));
  EXPECT_EQ(script_.WaitForReports(2).size(), 2u);
}

}  // namespace
}  // namespace hermes::config
