// UserDirectory: asks the user service whether a user may place an order, through the shared
// client chain (mTLS as spiffe://hermes/order, the incoming deadline capped, request id and
// trace context passed on, round_robin over every resolved address, UNAVAILABLE retried by
// service config) and a circuit breaker.
//
// The answer, in API.md's terms: OK (exists and ACTIVE); NOT_FOUND on `user_id`;
// FAILED_PRECONDITION on `user_id` (exists, not ACTIVE); UNAVAILABLE when the user service is
// down, failing or refusing us (the message says so); DEADLINE_EXCEEDED when it is too slow.
// Never INTERNAL.
#pragma once

#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/interceptor/client_chain.h"
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
};

class UserDirectory {
 public:
  UserDirectory(const UserDirectoryOptions& options,
                const std::shared_ptr<interceptor::ClientChain>& chain,
                prometheus::Registry& registry);

  absl::Status CheckCanOrder(const grpc::ServerContextBase& incoming, const std::string& user_id);

 private:
  const UserDirectoryOptions options_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  CircuitBreaker breaker_;
};

}  // namespace hermes::order
