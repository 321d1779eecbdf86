// PolicyWatcher: the current authorization policy, reloaded when an operator changes its file,
// without a restart.
//
// The file is watched by config::WatchedFiles (every `poll_interval`; an edit in place, an
// atomic replace and a chmod are all seen). A file that fails to load is rejected: the previous
// policy stays in force and `on_reload` is told the error, once per change of the file (a file
// that could not be read is tried again at every poll and reported once per distinct error, and
// with OK when the file in force is back). A good file replaces the policy atomically: a call
// sees the old policy or the new one, never a mix.
//
//   auto watcher = PolicyWatcher::Start(path, absl::Seconds(2),
//       [](const std::string& path, const absl::Status& outcome) { ...log it... });
//   if (!watcher.ok()) return watcher.status();       // the initial file must load
//   ...(*watcher)->Current()->Allows(identity, method)...  // or see authorization_processor.h
//
// Operators should replace the file atomically: an editor that truncates and rewrites can be
// caught half-way, which is rejected and then picked up on the next poll once complete.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/authz/policy.h"
#include "libs/config/watched_files.h"

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
  explicit PolicyWatcher(std::string path) : path_(std::move(path)) {}

  // The reload WatchedFiles runs: Policy::LoadFile's outcome (InvalidArgument for a file read
  // that holds no valid policy), with the policy swapped in when it is OK.
  absl::Status Load();

  const std::string path_;

  // Current() sits on every call's hot path and the policy changes perhaps once a day. A reader
  // lock held only to copy a shared_ptr lets readers run in parallel and makes a reload a plain
  // swap; unlike std::atomic<std::shared_ptr> (a hidden spin lock in libstdc++ 12) absl::Mutex
  // is understood by ThreadSanitizer and by the thread-safety annotations.
  mutable absl::Mutex policy_mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(policy_mu_);

  std::unique_ptr<config::WatchedFiles> file_;  // last: its thread stops before the rest goes
};

}  // namespace hermes::authz
