// CircuitBreaker: fail fast while a dependency keeps failing, probe it again after a cool-down.
//
// closed     calls go through; `failure_threshold` failures in a row open it
// open       calls are refused at once until `cooldown` has passed
// half-open  one probe call goes through; success closes, failure opens again
//
// Only failures that say "the dependency is in trouble" count (the caller decides: for the user
// check, UNAVAILABLE and every answer that means it could not ask, its own cap running out, a
// cancel from the other side, a wait of 500 ms without an answer); an answer such as NOT_FOUND is
// a success for the breaker. The state is exported as
// hermes_circuit_breaker_state{target} (0 closed, 1 open, 2 half-open).
//
// Each call let through holds a Permit and reports its outcome on it:
//
//   std::optional<CircuitBreaker::Permit> permit = breaker.Allow();
//   if (!permit) return Unavailable(...);
//   ...call...   permit->Succeeded();   // or Failed(), or Neutral()
//
// A permit knows which period of the breaker it belongs to: the outcome of a call let through
// before the breaker opened (still running when it opened) changes nothing after, so it can
// neither close the breaker while its probe is out, nor let a second probe go, nor push the
// reopening further. A permit dropped without an outcome (an exception on the way) counts as
// Neutral: a probe is never left out for good.
#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hermes::order {

struct CircuitBreakerOptions {
  int failure_threshold = 5;
  absl::Duration cooldown = absl::Seconds(5);
  // What the cool-down is measured on: the wall clock, or a test's own.
  std::function<absl::Time()> clock = absl::Now;
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  // One call let through; the breaker must outlive it.
  class Permit {
   public:
    Permit(Permit&& other) noexcept;
    Permit& operator=(Permit&& other) noexcept;  // the permit it held ends Neutral
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit();  // Neutral, if no outcome was given

    // The outcome, once; later calls do nothing.
    void Succeeded();
    void Failed();
    // The call ended without saying anything about the dependency (the caller cancelled, or
    // its own deadline passed): a half-open probe may be tried again.
    void Neutral();

   private:
    friend class CircuitBreaker;
    enum class Outcome { kSuccess, kFailure, kNeutral };
    Permit(CircuitBreaker* breaker, uint64_t period, bool probe)
        : breaker_(breaker), period_(period), probe_(probe) {}
    void Report(Outcome outcome);

    CircuitBreaker* breaker_;  // nullptr once the outcome is given (or moved from)
    uint64_t period_;          // the breaker's period when the call was let through
    bool probe_;               // the half-open probe
  };

  CircuitBreaker(std::string target, CircuitBreakerOptions options, prometheus::Registry& registry);

  // A permit if a call may go out now (in half-open, only the one probe), else nullopt.
  std::optional<Permit> Allow();
  State state();

 private:
  void Record(const Permit& permit, Permit::Outcome outcome);
  void SetState(State state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const CircuitBreakerOptions options_;
  prometheus::Gauge& gauge_;
  absl::Mutex mutex_;
  State state_ ABSL_GUARDED_BY(mutex_) = State::kClosed;
  // Counts the openings: a closed period, its opening and the probes that follow share one.
  uint64_t period_ ABSL_GUARDED_BY(mutex_) = 0;
  int failures_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Time open_until_ ABSL_GUARDED_BY(mutex_);
  bool probe_in_flight_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace hermes::order
