// UserDirectory: asks the user service whether a user may place an order, through the shared
// client chain (mTLS as spiffe://hermes/order, the incoming deadline capped, request id and
// trace context passed on, round_robin over every resolved address, UNAVAILABLE retried by
// service config) and a circuit breaker.
//
// The answer, in API.md's terms: OK (exists and ACTIVE); NOT_FOUND on `user_id`;
// FAILED_PRECONDITION on `user_id` (exists, not ACTIVE); UNAVAILABLE when the user service is
// down, failing or refusing us (the message says so); DEADLINE_EXCEEDED when it is too slow;
// CANCELLED when the caller cancelled; RESOURCE_EXHAUSTED (kTooManyChecks) when too many
// checks already wait. Never INTERNAL.
//
// A check holds no thread while the user service answers: it goes out on the stub's callback
// API, and its answer is read, and handed on, on the HandlerPool the caller names. A user
// service that hangs therefore holds the order service's calls (each until --user_call_timeout
// at most) but none of its threads: GetOrder, ListOrders, CancelOrder and the streams, which
// share that pool, go on being answered meanwhile. Checks waiting at once are bounded
// (max_waiting_checks); beyond, a CreateOrder is refused at once, as a call that finds the
// pool's queue full is.
#pragma once

#include <grpcpp/server_context.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/interceptor/client_chain.h"
#include "libs/interceptor/handler_pool.h"
#include "services/order/circuit_breaker.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::order {

struct UserDirectoryOptions {
  std::string target;  // --user_service_addr
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  absl::Duration max_deadline = absl::Seconds(2);  // --user_call_timeout
  // A check that ran out of the caller's own deadline counts as a failure of the user service
  // only when it waited this long (GetUser answers in about a millisecond).
  absl::Duration slow_call = absl::Milliseconds(500);
  CircuitBreakerOptions breaker;
  // Checks that may wait for the user service at once: four times the 64 that the pool's
  // threads allowed when each check held one. At ~1 ms a check that is 256,000 creates a
  // second; beyond, the user service is hanging, and a burst of creates must not pile onto it.
  int max_waiting_checks = 256;
};

// The message of the RESOURCE_EXHAUSTED that a check beyond max_waiting_checks is answered.
inline constexpr char kTooManyChecks[] =
    "too many orders are waiting for the user service on this instance; nothing was done, "
    "retry later";

class UserDirectory {
 public:
  UserDirectory(const UserDirectoryOptions& options,
                const std::shared_ptr<interceptor::ClientChain>& chain,
                prometheus::Registry& registry);

  // Checks `user_id` for the call `incoming`, and gives `done` the answer: on a thread of
  // `pool` (where it may wait, for a commit), or, when the check is refused before it goes out
  // (circuit open, too many waiting), at once on the caller's thread. `incoming` must stay valid
  // until `done` has run (a call's context does until it is answered). `done` should not throw:
  // on the pool, an exception from it (or from reading the answer) ends there, unseen.
  void CheckCanOrder(const grpc::ServerContextBase& incoming, const std::string& user_id,
                     interceptor::HandlerPool& pool, std::function<void(absl::Status)> done);

 private:
  struct Check;  // one check on its way (user_directory.cc)

  // The answer to `check`, from the user service's `status`. May wait (CallerGone).
  absl::Status Read(Check& check, const grpc::Status& status);

  const UserDirectoryOptions options_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  CircuitBreaker breaker_;
  std::atomic<int> waiting_checks_{0};  // gone out, not yet answered
};

}  // namespace hermes::order
