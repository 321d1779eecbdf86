// EventFanout: committed events, shared by every live subscriber through one bounded log.
//
// The store calls Publish() after each commit, in commit order. Each subscriber (a
// WatchUsers or StreamOrderUpdates stream) reads the fan-out's log at its own pace, from its
// own position. Publish never waits on a subscriber and costs the same with ten subscribers or
// ten thousand: it stores the event once, in a ring that keeps the newest `capacity` events
// (the largest capacity any subscriber asked for), and moves nothing per subscriber. A
// subscriber that falls more than its capacity behind is overflowed and its stream ends
// (RESOURCE_EXHAUSTED; the client resumes by sequence from the durable log), so one slow
// reader never slows writers or other readers. A subscriber costs a position, not a queue.
//
//   auto subscription = fanout.Subscribe(/*capacity=*/1024);
//   std::shared_ptr<const Event> event;
//   switch (subscription.Pop(absl::Seconds(1), &event)) { ... }      // a thread per subscriber
//
// or, with no thread waiting (gRPC's callback API), a waker, and TryPop from wherever the
// waker leads:
//
//   auto subscription = fanout.Subscribe(1024, [reactor] { reactor->SchedulePump(); });
//   switch (subscription.TryPop(&event)) { ... }                     // kTimeout: nothing yet
//
// The waker runs once something arrives for a subscriber whose last TryPop found nothing (it
// is "parked"), and when the fan-out closes; a subscriber that is busy writing finds the next
// events itself on its next TryPop. It runs under the fan-out's lock, which keeps the
// subscriber (and whatever the waker points to) from being unsubscribed and destroyed while it
// runs: so it must not call back into the fan-out, only schedule the work (post it).
//
// Waking the parked subscribers is the one part of publishing that grows with their number.
// With an executor set (SetWakeExecutor: the service's delivery thread), Publish hands it a
// chain of tasks that wakes them all (256 a task, so a Publish never waits behind all of
// them), and the publisher — a writer whose client waits — returns at once; without one,
// Publish wakes them itself. A reactor looking ahead while its write is in flight uses
// TryPopWhileBusy, which does not park: the write's completion pumps it anyway.
//
// Why a shared log: with a queue per subscriber, Publish locked and pushed into every one, on
// the committing writer's thread. At 10,000 watchers that was about half of a core at 200
// writes/s, and most writes hit their deadline (tests/bench/HISTORY.md).
//
// The fanout is memory only: what was committed before a subscription existed is read from
// the store's event log (see services/*/..._service.cc for the replay-then-follow logic).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hermes::streams {

template <typename Event>
class EventFanout {
 private:
  struct Subscriber;

 public:
  enum class Next { kEvent, kTimeout, kOverflow, kClosed };
  // Runs a task on another thread, later; tasks run in the order given.
  using Executor = std::function<void(std::function<void()>)>;

  // A subscription; unsubscribes when destroyed.
  class Handle {
   public:
    Handle(Handle&& other) noexcept
        : fanout_(std::exchange(other.fanout_, nullptr)),
          subscriber_(std::move(other.subscriber_)) {}
    ~Handle() {
      if (fanout_ != nullptr) fanout_->Unsubscribe(subscriber_.get());
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle& operator=(Handle&&) = delete;

    // Waits up to `timeout` for the next event. kOverflow and kClosed are final.
    Next Pop(absl::Duration timeout, std::shared_ptr<const Event>* event) {
      return fanout_->Pop(*subscriber_, timeout, event);
    }
    // Pop without waiting: kTimeout when nothing is there yet (the subscriber is then parked:
    // its waker runs when something arrives).
    Next TryPop(std::shared_ptr<const Event>* event) {
      return fanout_->TryPop(*subscriber_, event, /*park=*/true);
    }
    // TryPop for a subscriber that will TryPop again anyway (a reactor looking ahead while its
    // write is in flight: the write's completion pumps it): kTimeout does not park it, so an
    // event arriving meanwhile does not wake it for nothing.
    Next TryPopWhileBusy(std::shared_ptr<const Event>* event) {
      return fanout_->TryPop(*subscriber_, event, /*park=*/false);
    }
    // Queues an item for this subscriber only, in order with the published ones (a stream's
    // own replies, such as a current status, travel the same FIFO as the live events): it
    // comes after every event published before this call. It counts against the capacity: an
    // item that would exceed it overflows the subscriber at once (even one that is not reading,
    // its write held up by a client that does not read), so a client sending requests it never
    // reads the replies to cannot grow the queue. False when the item was dropped: the
    // subscriber is overflowed or the fan-out closed (its next TryPop says which); a stream may
    // then stop reading requests.
    bool Inject(Event event) { return fanout_->Inject(*subscriber_, std::move(event)); }

    // Whether events published before this call are still to be read by this subscriber (items
    // it injected aside): a stream that lags behind the fan-out.
    bool Behind() const { return fanout_->Behind(*subscriber_); }

    // Whether this subscriber is more than its capacity behind (or was: its next TryPop says
    // kOverflow).
    bool Overflowed() const { return fanout_->Overflowed(*subscriber_); }

    // Whether the fan-out was closed (a stream that is not reading it, e.g. one replaying from
    // the store, ends too).
    bool Closed() const { return fanout_->closed(); }

   private:
    friend class EventFanout;
    Handle(EventFanout* fanout, std::unique_ptr<Subscriber> subscriber)
        : fanout_(fanout), subscriber_(std::move(subscriber)) {}

    EventFanout* fanout_;
    std::unique_ptr<Subscriber> subscriber_;
  };

