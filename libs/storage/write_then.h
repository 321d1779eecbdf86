// What the stores' asynchronous writes (UserStore::CreateThen, OrderStore::TransitionThen, ...)
// share: the "abandoned" question asked on the commit thread right before a write is made, what
// a write that was not made for that reason answers, and the synchronous form of such a write.
#pragma once

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace hermes::storage {

// Asked right before a write is made; true, and it is not made (its caller has gone).
using Abandoned = std::function<bool()>;

// What a write that was not made because its caller had gone answers.
inline absl::Status WriteAbandoned() {
  return absl::CancelledError("the caller has gone; nothing was written");
}

// The outcome `start` hands its done callback, waited for: a store's synchronous write as its
// ...Then with nothing that could abandon it.
//   return AwaitDone<absl::StatusOr<User>>([&](UserDone done) { CreateThen(user, nullptr, done);
//   });
template <typename Result, typename Start>
Result AwaitDone(Start start) {
  absl::Notification reported;
  Result result = absl::UnknownError("not written");
  start([&](Result outcome) {
    result = std::move(outcome);
    reported.Notify();
  });
  reported.WaitForNotification();
  return result;
}

}  // namespace hermes::storage
