// StoreFile: a store's database file opened for writing, the way every Hermes store opens it,
// and the lock that keeps a second process from writing it too.
//
//   absl::StatusOr<StoreFile> file = OpenStoreFile(path, kMigrations, busy_timeout);
//   if (!file.ok()) return file.status();   // FAILED_PRECONDITION: another process has it
//   ...file->writer: the one write connection, its schema migrated...
//   ConnectionPool readers(ReaderOpener(path, busy_timeout), max_readers);
//   // keep file->lock for as long as the store lives (declare it first: released last)
//
// One process writes a store's file. A second one writing beside it would break what the
// stores promise: each process's event listener hears of its own commits only (live events
// from the other would reach watchers late, read back from the log), and Get's read cache
// would serve users in states the other process has since changed. So a store takes the file's
// writer lock before opening it, and a second store on the same file — another process (two
// instances started by hand with one --data_dir, a supervisor that starts the new instance
// before the old one has exited, a `docker compose run` beside the running service on its
// volume), or the same one — fails at start-up instead. Readers (query-only connections, the
// sqlite3 shell) do not take it.
//
// The lock is an flock(2) on "<database>-writer.lock" beside the database file (after symbolic
// links: two names of one file share its lock). Not on the database file itself: SQLite's own
// locks on it are POSIX locks, which the process loses when it closes any descriptor of that
// file; and not "<database>.lock", which SQLite's unix-dotfile VFS uses. An flock belongs to
// the open file description: it goes when the holder closes it or ends, kill -9 included, so
// a crash leaves no stale lock. The file stays (removing it would race with the next opener),
// and it must not be deleted while a store runs: the next opener would make a new one and
// lock that. It holds the holder's pid and host name (a container's id), which a second opener
// logs. A lock file this process may read but not write (left by a run as root) still locks.
// It needs a file system with flock; local ones have it, and SQLite's WAL needs a local file
// system anyway. A build from before the lock takes none, so it does not stop a newer one.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/storage/connection_pool.h"
#include "libs/storage/migrations.h"
#include "libs/storage/sqlite_database.h"

namespace hermes::storage {

// An exclusive lock on a database file's WriterLockPath(), held until destroyed (or moved from).
class WriterLock {
 public:
  // Takes the lock of the database at `database_path` (whose directory must exist), creating
  // the lock file if missing, and writes this process's pid and host name into it. Fails at
  // once, without waiting, with FAILED_PRECONDITION while another holder has it (the path and
  // the holder are logged), and UNAVAILABLE when the lock file cannot be opened or locked.
  static absl::StatusOr<WriterLock> Acquire(const std::string& database_path);

  WriterLock(WriterLock&& other) noexcept;
  WriterLock& operator=(WriterLock&& other) noexcept;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock();  // releases the lock

 private:
  WriterLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void Release();

  int fd_ = -1;       // -1 once released or moved from
  std::string path_;  // of the lock file
};

// The path of the lock file of the database at `database_path`.
std::string WriterLockPath(const std::string& database_path);

struct StoreFile {
  WriterLock lock;
  std::unique_ptr<SqliteDatabase> writer;  // the write connection
};

// Opens the database at `path` for a store's writes: refuses "" and ":memory:"
// (INVALID_ARGUMENT, as SqliteDatabase::Open does), creates missing parent directories
// (CreateParentDirectories), takes its WriterLock, opens the write connection (SqliteDatabase,
// busy_timeout) and brings its schema to the last of `migrations` (Migrate). The errors of
// those steps, in that order.
absl::StatusOr<StoreFile> OpenStoreFile(const std::string& path,
                                        std::span<const Migration> migrations,
                                        absl::Duration busy_timeout);

// Opens a query-only connection to `path` on each call: a store's ConnectionPool opener.
ConnectionPool::Opener ReaderOpener(std::string path, absl::Duration busy_timeout);

}  // namespace hermes::storage
