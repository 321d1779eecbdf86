// WaitingBound: at most `limit` calls waiting for something without holding a thread (a write
// waiting for its store's commit thread), each by a place it holds until it is answered. A
// call that finds every place taken is refused at once with RESOURCE_EXHAUSTED (kOverloaded),
// having done nothing, as one the HandlerPool refuses, rather than the wait growing for as long
// as an overload lasts.
//
//   std::shared_ptr<WaitingBound::Place> place = writes_.Admit();
//   if (place == nullptr) return answer.Send(Overloaded());
//   store_.UpdateThen(update, ..., [answer, place](absl::StatusOr<User> user) {
//     place->Release();   // before the answer: the client may write again as soon as it has it
//     answer.Send(...);
//   });
//
// A place is shared (std::function wants copies), released once: by Release, or by the last
// copy's destruction (a callback never run). Release before the answer, on the path that
// answers: a callback's last copy may be destroyed after the answer, and so after the server
// has stopped and the bound is gone.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/handler_pool.h"

namespace hermes::interceptor {

// As many writes as the handler pool let wait when each held one of its threads through its
// commit: its threads and its queue. The services' bound on writes waiting for their commit.
inline constexpr int kMaxWritesWaiting =
    kDefaultHandlerThreads + static_cast<int>(kDefaultMaxWaiting);

// What a call waiting for its commit is asked right before the write is made (a store's
// "abandoned" predicate): true once its client has gone, and nothing is then written for it.
// Asked before the call is answered, so while `context` lives.
inline std::function<bool()> CallerGone(const grpc::ServerContextBase& context) {
  return [&context] { return context.IsCancelled(); };
}

class WaitingBound {
 public:
  class Place {
   public:
    explicit Place(std::atomic<int>& waiting) : waiting_(waiting) {}
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() { Release(); }

    void Release() {
      if (!released_.exchange(true, std::memory_order_relaxed)) {
        waiting_.fetch_sub(1, std::memory_order_relaxed);
      }
    }

   private:
    std::atomic<int>& waiting_;
    std::atomic<bool> released_{false};
  };

  explicit WaitingBound(int limit) : limit_(limit) {}
  WaitingBound(const WaitingBound&) = delete;
  WaitingBound& operator=(const WaitingBound&) = delete;

  // A place, or null when all `limit` are taken. Never counts past the limit, not even for a
  // moment: an add-then-undo would refuse a call racing it for a place freed meanwhile.
  std::shared_ptr<Place> Admit() {
    int waiting = waiting_.load(std::memory_order_relaxed);
    do {
      if (waiting >= limit_) return nullptr;
    } while (!waiting_.compare_exchange_weak(waiting, waiting + 1, std::memory_order_relaxed));
    try {
      return std::make_shared<Place>(waiting_);
    } catch (...) {  // no memory for the place: the count taken for it goes back
      waiting_.fetch_sub(1, std::memory_order_relaxed);
      throw;
    }
  }

  // Places held now.
  int Waiting() const { return waiting_.load(std::memory_order_relaxed); }

  // What a call refused by Admit is answered.
  static grpc::Status Overloaded() {
    return errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED, kOverloaded);
  }

 private:
  const int limit_;
  std::atomic<int> waiting_{0};
};

}  // namespace hermes::interceptor
