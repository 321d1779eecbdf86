#include "libs/authz/policy_watcher.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace hermes::authz {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
// Generous: a reload needs one poll interval, but sanitizer builds on a loaded machine are slow.
constexpr absl::Duration kReloadDeadline = absl::Seconds(5);

constexpr char kGetUser[] = "/user.v1.UserService/GetUser";
constexpr char kListUsers[] = "/user.v1.UserService/ListUsers";
constexpr char kOrder[] = "spiffe://hermes/order";

std::string OrderMayCall(const std::string& method) {
  return R"({"rules": [{"identity": "spiffe://hermes/order", "methods": [")" + method + R"("]}]})";
}

// Collects what the watcher reports; safe to read while the watcher thread writes.
class ReloadLog {
 public:
  PolicyWatcher::ReloadCallback Callback() {
    return [this](const std::string& path, const absl::Status& outcome) {
      absl::MutexLock lock(&mu_);
      paths_.push_back(path);
      outcomes_.push_back(outcome);
    };
  }

  // Waits until `count` reports have arrived; returns them all.
  std::vector<absl::Status> WaitFor(size_t count) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, count]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outcomes_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), kReloadDeadline);
    return outcomes_;
  }

  std::vector<std::string> paths() {
    absl::MutexLock lock(&mu_);
    return paths_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> outcomes_ ABSL_GUARDED_BY(mu_);
};

class PolicyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "authz_watcher_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/policy.json";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".new").c_str());
    rmdir(dir_.c_str());
  }

  // How operators are told to change the file: write a new one, rename it over the old.
  void ReplaceAtomically(const std::string& content) {
    const std::string temporary = path_ + ".new";
    std::ofstream(temporary) << content;
    ASSERT_EQ(std::rename(temporary.c_str(), path_.c_str()), 0);
  }

  void RewriteInPlace(const std::string& content) { std::ofstream(path_) << content; }

  // Polls Current() until it allows `method` for the order identity or the deadline passes.
  static bool EventuallyAllows(const PolicyWatcher& watcher, const std::string& method) {
    const absl::Time deadline = absl::Now() + kReloadDeadline;
    while (absl::Now() < deadline) {
      if (watcher.Current()->Allows(kOrder, method)) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return watcher.Current()->Allows(kOrder, method);
  }

  std::string dir_;
  std::string path_;
  ReloadLog log_;
};

TEST_F(PolicyWatcherTest, Start_GoodFile_ServesItsPolicy) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  ASSERT_NE((*watcher)->Current(), nullptr);
  EXPECT_TRUE((*watcher)->Current()->Allows(kOrder, kGetUser));
  EXPECT_FALSE((*watcher)->Current()->Allows(kOrder, kListUsers));
}

TEST_F(PolicyWatcherTest, Start_MissingFile_FailsWithNotFound) {
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_FALSE(watcher.ok());
  EXPECT_EQ(watcher.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(watcher.status().message()), StartsWith(path_));
}

TEST_F(PolicyWatcherTest, Start_MalformedFile_FailsNamingTheProblem) {
  RewriteInPlace(OrderMayCall("GetUser"));
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_FALSE(watcher.ok());
  EXPECT_EQ(watcher.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(watcher.status().message()), HasSubstr("rules[0].methods[0]"));
}

TEST_F(PolicyWatcherTest, AtomicReplace_TakesEffectAndIsReported) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const std::shared_ptr<const Policy> before = (*watcher)->Current();

  ReplaceAtomically(OrderMayCall(kListUsers));

  EXPECT_TRUE(EventuallyAllows(**watcher, kListUsers));
  EXPECT_FALSE((*watcher)->Current()->Allows(kOrder, kGetUser));
  const std::vector<absl::Status> outcomes = log_.WaitFor(1);
  ASSERT_FALSE(outcomes.empty());
  EXPECT_TRUE(outcomes.front().ok()) << outcomes.front();
  EXPECT_EQ(log_.paths().front(), path_);
  // A caller still holding the old policy keeps a valid, unchanged one.
  EXPECT_TRUE(before->Allows(kOrder, kGetUser));
}

TEST_F(PolicyWatcherTest, InPlaceRewrite_TakesEffect) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  RewriteInPlace(OrderMayCall(kListUsers));

  EXPECT_TRUE(EventuallyAllows(**watcher, kListUsers));
}

