// CircuitBreaker: fail fast while a dependency keeps failing, probe it again after a cool-down.
//
// closed     calls go through; `failure_threshold` failures in a row open it
// open       calls are refused at once until `cooldown` has passed
// half-open  one probe call goes through; success closes, failure opens again
//
// Only failures that say "the dependency is in trouble" (UNAVAILABLE, DEADLINE_EXCEEDED) count;
// an answer such as NOT_FOUND is a success for the breaker. The state is exported as
// hermes_circuit_breaker_state{target} (0 closed, 1 open, 2 half-open).
#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hermes::order {

struct CircuitBreakerOptions {
  int failure_threshold = 5;
  absl::Duration cooldown = absl::Seconds(5);
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  CircuitBreaker(std::string target, CircuitBreakerOptions options, prometheus::Registry& registry);

  // True if a call may go out now (in half-open, only the one probe).
  bool Allow();
  void RecordSuccess();
  void RecordFailure();
  // The call ended without saying anything about the dependency (the caller cancelled, or its
  // own deadline passed): a half-open probe may be tried again.
  void RecordNeutral();
  State state();

 private:
  void SetState(State state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const CircuitBreakerOptions options_;
  prometheus::Gauge& gauge_;
  absl::Mutex mutex_;
  State state_ ABSL_GUARDED_BY(mutex_) = State::kClosed;
  int failures_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Time open_until_ ABSL_GUARDED_BY(mutex_);
  bool probe_in_flight_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace hermes::order
