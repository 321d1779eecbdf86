// EventFanout: committed events, pushed to every live subscriber through a bounded queue.
//
// The store calls Publish() after each commit, in commit order. Each subscriber (a
// WatchUsers or StreamOrderUpdates stream) drains its own queue at its own pace. Publish
// never waits on a subscriber: when a queue is full, that subscriber is marked overflowed and
// its stream ends (RESOURCE_EXHAUSTED; the client resumes by sequence from the durable log), so
// one slow reader never slows writers or other readers. Events are shared, not copied, between
// subscribers.
//
//   auto subscription = fanout.Subscribe(/*capacity=*/1024);
//   std::shared_ptr<const Event> event;
//   switch (subscription.Pop(absl::Seconds(1), &event)) { ... }      // a thread per subscriber
//
// or, with no thread waiting (gRPC's callback API), a waker that runs after each event
// queued for this subscriber and when the fan-out closes, and TryPop from wherever it leads:
//
//   auto subscription = fanout.Subscribe(1024, [reactor] { reactor->Pump(); });
//   switch (subscription.TryPop(&event)) { ... }                     // kTimeout: nothing yet
//
// The fanout is memory only: what was committed before a subscription existed is read from
// the store's event log (see services/*/..._service.cc for the replay-then-follow logic).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hermes::streams {

template <typename Event>
class EventFanout {
 public:
  enum class Next { kEvent, kTimeout, kOverflow, kClosed };

  class Subscription {
   public:
    explicit Subscription(size_t capacity, std::function<void()> waker = nullptr)
        : capacity_(capacity), waker_(std::move(waker)) {}

    // Waits up to `timeout` for the next event. kOverflow and kClosed are final.
    Next Pop(absl::Duration timeout, std::shared_ptr<const Event>* event) {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
        return !queue_.empty() || overflowed_ || closed_;
      };
      mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
      if (overflowed_) return Next::kOverflow;
      if (!queue_.empty()) {
        *event = std::move(queue_.front());
        queue_.pop_front();
        return Next::kEvent;
      }
      return closed_ ? Next::kClosed : Next::kTimeout;
    }

    // Pop without waiting: kTimeout when nothing is queued yet.
    Next TryPop(std::shared_ptr<const Event>* event) { return Pop(absl::ZeroDuration(), event); }

   private:
    friend class EventFanout;
    // A full queue overflows: the subscription is over, its memory freed at once.
    void Push(const std::shared_ptr<const Event>& event) {
      {
        absl::MutexLock lock(&mutex_);
        if (overflowed_ || closed_) return;
        if (queue_.size() >= capacity_) {
          overflowed_ = true;
          queue_.clear();
        } else {
          queue_.push_back(event);
        }
      }
      if (waker_) waker_();
    }
    void Close() {
      {
        absl::MutexLock lock(&mutex_);
        closed_ = true;
      }
      if (waker_) waker_();
    }

    const size_t capacity_;
    // Runs outside mutex_, so it may TryPop at once. Under the fan-out's lock when publishing,
    // which keeps the subscriber (and whatever the waker points to) from being unsubscribed
    // and destroyed while it runs.
    const std::function<void()> waker_;
    absl::Mutex mutex_;
    std::deque<std::shared_ptr<const Event>> queue_ ABSL_GUARDED_BY(mutex_);
    bool overflowed_ ABSL_GUARDED_BY(mutex_) = false;
    bool closed_ ABSL_GUARDED_BY(mutex_) = false;
  };

  // A handle that unsubscribes when destroyed.
  class Handle {
   public:
    Handle(EventFanout* fanout, std::shared_ptr<Subscription> subscription)
        : fanout_(fanout), subscription_(std::move(subscription)) {}
    ~Handle() {
      if (fanout_ != nullptr) fanout_->Unsubscribe(subscription_.get());
    }
    Handle(Handle&& other) noexcept
        : fanout_(std::exchange(other.fanout_, nullptr)),
          subscription_(std::move(other.subscription_)) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle& operator=(Handle&&) = delete;

    Next Pop(absl::Duration timeout, std::shared_ptr<const Event>* event) {
      return subscription_->Pop(timeout, event);
    }
    Next TryPop(std::shared_ptr<const Event>* event) { return subscription_->TryPop(event); }

    // Queues an item for this subscriber only, in order with the published ones (a stream's
    // own replies, such as a current status, travel the same FIFO as the live events).
    void Inject(Event event) {
      subscription_->Push(std::make_shared<const Event>(std::move(event)));
    }

   private:
    EventFanout* fanout_;
    std::shared_ptr<Subscription> subscription_;
  };

  // Every event published after this returns is delivered (or the subscription overflows).
  // After Close(), a new subscription is closed at once. `waker` (optional): see the top.
  Handle Subscribe(size_t capacity, std::function<void()> waker = nullptr) {
    auto subscription = std::make_shared<Subscription>(capacity, std::move(waker));
    absl::MutexLock lock(&mutex_);
    if (closed_) {
      subscription->Close();
    } else {
      subscribers_.push_back(subscription);
    }
    return Handle(this, std::move(subscription));
  }

  void Publish(Event event) {
    auto shared = std::make_shared<const Event>(std::move(event));
    absl::MutexLock lock(&mutex_);
    for (const auto& subscriber : subscribers_) subscriber->Push(shared);
  }

  // Ends every subscription (kClosed once its queue is drained) and refuses new ones.
  void Close() {
    absl::MutexLock lock(&mutex_);
    closed_ = true;
    for (const auto& subscriber : subscribers_) subscriber->Close();
  }

  size_t subscribers() const {
    absl::MutexLock lock(&mutex_);
    return subscribers_.size();
  }

 private:
  void Unsubscribe(Subscription* subscription) {
    absl::MutexLock lock(&mutex_);
    subscribers_.remove_if([subscription](const auto& s) { return s.get() == subscription; });
  }

  mutable absl::Mutex mutex_;
  std::list<std::shared_ptr<Subscription>> subscribers_ ABSL_GUARDED_BY(mutex_);
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace hermes::streams