// A rewrite that keeps the inode and the size, with its modification time set back (a copy that
// preserves times, a clock step): the status-change time still tells it apart.
TEST_F(PolicyWatcherTest, SameSizeRewrite_OldModificationTimeRestored_StillTakesEffect) {
  constexpr char kPutUser[] = "/user.v1.UserService/PutUser";  // as long as kGetUser
  RewriteInPlace(OrderMayCall(kGetUser));
  struct stat before {};
  ASSERT_EQ(stat(path_.c_str(), &before), 0);
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  RewriteInPlace(OrderMayCall(kPutUser));
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, path_.c_str(), times, 0), 0);
  struct stat after {};
  ASSERT_EQ(stat(path_.c_str(), &after), 0);
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_ino, before.st_ino);

  EXPECT_TRUE(EventuallyAllows(**watcher, kPutUser));
}

TEST_F(PolicyWatcherTest, MalformedEdit_KeepsOldPolicyAndReportsTheError) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  ReplaceAtomically(R"({"rules": [{"identity": "spiffe://hermes/order", "method": ["*"]}]})");

  const std::vector<absl::Status> outcomes = log_.WaitFor(1);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outcomes[0].message()), StartsWith(path_));
  EXPECT_THAT(std::string(outcomes[0].message()), HasSubstr(R"(rules[0]: unknown key "method")"));
  EXPECT_TRUE((*watcher)->Current()->Allows(kOrder, kGetUser));
  EXPECT_FALSE((*watcher)->Current()->Allows(kOrder, kListUsers));

  // A fixed file is picked up as usual, and the bad one was reported once, not on every poll.
  ReplaceAtomically(OrderMayCall(kListUsers));
  EXPECT_TRUE(EventuallyAllows(**watcher, kListUsers));
  const std::vector<absl::Status> after_fix = log_.WaitFor(2);
  ASSERT_EQ(after_fix.size(), 2u);
  EXPECT_TRUE(after_fix[1].ok()) << after_fix[1];
}

TEST_F(PolicyWatcherTest, DeletedFile_KeepsOldPolicyAndReportsNotFound) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, kPollInterval, log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  ASSERT_EQ(std::remove(path_.c_str()), 0);

  const std::vector<absl::Status> outcomes = log_.WaitFor(1);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*watcher)->Current()->Allows(kOrder, kGetUser));

  // Tried at every poll until it is back, reported once meanwhile: the next report is the fix.
  RewriteInPlace(OrderMayCall(kListUsers));
  EXPECT_TRUE(EventuallyAllows(**watcher, kListUsers));
  const std::vector<absl::Status> after_fix = log_.WaitFor(2);
  ASSERT_EQ(after_fix.size(), 2u);
  EXPECT_TRUE(after_fix[1].ok()) << after_fix[1];
}

TEST_F(PolicyWatcherTest, Destructor_ReturnsPromptlyEvenWithALongPollInterval) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, absl::Hours(1), log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  const absl::Time start = absl::Now();
  watcher->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST_F(PolicyWatcherTest, Current_FromManyThreadsDuringReloads_AlwaysGivesAPolicy) {
  RewriteInPlace(OrderMayCall(kGetUser));
  auto watcher = PolicyWatcher::Start(path_, absl::Milliseconds(1), log_.Callback());
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  // The readers read for as long as the reloads go on (each reload is waited for, so that they
  // really happen while the readers read), and at most a bounded number of times.
  constexpr int kReloads = 20;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&watcher, &done] {
      for (int j = 0; j < 10'000'000 && !done.load(std::memory_order_relaxed); ++j) {
        const std::shared_ptr<const Policy> policy = (*watcher)->Current();
        ASSERT_NE(policy, nullptr);
        // Exactly one of the two versions is in force at any moment.
        EXPECT_NE(policy->Allows(kOrder, kGetUser), policy->Allows(kOrder, kListUsers));
      }
    });
  }
  std::vector<absl::Status> outcomes;
  for (int i = 0; i < kReloads; ++i) {
    ReplaceAtomically(OrderMayCall(i % 2 == 0 ? kListUsers : kGetUser));
    outcomes = log_.WaitFor(i + 1);
    if (outcomes.size() < static_cast<size_t>(i + 1)) break;  // reported below
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
  ASSERT_EQ(outcomes.size(), static_cast<size_t>(kReloads)) << "reloads reported";
  for (const absl::Status& outcome : outcomes) EXPECT_TRUE(outcome.ok()) << outcome;
}

}  // namespace
}  // namespace hermes::authz
