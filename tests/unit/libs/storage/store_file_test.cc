#include "libs/storage/store_file.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

constexpr Migration kV1[] = {{.version = 1, .sql = "CREATE TABLE a (x INTEGER);"}};
constexpr Migration kV2[] = {
    {.version = 1, .sql = "CREATE TABLE a (x INTEGER);"},
    {.version = 2, .sql = "CREATE TABLE b (y INTEGER);"},
};

class StoreFileTest : public TempDatabaseTest {
 protected:
  void TearDown() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
    TempDatabaseTest::TearDown();
  }

  absl::StatusOr<StoreFile> Open(const std::string& path, std::span<const Migration> migrations) {
    return OpenStoreFile(path, migrations, absl::Seconds(1));
  }
  absl::StatusOr<StoreFile> Open(std::span<const Migration> migrations = kV1) {
    return Open(Path(), migrations);
  }

  static std::string FileText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  int Version() {
    std::unique_ptr<SqliteDatabase> db = OpenOrDie();
    return db == nullptr ? -1 : SchemaVersion(*db).value_or(-1);
  }

  // Forks a child that runs `setup`, takes the lock of Path() and keeps it until killed (by
  // KillChild or TearDown). True once the child says it holds the lock (10 s at most).
  bool HoldInChild(const std::function<void()>& setup = [] {}) {
    int ready[2];
    if (pipe(ready) != 0) return false;
    const pid_t parent = getpid();
    child_ = fork();
    if (child_ < 0) return false;
    if (child_ == 0) {
      // A test that crashes must not leave the child holding its lock: it dies with the test.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      close(ready[0]);
      setup();
      const absl::StatusOr<WriterLock> lock = WriterLock::Acquire(Path());  // kept till killed
      const char held = lock.ok() ? 'y' : 'n';
      if (write(ready[1], &held, 1) != 1) _exit(1);
      for (;;) pause();  // until killed
    }
    close(ready[1]);
    pollfd answer{.fd = ready[0], .events = POLLIN, .revents = 0};
    char held = 0;
    const bool answered =
        poll(&answer, 1, /*timeout_ms=*/10'000) == 1 && read(ready[0], &held, 1) == 1;
    close(ready[0]);
    return answered && held == 'y';
  }

  bool KillChild() {
    const bool killed = kill(child_, SIGKILL) == 0 && waitpid(child_, nullptr, 0) == child_;
    child_ = -1;
    return killed;
  }

  pid_t child_ = -1;
};

TEST_F(StoreFileTest, Open_CreatesDirectoriesMigratesAndRecordsTheHolderBesideTheFile) {
  const std::string path = Path("a/b/store.db");
  absl::StatusOr<StoreFile> file = Open(path, kV1);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*SchemaVersion(*file->writer), 1);
  EXPECT_EQ(WriterLockPath(path), path + "-writer.lock");
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(FileText(path + "-writer.lock"), absl::StrCat(getpid(), " ", host, "\n"));
}

TEST_F(StoreFileTest, SecondOpen_WhileTheFirstIsOpen_FailedPreconditionAndNothingMigrated) {
  absl::StatusOr<StoreFile> first = Open(kV1);
  ASSERT_TRUE(first.ok()) << first.status();

  // A newer build started beside the running one must not migrate the file under it.
  absl::StatusOr<StoreFile> second = Open(kV2);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find("already open by another store of this process"),
            std::string::npos)
      << second.status();
  EXPECT_EQ(Version(), 1);
}

TEST_F(StoreFileTest, Closed_TheNextOpenSucceeds) {
  ASSERT_TRUE(Open().ok());  // destroyed at once
  absl::StatusOr<StoreFile> again = Open(kV2);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*SchemaVersion(*again->writer), 2);
}

TEST_F(StoreFileTest, MovedLock_StillHeld_ReleasedWithItsLastOwner) {
  absl::StatusOr<StoreFile> first = Open();
  ASSERT_TRUE(first.ok());
  std::optional<WriterLock> moved(std::move(first->lock));
  first = absl::UnknownError("dropped");  // the moved-from lock and the connection go
  EXPECT_EQ(Open().status().code(), absl::StatusCode::kFailedPrecondition);
  moved.reset();
  EXPECT_TRUE(Open().ok());
}

TEST_F(StoreFileTest, MoveAssigned_ReleasesTheLockItHeldAndKeepsTheOther) {
  absl::StatusOr<WriterLock> a = WriterLock::Acquire(Path("a.db"));
  absl::StatusOr<WriterLock> b = WriterLock::Acquire(Path("b.db"));
  ASSERT_TRUE(a.ok() && b.ok());
  *a = *std::move(b);
  EXPECT_TRUE(WriterLock::Acquire(Path("a.db")).ok());
  EXPECT_EQ(WriterLock::Acquire(Path("b.db")).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreFileTest, SymlinkedName_SharesTheLock) {
  absl::StatusOr<StoreFile> first = Open();
  ASSERT_TRUE(first.ok());
  std::filesystem::create_symlink(Path(), Path("other-name.db"));
  EXPECT_EQ(Open(Path("other-name.db"), kV1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreFileTest, NotAFile_InvalidArgument_NoLockFileMade) {
  for (const std::string path : {"", ":memory:"}) {
    EXPECT_EQ(Open(path, kV1).status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_FALSE(std::filesystem::exists(path + "-writer.lock")) << path;
  }
}

TEST_F(StoreFileTest, LockPathNotAFile_Unavailable) {
  ASSERT_TRUE(std::filesystem::create_directory(WriterLockPath(Path())));
  EXPECT_EQ(Open().status().code(), absl::StatusCode::kUnavailable);
}

// Another process holds the lock until it ends, even by SIGKILL: no stale lock to clear.
TEST_F(StoreFileTest, HeldByAnotherProcess_RefusedUntilItIsKilled) {
  ASSERT_TRUE(HoldInChild());
  const pid_t holder = child_;

  absl::StatusOr<StoreFile> while_held = Open();
  EXPECT_EQ(while_held.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(while_held.status().message().find("in use by another process"), std::string::npos)
      << while_held.status();
  EXPECT_EQ(FileText(WriterLockPath(Path())).find(absl::StrCat(holder, " ")), 0u)
      << "the holder's record was overwritten by the opener it refused";

  ASSERT_TRUE(KillChild());
  absl::StatusOr<StoreFile> after = Open();
  EXPECT_TRUE(after.ok()) << after.status();
}

// A lock file left by a run as another user (root) that this one may read but not write: the
// service still starts and still holds the lock.
TEST_F(StoreFileTest, LockFileNotWritableHere_StillLocks) {
  { absl::StatusOr<StoreFile> as_owner = Open(); }  // leaves the database and its lock file
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(WriterLockPath(Path()).c_str(), 0444), 0);
  const std::string before = FileText(WriterLockPath(Path()));

  // Root may write any file: the child drops to nobody, for whom the file is read-only.
  ASSERT_TRUE(HoldInChild([] {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(1);
  }));
  absl::StatusOr<StoreFile> while_held = Open();
  EXPECT_EQ(while_held.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(while_held.status().message().find("in use by another process"), std::string::npos)
      << while_held.status();
  EXPECT_EQ(FileText(WriterLockPath(Path())), before);  // the holder could not record itself
}

}  // namespace
}  // namespace hermes::storage
