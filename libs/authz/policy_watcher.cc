#include "libs/authz/policy_watcher.h"

#include <sys/stat.h>

#include <utility>

namespace hermes::authz {

bool PolicyWatcher::FileVersion::operator==(const FileVersion& other) const {
  return exists == other.exists && device == other.device && inode == other.inode &&
         size == other.size && modified.tv_sec == other.modified.tv_sec &&
         modified.tv_nsec == other.modified.tv_nsec && changed.tv_sec == other.changed.tv_sec &&
         changed.tv_nsec == other.changed.tv_nsec;
}

PolicyWatcher::FileVersion PolicyWatcher::Stat(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return FileVersion{};  // gone: a change like any other
  return FileVersion{.exists = true,
                     .device = info.st_dev,
                     .inode = info.st_ino,
                     .size = info.st_size,
                     .modified = info.st_mtim,
                     .changed = info.st_ctim};
}

absl::StatusOr<std::unique_ptr<PolicyWatcher>> PolicyWatcher::Start(std::string path,
                                                                    absl::Duration poll_interval,
                                                                    ReloadCallback on_reload) {
  // Stat before loading: if the file changes in between, the next poll sees a version newer
  // than the recorded one and loads again. The other order could record the new version with
  // the old content and never reload.
  FileVersion version = Stat(path);
  absl::StatusOr<Policy> policy = Policy::LoadFile(path);
  if (!policy.ok()) return policy.status();
  std::unique_ptr<PolicyWatcher> watcher(
      new PolicyWatcher(std::move(path), poll_interval, std::move(on_reload),
                        std::make_shared<const Policy>(*std::move(policy)), version));
  watcher->thread_ = std::thread(&PolicyWatcher::Run, watcher.get());
  return watcher;
}

PolicyWatcher::PolicyWatcher(std::string path, absl::Duration poll_interval,
                             ReloadCallback on_reload, std::shared_ptr<const Policy> initial,
                             FileVersion initial_version)
    : path_(std::move(path)),
      poll_interval_(poll_interval),
      on_reload_(std::move(on_reload)),
      version_(initial_version),
      policy_(std::move(initial)) {}

PolicyWatcher::~PolicyWatcher() {
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Policy> PolicyWatcher::Current() const {
  absl::ReaderMutexLock lock(&policy_mu_);
  return policy_;
}

void PolicyWatcher::Run() {
  while (true) {
    {
      // A timed wait on the stop flag, not a sleep: the destructor wakes it at once.
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), poll_interval_)) return;
    }
    PollOnce();  // no lock held: it reads a file and runs the callback
  }
}

void PolicyWatcher::PollOnce() {
  const FileVersion version = Stat(path_);
  if (version == version_) {
    // Back to the file in force after it could not be read for a while (its directory's
    // permissions restored, say): say so, and report the next such error again.
    if (!unread_error_.empty()) {
      unread_error_.clear();
      if (on_reload_) on_reload_(path_, absl::OkStatus());
    }
    return;
  }
  absl::StatusOr<Policy> policy = Policy::LoadFile(path_);
  if (policy.ok() || absl::IsInvalidArgument(policy.status())) {
    // Read: done with until it changes, even when its policy is bad (reported once, then).
    version_ = version;
    unread_error_.clear();
  } else {
    // Not read (gone, not readable, no descriptor left): tried again at every poll, since
    // what fixes it may change nothing of the file, and reported once for each new error.
    std::string error = policy.status().ToString();
    if (error == unread_error_) return;
    unread_error_ = std::move(error);
  }
  if (policy.ok()) {
    auto replacement = std::make_shared<const Policy>(*std::move(policy));
    absl::WriterMutexLock lock(&policy_mu_);
    policy_.swap(replacement);
    // The old policy is released after the lock (by `replacement`), off the readers' path.
  }
  if (on_reload_) on_reload_(path_, policy.status());
}

}  // namespace hermes::authz
