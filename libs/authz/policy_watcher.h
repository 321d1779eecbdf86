// PolicyWatcher: the current authorization policy, reloaded when an operator changes its file,
// without a restart.
//
// A thread polls the file every `poll_interval` and reloads it when its modification time,
// status-change time, size or inode changes, so an edit in place, an atomic replace (write a
// temporary file, then rename it over the policy) and a chmod are seen. A file that fails to
// load is rejected: the previous policy stays in force and `on_reload` is told the error. A
// file that was read but holds no valid policy is reported once and waits for a change; one that
// could not be read (missing, not readable) is tried again at every poll, since what fixes it may
// change nothing of the file, and reported once per distinct error (and with OK when the file in
// force is back). A good file replaces the policy atomically: a call sees the old policy or the
// new one, never a mix.
//
//   auto watcher = PolicyWatcher::Start(path, absl::Seconds(2),
//       [](const std::string& path, const absl::Status& outcome) { ...log it... });
//   if (!watcher.ok()) return watcher.status();       // the initial file must load
//   ...(*watcher)->Current()->Allows(identity, method)...  // or see authorization_processor.h
//
// Operators should replace the file atomically: an editor that truncates and rewrites can be
// caught half-way, which is rejected and then picked up on the next poll once complete.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/authz/policy.h"

namespace hermes::authz {

class PolicyWatcher {
 public:
  // Called on the watcher's thread with the outcome of a reload (see above for when): OK when
  // the file's policy is in force, the error otherwise. It must not destroy the watcher.
  using ReloadCallback = std::function<void(const std::string& path, const absl::Status& outcome)>;

  // Loads `path` and starts watching it. Fails (with Policy::LoadFile's error) if the initial
  // file cannot be loaded; that first load is not reported to `on_reload`.
  static absl::StatusOr<std::unique_ptr<PolicyWatcher>> Start(std::string path,
                                                              absl::Duration poll_interval,
                                                              ReloadCallback on_reload);

  // Stops and joins the thread; returns as soon as a reload in progress (and its callback) ends.
  ~PolicyWatcher();
  PolicyWatcher(const PolicyWatcher&) = delete;
  PolicyWatcher& operator=(const PolicyWatcher&) = delete;

  // The policy in force. Safe from any thread, cheap enough for every call; never null.
  std::shared_ptr<const Policy> Current() const;

 private:
  // What identifies one version of the file. Sizes and times alone miss a rename of an
  // equal-sized file written within the same timestamp tick; the inode catches that. The
  // status-change time catches a chmod (a file that could not be read before) and a rewrite
  // whose modification time was set back.
  struct FileVersion {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified = {};
    timespec changed = {};

    bool operator==(const FileVersion& other) const;
  };

  PolicyWatcher(std::string path, absl::Duration poll_interval, ReloadCallback on_reload,
                std::shared_ptr<const Policy> initial, FileVersion initial_version);

  static FileVersion Stat(const std::string& path);
  void Run();
  void PollOnce();

  const std::string path_;
  const absl::Duration poll_interval_;
  const ReloadCallback on_reload_;
  FileVersion version_;       // only the watcher thread touches it after Start
  std::string unread_error_;  // the last error reading a file not yet read (watcher thread)

  // Current() sits on every call's hot path and the policy changes perhaps once a day. A reader
  // lock held only to copy a shared_ptr lets readers run in parallel and makes a reload a plain
  // swap; unlike std::atomic<std::shared_ptr> (a hidden spin lock in libstdc++ 12) absl::Mutex
  // is understood by ThreadSanitizer and by the thread-safety annotations.
  mutable absl::Mutex policy_mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(policy_mu_);

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace hermes::authz
