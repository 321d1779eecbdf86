// CommitNotifier: tells a listener about committed events in commit order, one call at a time,
// with no store lock held — what both services' stores promise their EventListener.
//
// Under its write lock, right after a commit, a store takes a ticket (tickets are therefore
// in commit order and only commits take one, so none is ever skipped); after releasing the
// lock it calls Deliver(ticket, event), which waits for the previous ticket's call to finish
// before making its own. A slow listener delays the writers' returns (and, where the commit
// thread delivers, the next batch), never readers. The listener must not write to the store (it
// would wait for itself).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace hermes::storage {

template <typename Event>
class CommitNotifier {
 public:
  using Listener = std::function<void(const Event&)>;

  void SetListener(Listener listener) {
    std::shared_ptr<const Listener> shared;
    if (listener) shared = std::make_shared<const Listener>(std::move(listener));
    absl::MutexLock lock(&mutex_);
    listener_ = std::move(shared);
  }

  // Call under the store's write lock, right after a successful commit.
  int64_t TakeTicket() { return next_ticket_++; }

  // Calls the listener with `event` once every earlier ticket has been delivered.
  void Deliver(int64_t ticket, const Event& event) {
    std::shared_ptr<const Listener> listener;
    {
      absl::MutexLock lock(&mutex_);
      const auto my_turn = [this, ticket]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
        return delivered_ticket_ + 1 == ticket;
      };
      mutex_.Await(absl::Condition(&my_turn));
      listener = listener_;
    }
    // The ticket counts as delivered however the call ends, or every later writer would wait.
    struct MarkDelivered {
      CommitNotifier* notifier;
      int64_t ticket;
      ~MarkDelivered() {
        absl::MutexLock lock(&notifier->mutex_);
        notifier->delivered_ticket_ = ticket;
      }
    } mark_delivered{this, ticket};
    if (listener != nullptr) (*listener)(event);
  }

  // Deliver, for a write already durable: a listener that throws fails that write's answer
  // alone, as INTERNAL (the ticket counts as delivered all the same).
  absl::Status TryDeliver(int64_t ticket, const Event& event) {
    try {
      Deliver(ticket, event);
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("write committed, but telling the watchers of it failed: ", e.what()));
    } catch (...) {
      return absl::InternalError("write committed, but telling the watchers of it failed");
    }
    return absl::OkStatus();
  }

 private:
  int64_t next_ticket_ = 1;  // guarded by the store's write lock
  absl::Mutex mutex_;
  std::shared_ptr<const Listener> listener_ ABSL_GUARDED_BY(mutex_);
  int64_t delivered_ticket_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace hermes::storage
