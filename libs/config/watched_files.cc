#include "libs/config/watched_files.h"

#include <sys/stat.h>

#include <utility>

namespace hermes::config {

bool WatchedFiles::FileVersion::operator==(const FileVersion& other) const {
  return exists == other.exists && device == other.device && inode == other.inode &&
         size == other.size && modified.tv_sec == other.modified.tv_sec &&
         modified.tv_nsec == other.modified.tv_nsec && changed.tv_sec == other.changed.tv_sec &&
         changed.tv_nsec == other.changed.tv_nsec;
}

WatchedFiles::FileVersion WatchedFiles::Stat(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return FileVersion{};  // gone: a change like any other
  return FileVersion{.exists = true,
                     .device = info.st_dev,
                     .inode = info.st_ino,
                     .size = info.st_size,
                     .modified = info.st_mtim,
                     .changed = info.st_ctim};
}

absl::StatusOr<std::unique_ptr<WatchedFiles>> WatchedFiles::Start(std::vector<std::string> paths,
                                                                  absl::Duration poll_interval,
                                                                  Reload reload,
                                                                  ReloadCallback on_reload) {
  std::unique_ptr<WatchedFiles> watched(new WatchedFiles(
      std::move(paths), poll_interval, std::move(reload), std::move(on_reload), {}));
  // Stat before loading: if a file changes in between, the next poll sees a version newer than
  // the recorded one and loads again. The other order could record the new version with the old
  // content and never reload.
  watched->versions_ = watched->StatAll();
  if (absl::Status loaded = watched->reload_(); !loaded.ok()) return loaded;
  watched->thread_ = std::thread(&WatchedFiles::Run, watched.get());
  return watched;
}

WatchedFiles::WatchedFiles(std::vector<std::string> paths, absl::Duration poll_interval,
                           Reload reload, ReloadCallback on_reload,
                           std::vector<FileVersion> versions)
    : paths_(std::move(paths)),
      poll_interval_(poll_interval),
      reload_(std::move(reload)),
      on_reload_(std::move(on_reload)),
      versions_(std::move(versions)) {}

WatchedFiles::~WatchedFiles() {
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<WatchedFiles::FileVersion> WatchedFiles::StatAll() const {
  std::vector<FileVersion> versions;
  versions.reserve(paths_.size());
  for (const std::string& path : paths_) versions.push_back(Stat(path));
  return versions;
}

void WatchedFiles::Run() {
  while (true) {
    {
      // A timed wait on the stop flag, not a sleep: the destructor wakes it at once.
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), poll_interval_)) return;
    }
    PollOnce();  // no lock held: it reads files and runs the callback
    polls_.fetch_add(1, std::memory_order_release);
  }
}

void WatchedFiles::PollOnce() {
  std::vector<FileVersion> versions = StatAll();
  if (versions == versions_) {
    // Back to the files last read after they could not be read for a while (a directory's
    // permissions restored, say): say again what reading them came to (in force, or rejected:
    // never "reloaded" for files that were not taken), and report the next such error again.
    if (!unread_error_.empty()) {
      unread_error_.clear();
      if (on_reload_) on_reload_(read_outcome_);
    }
    return;
  }
  const absl::Status outcome = reload_();
  if (outcome.ok() || absl::IsInvalidArgument(outcome)) {
    // Read: done with until they change, even when what they hold is bad (reported once, then).
    versions_ = std::move(versions);
    read_outcome_ = outcome;
    unread_error_.clear();
  } else {
    // Not read: tried again at every poll, reported once for each new error.
    std::string error = outcome.ToString();
    if (error == unread_error_) return;
    unread_error_ = std::move(error);
  }
  if (on_reload_) on_reload_(outcome);
}

}  // namespace hermes::config