  EventFanout() = default;
  EventFanout(const EventFanout&) = delete;
  EventFanout& operator=(const EventFanout&) = delete;

  // Every event published after this returns is delivered (or the subscription overflows,
  // once more than `capacity` events and injected items wait for it). After Close(), a new
  // subscription is closed at once. `waker` (optional): see the top.
  Handle Subscribe(size_t capacity, std::function<void()> waker = nullptr) {
    auto subscriber = std::make_unique<Subscriber>(capacity, std::move(waker));
    const size_t ring_size = std::max<size_t>(capacity, 1);  // a capacity of 0 still overflows
    absl::MutexLock lock(&mutex_);
    if (ring_size > ring_.size()) GrowRing(ring_size);
    subscriber->next = published_;
    subscriber->index = subscribers_.size();
    subscribers_.push_back(subscriber.get());
    return Handle(this, std::move(subscriber));
  }

  // Where Publish hands the waking of parked subscribers (see the top); nullptr: Publish wakes
  // them itself. Whoever sets an executor sets nullptr before the executor goes, and lets the
  // tasks already given to it run. The executor is called under the fan-out's lock: it must
  // only queue the task (never run it, never wait).
  void SetWakeExecutor(Executor executor) {
    absl::MutexLock lock(&mutex_);
    executor_ = std::move(executor);
    wake_posted_ = false;  // a task still with the old executor goes on through this one
  }

  void Publish(Event event) {
    auto shared = std::make_shared<const Event>(std::move(event));
    std::shared_ptr<const Event> evicted;  // freed after the lock is released
    absl::MutexLock lock(&mutex_);
    if (closed_) return;
    if (ring_.empty()) return;  // nobody ever subscribed; nobody can see this event
    evicted = std::exchange(ring_[published_ % ring_.size()], std::move(shared));
    ++published_;
    if (parked_.empty()) return;
    if (!executor_) {
      WakeParked(parked_.size());
    } else if (!wake_posted_) {
      // Marked posted only once it is: an executor that throws (no memory to queue the task)
      // fails this Publish, and the next one posts again instead of leaving every parked
      // subscriber asleep for good. The event stays in the ring for them.
      executor_([this] { WakeParkedInChunks(); });
      wake_posted_ = true;
    }
  }

  // Wakes every subscriber that is busy (not parked: a stream with a write in flight) and more
  // than its capacity behind. Nothing else would: a busy subscriber learns of its overflow from
  // its next TryPop, which comes when its write completes, and a client that stopped reading
  // holds that write up for good (HTTP/2 flow control). Its waker lets the stream see that
  // (StreamPump cancels it). O(subscribers): for a periodic check (WakesOnDeliveryThread).
  void WakeOverflowing() {
    absl::MutexLock lock(&mutex_);
    for (Subscriber* subscriber : subscribers_) {
      if (subscriber->waker && subscriber->parked_at == kNotParked && IsOver(*subscriber)) {
        subscriber->waker();
      }
    }
  }

