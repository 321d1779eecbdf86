// PeriodicTask: runs a function every `interval` on its own thread until destroyed (the
// destructor wakes it and joins as soon as the run in progress ends). For housekeeping such as
// pruning an event log. A task that returns bool says whether it has more to do: true runs it
// again at once (unless the destructor is waiting), so work done in bounded runs keeps up.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>
#include <type_traits>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/storage/events_pruned.h"
#include "libs/telemetry/log.h"

namespace hermes::runtime {

class PeriodicTask {
 public:
  // `task` returns void, or bool: whether it has more to do (see the top).
  template <typename Task>
  PeriodicTask(absl::Duration interval, Task task)
      : interval_(interval), task_(AsStep(std::move(task))), thread_([this] { Run(); }) {}
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
  template <typename Task>
  static std::function<bool()> AsStep(Task task) {
    if constexpr (std::is_same_v<std::invoke_result_t<Task&>, bool>) {
      return task;
    } else {
      return [task = std::move(task)]() mutable {
        task();
        return false;
      };
    }
  }

  void Run() {
    bool more = false;
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) { return stopping_; };
        if (mutex_.AwaitWithTimeout(absl::Condition(&stopping),
                                    more ? absl::ZeroDuration() : interval_)) {
          return;
        }
      }
      more = task_();
    }
  }

  const absl::Duration interval_;
  const std::function<bool()> task_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;  // last: starts once everything above is initialised
};

// Every 10 s, `prune` (a store's PruneEvents with --event_retention); a failure is logged as a
// warning and tried again next time. A prune stops after about a second with work left
// (storage::EventLogPrune::max_duration, so that a shutdown never waits long for it); a run
// that did not complete is followed by the next at once, so a backlog is worked off.
//   const PeriodicTask pruner = EventLogPruner([&] { return store->PruneEvents(retention); });
inline PeriodicTask EventLogPruner(std::function<absl::StatusOr<storage::EventsPruned>()> prune) {
  return PeriodicTask(absl::Seconds(10), [prune = std::move(prune)] {
    absl::StatusOr<storage::EventsPruned> pruned = prune();
    if (!pruned.ok()) {
      HERMES_LOG(spdlog::level::warn, "event log pruning failed")
          .Str("error", pruned.status().message());
      return false;
    }
    return !pruned->complete;  // more to do
  });
}

}  // namespace hermes::runtime
