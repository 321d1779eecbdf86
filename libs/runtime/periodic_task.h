// PeriodicTask: runs a function every `interval` on its own thread until destroyed (the
// destructor wakes it and joins promptly). For housekeeping such as pruning an event log.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/telemetry/log.h"

namespace hermes::runtime {

class PeriodicTask {
 public:
  PeriodicTask(absl::Duration interval, std::function<void()> task)
      : interval_(interval), task_(std::move(task)), thread_([this] { Run(); }) {}
  ~PeriodicTask() {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    thread_.join();
  }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  void Run() {
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) { return stopping_; };
        if (mutex_.AwaitWithTimeout(absl::Condition(&stopping), interval_)) return;
      }
      task_();
    }
  }

  const absl::Duration interval_;
  const std::function<void()> task_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;  // last: starts once everything above is initialised
};

// Every 10 s, `prune` (a store's PruneEvents with --event_retention); a failure is logged as a
// warning and tried again next time.
//   const PeriodicTask pruner = EventLogPruner([&] { return store->PruneEvents(retention); });
inline PeriodicTask EventLogPruner(std::function<absl::StatusOr<int64_t>()> prune) {
  return PeriodicTask(absl::Seconds(10), [prune = std::move(prune)] {
    if (absl::StatusOr<int64_t> pruned = prune(); !pruned.ok()) {
      HERMES_LOG(spdlog::level::warn, "event log pruning failed")
          .Str("error", pruned.status().message());
    }
  });
}

}  // namespace hermes::runtime
