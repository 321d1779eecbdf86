#include "libs/storage/store_file.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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
  absl::StatusOr<StoreFile> Open(std::span<const Migration> migrations = kV1) {
    return OpenStoreFile(Path(), migrations, absl::Seconds(1));
  }

  std::string LockFileText() const {
    std::ifstream in(WriterLockPath(Path()));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  int Version() {
    std::unique_ptr<SqliteDatabase> db = OpenOrDie();
    return db == nullptr ? -1 : SchemaVersion(*db).value_or(-1);
  }
};

TEST_F(StoreFileTest, Open_CreatesDirectoriesMigratesAndWritesThePidBesideTheFile) {
  const std::string path = Path("a/b/store.db");
  absl::StatusOr<StoreFile> file = OpenStoreFile(path, kV1, absl::Seconds(1));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*SchemaVersion(*file->writer), 1);
  EXPECT_EQ(WriterLockPath(path), path + ".lock");
  std::ifstream lock(path + ".lock");
  std::string pid;
  lock >> pid;
  EXPECT_EQ(pid, absl::StrCat(getpid()));
}

TEST_F(StoreFileTest, SecondOpen_WhileTheFirstIsOpen_FailedPreconditionAndNothingMigrated) {
  absl::StatusOr<StoreFile> first = Open(kV1);
  ASSERT_TRUE(first.ok()) << first.status();

  // A newer build started beside the running one must not migrate the file under it.
  absl::StatusOr<StoreFile> second = Open(kV2);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos);
  EXPECT_EQ(Version(), 1);
  EXPECT_EQ(LockFileText(), absl::StrCat(getpid(), "\n"));  // the holder's pid, untouched
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

TEST_F(StoreFileTest, LockPathNotAFile_Unavailable) {
  ASSERT_TRUE(std::filesystem::create_directory(WriterLockPath(Path())));
  EXPECT_EQ(Open().status().code(), absl::StatusCode::kUnavailable);
}

// Another process holds the lock until it ends, even by SIGKILL: no stale lock to clear.
TEST_F(StoreFileTest, HeldByAnotherProcess_RefusedUntilItIsKilled) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    absl::StatusOr<WriterLock> lock = WriterLock::Acquire(Path());
    const char held = lock.ok() ? 'y' : 'n';
    if (write(ready[1], &held, 1) != 1) _exit(1);
    for (;;) pause();  // until killed
  }
  close(ready[1]);
  pollfd wait_for{.fd = ready[0], .events = POLLIN, .revents = 0};
  char held = 0;
  const bool answered =
      poll(&wait_for, 1, /*timeout_ms=*/10'000) == 1 && read(ready[0], &held, 1) == 1;
  close(ready[0]);

  absl::StatusOr<StoreFile> while_held = Open();
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);

  ASSERT_TRUE(answered) << "the child did not report within 10 s";
  ASSERT_EQ(held, 'y');
  EXPECT_EQ(while_held.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LockFileText(), absl::StrCat(child, "\n"));
  absl::StatusOr<StoreFile> after = Open();
  EXPECT_TRUE(after.ok()) << after.status();
}

}  // namespace
}  // namespace hermes::storage
