#include "libs/config/read_small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hermes::config {
namespace {

// Owns a file descriptor.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                          absl::string_view what) {
  // O_NONBLOCK: opening a FIFO put in a file's place would otherwise wait for a writer, and
  // hold the watcher's thread (and a shutdown joining it) until one came. It changes nothing
  // for a regular file, and anything else is refused below.
  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (file.get() < 0) {
    const int error = errno;
    std::string message = absl::StrCat(path, ": ", std::generic_category().message(error));
    if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
    return absl::FailedPreconditionError(message);
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": ", std::generic_category().message(errno)));
  }
  if (S_ISDIR(info.st_mode)) {  // as reading it would say
    return absl::FailedPreconditionError(absl::StrCat(path, ": Is a directory"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file (a FIFO, socket or device); not ", what));
  }
  std::string contents;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": ", std::generic_category().message(errno)));
    }
    if (n == 0) return contents;
    if (contents.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", max_bytes, " bytes; not ", what));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace hermes::config
