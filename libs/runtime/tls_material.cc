#include "libs/runtime/tls_material.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/runtime/tls.h"

namespace hermes::runtime {
namespace {

absl::Status Failed(absl::string_view what, int error) {
  return absl::InternalError(absl::StrCat(what, ": ", std::generic_category().message(error)));
}

}  // namespace

absl::StatusOr<TlsMaterial::MemoryFile> TlsMaterial::MemoryFile::Create(const char* name) {
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return Failed("memfd_create", errno);
  MemoryFile file(fd);
  // gRPC opens the copy by path: without /proc mounted it could not.
  struct stat info {};
  if (::stat(file.path().c_str(), &info) != 0) {
    return Failed(absl::StrCat("mTLS reads its key and certificates in force at ", file.path()),
                  errno);
  }
  return file;
}

TlsMaterial::MemoryFile::~MemoryFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string TlsMaterial::MemoryFile::path() const { return absl::StrCat("/proc/self/fd/", fd_); }

absl::StatusOr<TlsMaterial::MemoryFile> TlsMaterial::MemoryFile::Written(absl::string_view contents,
                                                                         absl::Time modified) {
  const int fd = memfd_create("hermes-tls", MFD_CLOEXEC);
  if (fd < 0) return Failed("memfd_create", errno);
  MemoryFile next(fd);
  for (size_t written = 0; written < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failed("writing the TLS material in memory", errno);
    }
    written += static_cast<size_t>(n);
  }
  const timespec times[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT},
                             {.tv_sec = absl::ToUnixSeconds(modified), .tv_nsec = 0}};
  if (::futimens(fd, times) != 0) return Failed("futimens", errno);
  return next;
}

absl::Status TlsMaterial::MemoryFile::Take(const MemoryFile& next) {
  // Under the same descriptor number: a reader that opens path() gets the old contents or the
  // new, never part of either. `next` still closes its own descriptor.
  if (::dup3(next.fd_, fd_, O_CLOEXEC) < 0) return Failed("dup3", errno);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TlsMaterial>> TlsMaterial::Start(const TlsFiles& files,
                                                                absl::Duration poll_interval,
                                                                ReloadCallback on_reload) {
  absl::StatusOr<MemoryFile> identity = MemoryFile::Create("hermes-tls-identity");
  if (!identity.ok()) return identity.status();
  absl::StatusOr<MemoryFile> ca = MemoryFile::Create("hermes-tls-ca");
  if (!ca.ok()) return ca.status();
  std::unique_ptr<TlsMaterial> material(
      new TlsMaterial(files, *std::move(identity), *std::move(ca)));
  TlsMaterial* self = material.get();
  absl::StatusOr<std::unique_ptr<config::WatchedFiles>> watched = config::WatchedFiles::Start(
      {files.ca, files.cert, files.key}, poll_interval, [self] { return self->Load(); },
      [self, on_reload = std::move(on_reload)](const absl::Status& outcome) {
        if (on_reload) on_reload(outcome, self->certificate_not_after());
      });
  if (!watched.ok()) return watched.status();
  material->watched_ = *std::move(watched);
  return material;
}

TlsMaterial::TlsMaterial(TlsFiles files, MemoryFile identity, MemoryFile ca)
    : files_(std::move(files)),
      identity_(std::move(identity)),
      ca_(std::move(ca)),
      in_force_{.ca = ca_.path(), .cert = identity_.path(), .key = identity_.path()} {}

TlsMaterial::~TlsMaterial() = default;

absl::Time TlsMaterial::certificate_not_after() const {
  absl::MutexLock lock(&mu_);
  return not_after_;
}

absl::Status TlsMaterial::Load() {
  absl::StatusOr<TlsPem> pem = ReadTlsFiles(files_);
  if (!pem.ok()) return pem.status();
  // A whole second past the last copies' (see the header), and no earlier than now.
  const absl::Time modified = std::max(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())),
                                       last_modified_ + absl::Seconds(1));
  // Both copies are written whole before either is put in force: what can fail (memory, file
  // descriptors) fails first and leaves all of the previous material in force, as the log line
  // of a rejected change says. dup3 onto descriptors of our own does not fail.
  absl::StatusOr<MemoryFile> identity =
      MemoryFile::Written(absl::StrCat(pem->key, pem->cert), modified);
  if (!identity.ok()) return identity.status();
  absl::StatusOr<MemoryFile> ca = MemoryFile::Written(pem->ca, modified);
  if (!ca.ok()) return ca.status();
  if (absl::Status status = identity_.Take(*identity); !status.ok()) return status;
  last_modified_ = modified;
  {
    absl::MutexLock lock(&mu_);
    not_after_ = pem->not_after;
  }
  return ca_.Take(*ca);
}

}  // namespace hermes::runtime
