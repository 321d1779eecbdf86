// DeliveryThread: one background thread that runs the work of streaming reactors that must not
// run where it arises (serializing the next event and starting its write, for a stream that a
// new event wakes; reading the store), so that publishing an event costs its publisher a queue
// push per subscriber, not a serialization and a gRPC write each.
//
// Why: EventFanout runs a subscriber's waker under the fan-out's lock, and (it once did, and
// still does without WakesOnDeliveryThread below) on the publishing writer's thread. With the
// waker pumping its reactor there, one CreateUser with 8,000 watchers ran 8,000 ToProto +
// StartWrite before returning: at 200 writes/s writes timed out (DEADLINE_EXCEEDED after 5 s),
// new watchers could not subscribe and GetUser starved (README, "Decisions and deviations").
// Posted here instead, the waker is a flag and a push, and the fan-out's own waking of its idle
// subscribers runs here too (WakesOnDeliveryThread). What runs here is the pump of a stream that
// was idle and has something again, and a pump that must read the store; a stream with more
// ready when a write completes starts the next one from gRPC's completing thread
// (StreamPump::OnWriteDone), without a hand-off to this thread per message.
//
// The thread runs at normal priority. A lower one (nice +5 or +10) was measured: it kept
// GetUser's p99 about halved under a fan-out overload, but the delivery thread then got too
// little of the core against gRPC's own completion threads to keep up with an ordinary burst
// (StreamOrderUpdates, 15,000 messages: p99 1.1-1.3 s instead of ~0.1 s). As one thread among
// the server's many, it already gets only its fair share of a contended core.
//
//   DeliveryThread delivery;                        // outlives every reactor that posts to it
//   delivery.Post([reactor] { reactor->Pump(); });  // FIFO, one at a time, off the caller
//
// The destructor runs what is still queued, then joins: a posted task may hold a reference
// that keeps its reactor alive, and must get to release it.
//
// A task must not throw: an exception that escapes one ends the process (std::terminate), on
// purpose. What runs here (a stream's Pump, the fan-out's wakes) catches what its own work
// throws; what is left is an allocation failing while a task posts the next one. Caught here,
// that would leave a stream or the fan-out's chain of wakes waiting for a task never posted:
// watchers that stall for good, with nothing in the logs. A process that dies on running out of
// memory is restarted by its supervisor, and its watchers resume by sequence.
#pragma once

#include <pthread.h>

#include <atomic>
#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace hermes::streams {

class DeliveryThread {
 public:
  DeliveryThread();
  ~DeliveryThread();
  DeliveryThread(const DeliveryThread&) = delete;
  DeliveryThread& operator=(const DeliveryThread&) = delete;

  // Queues `task`; it runs on the delivery thread after the tasks posted before it.
  void Post(std::function<void()> task);

  // Whether the caller is this delivery thread (named "hermes-delivery", for top -H and perf):
  // where work that may block, a store read, belongs.
  bool IsCurrent() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// PumpedByDeliveryThread: the part of a streaming reactor that runs its Pump() on a
// DeliveryThread. SchedulePump() posts one Pump (however often it is called before that Pump
// starts: a Pump drains what it finds); each post holds a reference, and the reactor deletes
// itself when its last reference goes: gRPC's, released with ReleaseGrpcReference() in OnDone,
// or a posted Pump's, released after it ran. So a reactor is never deleted under a posted
// task, and the task needs no check: a Pump after Finish must just do nothing.
class PumpedByDeliveryThread {
 public:
  PumpedByDeliveryThread(const PumpedByDeliveryThread&) = delete;
  PumpedByDeliveryThread& operator=(const PumpedByDeliveryThread&) = delete;

 protected:
  explicit PumpedByDeliveryThread(DeliveryThread& delivery) : delivery_(delivery) {}
  virtual ~PumpedByDeliveryThread() = default;

  virtual void Pump() = 0;
  void SchedulePump();
  // Whether this runs on the delivery thread (a posted Pump) rather than on a gRPC thread.
  bool OnDeliveryThread() const { return delivery_.IsCurrent(); }
  void ReleaseGrpcReference() { Unref(); }
  // For a task of the reactor's own posted elsewhere (a HandlerPool): a reference it holds
  // until it calls Release, so that the reactor outlives it.
  void Hold() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release() { Unref(); }

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  DeliveryThread& delivery_;
  std::atomic<int> refs_{1};  // gRPC's until OnDone, plus one per posted Pump (and Hold)
  std::atomic<bool> pump_scheduled_{false};  // a Pump is posted and has not started
};

// WakesOnDeliveryThread: while it lives, `fanout` (an EventFanout) hands the waking of its
// parked subscribers to `delivery` (EventFanout::SetWakeExecutor), so that whoever publishes
// pays nothing per subscriber; and a thread of its own ("hermes-overflow") wakes, every
// `overflow_check`, the busy subscribers that fell more than their capacity behind
// (EventFanout::WakeOverflowing), so that a stream whose client stopped reading is ended
// (StreamPump). Declare it after the DeliveryThread: it is destroyed first, and the delivery
// thread then runs a wake still posted while the fan-out is there.
template <typename Fanout>
class WakesOnDeliveryThread {
 public:
  WakesOnDeliveryThread(Fanout& fanout, DeliveryThread& delivery,
                        absl::Duration overflow_check = absl::Seconds(1))
      : fanout_(fanout), checker_([this, overflow_check] {
          pthread_setname_np(pthread_self(), "hermes-overflow");
          while (!stop_.WaitForNotificationWithTimeout(overflow_check)) {
            try {
              fanout_.WakeOverflowing();
            } catch (...) {  // a wake that could not be posted (allocation): the next round
            }
          }
        }) {
    fanout_.SetWakeExecutor(
        [&delivery](std::function<void()> task) { delivery.Post(std::move(task)); });
  }
  ~WakesOnDeliveryThread() {
    stop_.Notify();
    checker_.join();
    fanout_.SetWakeExecutor(nullptr);
  }
  WakesOnDeliveryThread(const WakesOnDeliveryThread&) = delete;
  WakesOnDeliveryThread& operator=(const WakesOnDeliveryThread&) = delete;

 private:
  Fanout& fanout_;
  absl::Notification stop_;
  std::thread checker_;
};

}  // namespace hermes::streams