  // Ends every subscription at its next read (kClosed; what it has not read yet is dropped: a
  // stream resumes by sequence, or subscribes again, elsewhere) and refuses new ones. Events
  // published from now on are dropped. A shutdown ends its streams this way, each at once
  // rather than after a backlog that a slow client may take the whole grace period to read.
  void Close() {
    absl::MutexLock lock(&mutex_);
    closed_ = true;
    for (Subscriber* subscriber : parked_) subscriber->parked_at = kNotParked;
    parked_.clear();
    chain_end_ = 0;
    for (Subscriber* subscriber : subscribers_) {
      if (subscriber->waker) subscriber->waker();
    }
  }

  bool closed() const {
    absl::MutexLock lock(&mutex_);
    return closed_;
  }

  size_t subscribers() const {
    absl::MutexLock lock(&mutex_);
    return subscribers_.size();
  }

 private:
  static constexpr size_t kNotParked = SIZE_MAX;
  static constexpr size_t kWakeChunk = 256;

  struct Subscriber {
    Subscriber(size_t max_waiting, std::function<void()> wake)
        : capacity(max_waiting), waker(std::move(wake)) {}

    const size_t capacity;
    const std::function<void()> waker;
    // The rest is guarded by the fan-out's mutex_.
    uint64_t next = 0;  // position in the log of the next published event to hand out
    // Items for this subscriber only, each with the log position it goes before.
    std::vector<std::pair<uint64_t, std::shared_ptr<const Event>>> injected;
    bool overflowed = false;
    size_t index = 0;               // in subscribers_
    size_t parked_at = kNotParked;  // in parked_, where subscribers whose TryPop found nothing wait
  };

  Next Pop(Subscriber& subscriber, absl::Duration timeout, std::shared_ptr<const Event>* event) {
    absl::MutexLock lock(&mutex_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return subscriber.next < published_ || !subscriber.injected.empty() || closed_ ||
             subscriber.overflowed;
    };
    mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return Take(subscriber, event);
  }

  Next TryPop(Subscriber& subscriber, std::shared_ptr<const Event>* event, bool park) {
    absl::MutexLock lock(&mutex_);
    Next next = Take(subscriber, event);
    const bool parked = subscriber.parked_at != kNotParked;
    if (next == Next::kTimeout && park && subscriber.waker && !parked) {
      parked_.push_back(&subscriber);  // first: if it throws, the subscriber is not parked
      subscriber.parked_at = parked_.size() - 1;
    } else if (next != Next::kTimeout && parked) {
      Unpark(subscriber);  // it is reading: no wake needed
    }
    return next;
  }

  Next Take(Subscriber& subscriber, std::shared_ptr<const Event>* event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!subscriber.overflowed && IsOver(subscriber)) {
      subscriber.overflowed = true;  // its events may be gone from the ring already
      subscriber.injected = {};
    }
    if (subscriber.overflowed) return Next::kOverflow;
    if (closed_) return Next::kClosed;
    if (!subscriber.injected.empty() && subscriber.injected.front().first <= subscriber.next) {
      *event = std::move(subscriber.injected.front().second);
      subscriber.injected.erase(subscriber.injected.begin());
      return Next::kEvent;
    }
    if (subscriber.next < published_) {
      *event = ring_[subscriber.next++ % ring_.size()];
      return Next::kEvent;
    }
    return Next::kTimeout;
  }

  bool Behind(const Subscriber& subscriber) const {
    absl::MutexLock lock(&mutex_);
    return subscriber.next < published_;
  }

  bool Overflowed(const Subscriber& subscriber) const {
    absl::MutexLock lock(&mutex_);
    return IsOver(subscriber);
  }

