// Unary calls in flight at once on a stub's callback API, as a test sends them to see what a
// server does while they wait: each call's context, request and response live in a `Call` of
// the test's own (with at least `grpc::ClientContext context;` and `grpc::Status status;`),
// and the answers are counted.
//
//   struct Call { grpc::ClientContext context; CreateUserRequest request;
//                 CreateUserResponse response; grpc::Status status; };
//   CallsInFlight<Call> calls;
//   auto [call, done] = calls.Start();
//   stub->async()->CreateUser(&call->context, &call->request, &call->response, std::move(done));
//   ASSERT_TRUE(calls.AwaitAnswered(1));
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hermes::testing {

template <typename Call>
class CallsInFlight {
 public:
  // A new call with a 60 s deadline, and the callback that records its answer.
  std::pair<Call*, std::function<void(grpc::Status)>> Start() {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return {call, [this, call](grpc::Status status) {
              call->status = std::move(status);
              absl::MutexLock lock(&mu_);
              ++answered_;
            }};
  }

  // Waits (at most 30 s) until `n` calls have been answered.
  bool AwaitAnswered(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answered_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }
  // Waits (at most 30 s) for every call started so far.
  bool AwaitAll() { return AwaitAnswered(static_cast<int>(calls.size())); }

  int Answered() {
    absl::MutexLock lock(&mu_);
    return answered_;
  }

  std::vector<std::unique_ptr<Call>> calls;  // in the order they were started

 private:
  absl::Mutex mu_;
  int answered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hermes::testing
