#include "libs/storage/store_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "libs/errors/app_error.h"
#include "libs/storage/sqlite_error.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {
namespace {

// Who holds a lock file, as its holder wrote it: "<pid> <host name>" (a pid alone says little
// across containers, where the holder may well be pid 1 of another one).
struct Holder {
  int64_t pid = 0;   // 0: unknown (not written yet, or not writable)
  std::string host;  // "" with pid 0
};

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

Holder ReadHolder(int fd) {
  char text[320];
  const ssize_t size = pread(fd, text, sizeof(text) - 1, 0);
  if (size <= 0) return {};
  const std::vector<absl::string_view> words =
      absl::StrSplit(absl::string_view(text, static_cast<size_t>(size)), absl::ByAnyChar(" \n"),
                     absl::SkipEmpty());
  Holder holder;
  if (words.empty() || !absl::SimpleAtoi(words[0], &holder.pid)) return {};
  if (words.size() > 1) holder.host = std::string(words[1]);
  return holder;
}

// Replaces the lock file's content with this process's pid and host name. Only for the message
// of a second opener: a failure here is logged and does not give the lock up.
void WriteHolder(int fd, const std::string& lock_path) {
  const std::string holder = absl::StrCat(getpid(), " ", HostName(), "\n");
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, holder.data(), holder.size(), 0) != static_cast<ssize_t>(holder.size())) {
    HERMES_LOG(spdlog::level::warn, "cannot write the holder into the database's lock file")
        .Str("path", lock_path)
        .Str("error", std::strerror(errno));
  }
}

// Opens the lock file, creating it if missing. One that this process may read but not write
// (created by root, say) still takes an flock: then `*writable` is false.
int OpenLockFile(const std::string& path, bool* writable) {
  *writable = true;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
    *writable = false;
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  return fd;
}

// The lock files this process holds: a refusal then says whether the holder is this process
// without trusting the file's record (which a holder that could not write it left stale).
ABSL_CONST_INIT absl::Mutex held_mu(absl::kConstInit);
absl::flat_hash_set<std::string>& HeldHere() ABSL_EXCLUSIVE_LOCKS_REQUIRED(held_mu) {
  static auto* const held = new absl::flat_hash_set<std::string>();
  return *held;
}

}  // namespace

std::string WriterLockPath(const std::string& database_path) {
  // Through symbolic links, so that two names of one database share its lock.
  std::error_code error;
  const std::filesystem::path real = std::filesystem::weakly_canonical(database_path, error);
  return absl::StrCat(error ? database_path : real.string(), "-writer.lock");
}

absl::StatusOr<WriterLock> WriterLock::Acquire(const std::string& database_path) {
  const std::string path = WriterLockPath(database_path);
  bool writable = true;
  const int fd = OpenLockFile(path, &writable);
  if (fd < 0) {
    HERMES_LOG(spdlog::level::err, "cannot open the database's lock file")
        .Str("path", path)
        .Str("error", std::strerror(errno));
    return errors::Error(absl::StatusCode::kUnavailable, "cannot open the database's lock file");
  }
  int error = 0;
  bool here = false;  // held by this process
  {
    absl::MutexLock held_lock(&held_mu);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      HeldHere().insert(path);
    } else {
      error = errno;
      here = HeldHere().contains(path);
    }
  }
  if (error == 0) {
    WriterLock lock(fd, path);
    if (writable) {
      WriteHolder(fd, path);
    } else {
      HERMES_LOG(spdlog::level::warn,
                 "the database's lock file is read-only here: locked, but the holder is not "
                 "recorded")
          .Str("path", path);
    }
    return lock;
  }
  Holder holder = here ? Holder{} : ReadHolder(fd);
  close(fd);
  // A record of this process that it does not hold was left stale by a holder that could not
  // write its own (a read-only lock file).
  if (holder.pid == getpid() && holder.host == HostName()) holder = {};
  if (error != EWOULDBLOCK) {
    HERMES_LOG(spdlog::level::err, "cannot lock the database's lock file")
        .Str("path", path)
        .Str("error", std::strerror(error));
    return errors::Error(absl::StatusCode::kUnavailable, "cannot lock the database's lock file");
  }
  if (here) {
    HERMES_LOG(spdlog::level::err, "the database is already open in this process")
        .Str("path", database_path);
    return errors::Error(absl::StatusCode::kFailedPrecondition,
                         "the database is already open by another store of this process");
  }
  if (holder.pid > 0) {
    HERMES_LOG(spdlog::level::err, "the database is in use by another process")
        .Str("path", database_path)
        .Int("holder_pid", holder.pid)
        .Str("holder_host", holder.host);
  } else {
    HERMES_LOG(spdlog::level::err, "the database is in use by another process")
        .Str("path", database_path);
  }
  return errors::Error(absl::StatusCode::kFailedPrecondition,
                       "the database is in use by another process (only one may write it)");
}

WriterLock::WriterLock(WriterLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

WriterLock& WriterLock::operator=(WriterLock&& other) noexcept {
  if (this != &other) {
    Release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

WriterLock::~WriterLock() { Release(); }

void WriterLock::Release() {
  if (fd_ < 0) return;
  absl::MutexLock held_lock(&held_mu);
  HeldHere().erase(path_);
  close(std::exchange(fd_, -1));  // the only descriptor of its description: the lock goes
}

absl::StatusOr<StoreFile> OpenStoreFile(const std::string& path,
                                        std::span<const Migration> migrations,
                                        absl::Duration busy_timeout) {
  RegisterStorageErrorCounters();
  // What SqliteDatabase::Open refuses, refused before a lock file is made for it.
  if (absl::Status status = CheckDatabaseFilePath(path); !status.ok()) return status;
  if (absl::Status status = CreateParentDirectories(path); !status.ok()) return status;
  absl::StatusOr<WriterLock> lock = WriterLock::Acquire(path);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> writer =
      SqliteDatabase::Open(path, {.busy_timeout = busy_timeout});
  if (!writer.ok()) return writer.status();
  if (absl::Status status = Migrate(**writer, migrations); !status.ok()) return status;
  return StoreFile{.lock = *std::move(lock), .writer = *std::move(writer)};
}

ConnectionPool::Opener ReaderOpener(std::string path, absl::Duration busy_timeout) {
  return [path = std::move(path), busy_timeout] {
    return SqliteDatabase::Open(path, {.busy_timeout = busy_timeout, .query_only = true});
  };
}

}  // namespace hermes::storage
