#include "libs/authz/policy_watcher.h"

#include <utility>

namespace hermes::authz {

absl::StatusOr<std::unique_ptr<PolicyWatcher>> PolicyWatcher::Start(std::string path,
                                                                    absl::Duration poll_interval,
                                                                    ReloadCallback on_reload) {
  std::unique_ptr<PolicyWatcher> watcher(new PolicyWatcher(std::move(path)));
  PolicyWatcher* self = watcher.get();
  absl::StatusOr<std::unique_ptr<config::WatchedFiles>> file = config::WatchedFiles::Start(
      {self->path_}, poll_interval, [self] { return self->Load(); },
      [self, on_reload = std::move(on_reload)](const absl::Status& outcome) {
        if (on_reload) on_reload(self->path_, outcome);
      });
  if (!file.ok()) return file.status();
  watcher->file_ = *std::move(file);
  return watcher;
}

PolicyWatcher::~PolicyWatcher() = default;

std::shared_ptr<const Policy> PolicyWatcher::Current() const {
  absl::ReaderMutexLock lock(&policy_mu_);
  return policy_;
}

absl::Status PolicyWatcher::Load() {
  absl::StatusOr<Policy> policy = Policy::LoadFile(path_);
  if (!policy.ok()) return policy.status();
  auto replacement = std::make_shared<const Policy>(*std::move(policy));
  absl::WriterMutexLock lock(&policy_mu_);
  policy_.swap(replacement);
  // The old policy is released after the lock (by `replacement`), off the readers' path.
  return absl::OkStatus();
}

}  // namespace hermes::authz