  bool IsOver(const Subscriber& subscriber) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return subscriber.overflowed ||
           published_ - subscriber.next + subscriber.injected.size() > subscriber.capacity;
  }

  bool Inject(Subscriber& subscriber, Event item) {
    auto shared = std::make_shared<const Event>(std::move(item));
    std::vector<std::pair<uint64_t, std::shared_ptr<const Event>>> dropped;  // freed unlocked
    absl::MutexLock lock(&mutex_);
    if (closed_ || subscriber.overflowed) return false;
    const uint64_t waiting = published_ - subscriber.next + subscriber.injected.size();
    const bool queued = waiting < subscriber.capacity;
    if (queued) {
      subscriber.injected.emplace_back(published_, std::move(shared));
    } else {
      subscriber.overflowed = true;  // Take reports it
      dropped.swap(subscriber.injected);
    }
    if (subscriber.parked_at != kNotParked) {
      Unpark(subscriber);
      subscriber.waker();
    }
    return queued;
  }

  // The executor's task: a chain of them wakes the subscribers parked when the chain began,
  // kWakeChunk a task, so that a Publish (a writer whose client waits) never waits behind ten
  // thousand wakers, and the pumps the first wakes posted run before the next chunk. Those
  // are parked_[0, chain_end_): parking appends after them, and the swap-removals keep every
  // one of them in that range (Unpark), so neither a subscriber parking meanwhile (having read
  // everything) nor one woken earlier and parked again can take the place of one that still
  // has an unread event. When the range is done, a new chain starts if events were published
  // during this one (a Publish posts no task while a chain runs), over whoever is parked then.
  void WakeParkedInChunks() ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    if (!chain_running_) {
      chain_running_ = true;
      chain_end_ = parked_.size();
      chain_published_ = published_;
    }
    if (!executor_) {  // the executor is going: whatever is left is woken here
      WakeParked(parked_.size());
      chain_running_ = false;
      wake_posted_ = false;
      return;
    }
    for (size_t woken = 0; woken < kWakeChunk && chain_end_ > 0; ++woken) {
      Subscriber* subscriber = parked_[--chain_end_];
      Unpark(*subscriber);  // the last parked takes its place, now outside the range
      subscriber->waker();
    }
    if (chain_end_ == 0) {
      chain_running_ = false;
      if (published_ == chain_published_ || parked_.empty()) {
        wake_posted_ = false;  // parked from now on: the next Publish posts again
        return;
      }
    }
    executor_([this] { WakeParkedInChunks(); });
  }

  // Wakes the `count` most recently parked subscribers (wakers do not park: see the top).
  void WakeParked(size_t count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    for (; count > 0; --count) {
      Subscriber* subscriber = parked_.back();
      parked_.pop_back();
      subscriber->parked_at = kNotParked;
      subscriber->waker();
    }
    chain_end_ = std::min(chain_end_, parked_.size());
  }

  void Unsubscribe(Subscriber* subscriber) {
    absl::MutexLock lock(&mutex_);
    SwapRemove(subscribers_, &Subscriber::index, *subscriber);
    if (subscriber->parked_at != kNotParked) Unpark(*subscriber);
  }

  // The last parked subscriber takes `subscriber`'s place. If that place is inside a wake
  // chain's range and the last one was parked after the chain began, it is woken for nothing;
  // when the last one is inside the range itself (nothing parked since), the range shrinks.
  void Unpark(Subscriber& subscriber) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    SwapRemove(parked_, &Subscriber::parked_at, subscriber);
    subscriber.parked_at = kNotParked;
    chain_end_ = std::min(chain_end_, parked_.size());
  }

  // Removes `subscriber` from `list` in O(1): the last entry takes its place, and its own index
  // into `list` (the member `at`) follows.
  static void SwapRemove(std::vector<Subscriber*>& list, size_t Subscriber::*at,
                         Subscriber& subscriber) {
    Subscriber* last = list.back();
    last->*at = subscriber.*at;
    list[subscriber.*at] = last;
    list.pop_back();
  }

  // Keeps the newest events at their positions in a ring of `size`.
  void GrowRing(size_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    std::vector<std::shared_ptr<const Event>> ring(size);
    const uint64_t kept = std::min<uint64_t>(published_, ring_.size());
    for (uint64_t position = published_ - kept; position < published_; ++position) {
      ring[position % size] = std::move(ring_[position % ring_.size()]);
    }
    ring_.swap(ring);
  }

  mutable absl::Mutex mutex_;
  std::vector<std::shared_ptr<const Event>> ring_ ABSL_GUARDED_BY(mutex_);
  uint64_t published_ ABSL_GUARDED_BY(mutex_) = 0;  // events ever published; the next position
  std::vector<Subscriber*> subscribers_ ABSL_GUARDED_BY(mutex_);
  std::vector<Subscriber*> parked_ ABSL_GUARDED_BY(mutex_);
  Executor executor_ ABSL_GUARDED_BY(mutex_);
  bool wake_posted_ ABSL_GUARDED_BY(mutex_) = false;
  // The wake chain under way (WakeParkedInChunks): parked_[0, chain_end_) is left to wake, and
  // published_ was chain_published_ when it began.
  bool chain_running_ ABSL_GUARDED_BY(mutex_) = false;
  size_t chain_end_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t chain_published_ ABSL_GUARDED_BY(mutex_) = 0;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace hermes::streams
