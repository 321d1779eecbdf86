// WatchedFiles: something built from files an operator edits (the authorization policy, the TLS
// key, certificate and CA), rebuilt while the service runs when any of them changes.
//
// A thread polls the files every `poll_interval` and calls `reload` when the version of any of
// them changes: modification time, status-change time, size or inode, so an edit in place, an
// atomic replace (write a temporary file, rename it over) and a chmod are all seen. `reload`
// reads the files and puts what they hold in force, or leaves what was in force; what it returns
// decides what happens next:
//   OK                in force; reported.
//   InvalidArgument   read, but not valid: reported once, then nothing until the files change.
//   any other error   a file could not be read (missing, not readable, no descriptor left): tried
//                     again at every poll, since what fixes it may change nothing of the files
//                     (a parent directory's permissions), and reported once per distinct error;
//                     when the files last read can be read again unchanged, what reading them
//                     came to is reported again (OK, or their InvalidArgument: never an OK for
//                     files that were rejected).
//
//   auto watched = WatchedFiles::Start({path}, absl::Seconds(2),
//       [&] { return LoadAndSwap(path); },                   // see above for what to return
//       [](const absl::Status& outcome) { ...log it, count it... });
//   if (!watched.ok()) return watched.status();             // the files as they are must load
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hermes::config {

class WatchedFiles {
 public:
  using Reload = std::function<absl::Status()>;
  // Called on the watcher's thread with the outcome of a reload (see above for when). It must
  // not destroy the WatchedFiles.
  using ReloadCallback = std::function<void(const absl::Status& outcome)>;

  // Calls `reload` for the files as they are now, and fails with its error unless it returns OK
  // (that first outcome is not reported); then starts watching `paths`.
  static absl::StatusOr<std::unique_ptr<WatchedFiles>> Start(std::vector<std::string> paths,
                                                             absl::Duration poll_interval,
                                                             Reload reload,
                                                             ReloadCallback on_reload);

  // Stops and joins the thread; returns as soon as a reload in progress (and its callback) ends.
  ~WatchedFiles();
  WatchedFiles(const WatchedFiles&) = delete;
  WatchedFiles& operator=(const WatchedFiles&) = delete;

  // Polls done so far (each a look at the files, whatever it found): for tests that check what
  // polls do not do, after enough of them.
  int64_t polls() const { return polls_.load(std::memory_order_acquire); }

  // What identifies one version of a file. Sizes and times alone miss a rename of an equal-sized
  // file written within the same timestamp tick; the inode catches that. The status-change time
  // catches a chmod (a file that could not be read before) and a rewrite whose modification time
  // was set back. A missing file is a version too.
  struct FileVersion {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified = {};
    timespec changed = {};

    bool operator==(const FileVersion& other) const;
  };
  static FileVersion Stat(const std::string& path);  // follows symbolic links

 private:
  WatchedFiles(std::vector<std::string> paths, absl::Duration poll_interval, Reload reload,
               ReloadCallback on_reload, std::vector<FileVersion> versions);

  std::vector<FileVersion> StatAll() const;
  void Run();
  void PollOnce();

  const std::vector<std::string> paths_;
  const absl::Duration poll_interval_;
  const Reload reload_;
  const ReloadCallback on_reload_;
  std::vector<FileVersion> versions_;  // only the watcher thread touches it after Start
  std::string unread_error_;           // the last error reading files not yet read (same)
  // What reading versions_ came to: OK (in force) or the InvalidArgument that rejected them.
  absl::Status read_outcome_;  // (same)

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::atomic<int64_t> polls_{0};

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace hermes::config
