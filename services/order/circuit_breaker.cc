#include "services/order/circuit_breaker.h"

#include "absl/time/clock.h"
#include "libs/telemetry/log.h"

namespace hermes::order {

CircuitBreaker::CircuitBreaker(std::string target, CircuitBreakerOptions options,
                               prometheus::Registry& registry)
    : options_(options),
      gauge_(prometheus::BuildGauge()
                 .Name("hermes_circuit_breaker_state")
                 .Help("State of the circuit breaker in front of a dependency: 0 closed, 1 "
                       "open (failing fast), 2 half-open (probing).")
                 .Register(registry)
                 .Add({{"target", std::move(target)}})) {
  gauge_.Set(0);
}

bool CircuitBreaker::Allow() {
  absl::MutexLock lock(&mutex_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (absl::Now() < open_until_) return false;
      SetState(State::kHalfOpen);
      probe_in_flight_ = true;
      return true;
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return true;
}

void CircuitBreaker::RecordSuccess() {
  absl::MutexLock lock(&mutex_);
  failures_ = 0;
  probe_in_flight_ = false;
  if (state_ != State::kClosed) SetState(State::kClosed);
}

void CircuitBreaker::RecordFailure() {
  absl::MutexLock lock(&mutex_);
  probe_in_flight_ = false;
  ++failures_;
  if (state_ == State::kHalfOpen || failures_ >= options_.failure_threshold) {
    open_until_ = absl::Now() + options_.cooldown;
    if (state_ != State::kOpen) SetState(State::kOpen);
  }
}

void CircuitBreaker::RecordNeutral() {
  absl::MutexLock lock(&mutex_);
  probe_in_flight_ = false;
}

CircuitBreaker::State CircuitBreaker::state() {
  absl::MutexLock lock(&mutex_);
  return state_;
}

void CircuitBreaker::SetState(State state) {
  state_ = state;
  gauge_.Set(static_cast<double>(state));
  HERMES_LOG(state == State::kClosed ? spdlog::level::info : spdlog::level::warn,
             state == State::kOpen     ? "circuit breaker opened: failing fast"
             : state == State::kClosed ? "circuit breaker closed"
                                       : "circuit breaker half-open: probing");
}

}  // namespace hermes::order
