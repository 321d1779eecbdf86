#include "libs/storage/store_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {
namespace {

// The pid a holder wrote into the lock file, or 0 if it cannot be read (not written yet).
int64_t HolderPid(int fd) {
  char text[32];
  const ssize_t size = pread(fd, text, sizeof(text) - 1, 0);
  int64_t pid = 0;
  if (size <= 0 ||
      !absl::SimpleAtoi(
          absl::StripAsciiWhitespace(absl::string_view(text, static_cast<size_t>(size))), &pid)) {
    return 0;
  }
  return pid;
}

// Replaces the lock file's content with this process's pid. Only for the message of a second
// opener: a failure here is logged and does not give the lock up.
void WritePid(int fd, const std::string& lock_path) {
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    HERMES_LOG(spdlog::level::warn, "cannot write the pid into the database's lock file")
        .Str("path", lock_path)
        .Str("error", std::strerror(errno));
  }
}

}  // namespace

std::string WriterLockPath(const std::string& database_path) {
  return absl::StrCat(database_path, ".lock");
}

absl::StatusOr<WriterLock> WriterLock::Acquire(const std::string& database_path) {
  const std::string path = WriterLockPath(database_path);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    HERMES_LOG(spdlog::level::err, "cannot open the database's lock file")
        .Str("path", path)
        .Str("error", std::strerror(errno));
    return errors::Error(absl::StatusCode::kUnavailable, "cannot open the database's lock file");
  }
  WriterLock lock(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      HERMES_LOG(spdlog::level::err, "the database is in use by another process")
          .Str("path", database_path)
          .Int("holder_pid", HolderPid(fd));
      return errors::Error(absl::StatusCode::kFailedPrecondition,
                           "the database is in use by another process (only one may write it)");
    }
    HERMES_LOG(spdlog::level::err, "cannot lock the database's lock file")
        .Str("path", path)
        .Str("error", std::strerror(error));
    return errors::Error(absl::StatusCode::kUnavailable, "cannot lock the database's lock file");
  }
  WritePid(fd, path);
  return lock;
}

WriterLock::WriterLock(WriterLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

WriterLock& WriterLock::operator=(WriterLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) close(fd_);  // closing the only descriptor of the description releases the lock
}

absl::StatusOr<StoreFile> OpenStoreFile(const std::string& path,
                                        std::span<const Migration> migrations,
                                        absl::Duration busy_timeout) {
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
