// RecordingListener<Event>: a store's event listener for tests. It records every event it is
// given, and whether two calls ever overlapped (the stores promise one call at a time, in
// commit order).
//
//   RecordingListener<UserEvent> listener;
//   store->SetEventListener(listener.AsListener());
//   listener.set_hold(absl::Microseconds(300));   // stay in each call: overlaps would show
//   ...EXPECT_FALSE(listener.overlapped()); listener.events()...
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hermes::testing {

template <typename Event>
class RecordingListener {
 public:
  std::function<void(const Event&)> AsListener() {
    return [this](const Event& event) {
      if (in_call_.exchange(true)) overlapped_ = true;
      {
        absl::MutexLock lock(&mu_);
        events_.push_back(event);
      }
      // Staying in the call a while makes overlapping or reordered calls likely to show.
      absl::SleepFor(absl::Microseconds(hold_micros_.load()));
      in_call_ = false;
    };
  }
  std::vector<Event> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  bool overlapped() const { return overlapped_; }
  void set_hold(absl::Duration hold) { hold_micros_ = absl::ToInt64Microseconds(hold); }

 private:
  mutable absl::Mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> in_call_{false};
  std::atomic<bool> overlapped_{false};
  std::atomic<int64_t> hold_micros_{0};
};

}  // namespace hermes::testing
