#include "services/order/circuit_breaker.h"

#include <utility>

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

std::optional<CircuitBreaker::Permit> CircuitBreaker::Allow() {
  absl::MutexLock lock(&mutex_);
  switch (state_) {
    case State::kClosed:
      return Permit(this, period_, /*probe=*/false);
    case State::kOpen:
      if (options_.clock() < open_until_) return std::nullopt;
      SetState(State::kHalfOpen);
      probe_in_flight_ = true;
      return Permit(this, period_, /*probe=*/true);
    case State::kHalfOpen:
      if (probe_in_flight_) return std::nullopt;
      probe_in_flight_ = true;
      return Permit(this, period_, /*probe=*/true);
  }
  return std::nullopt;
}

void CircuitBreaker::Record(const Permit& permit, Permit::Outcome outcome) {
  absl::MutexLock lock(&mutex_);
  // A call from an earlier period (let through before the last opening) says nothing that
  // counts now; nor does a probe's outcome once the breaker left half-open.
  if (permit.period_ != period_) return;
  if (permit.probe_ != (state_ == State::kHalfOpen)) return;
  switch (outcome) {
    case Permit::Outcome::kSuccess:
      failures_ = 0;
      probe_in_flight_ = false;
      if (state_ != State::kClosed) SetState(State::kClosed);
      return;
    case Permit::Outcome::kFailure:
      probe_in_flight_ = false;
      ++failures_;
      if (state_ == State::kHalfOpen || failures_ >= options_.failure_threshold) {
        open_until_ = options_.clock() + options_.cooldown;
        ++period_;
        SetState(State::kOpen);
      }
      return;
    case Permit::Outcome::kNeutral:
      probe_in_flight_ = false;
      return;
  }
}

CircuitBreaker::Permit::Permit(Permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      period_(other.period_),
      probe_(other.probe_) {}

CircuitBreaker::Permit& CircuitBreaker::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Report(Outcome::kNeutral);
    breaker_ = std::exchange(other.breaker_, nullptr);
    period_ = other.period_;
    probe_ = other.probe_;
  }
  return *this;
}

CircuitBreaker::Permit::~Permit() { Report(Outcome::kNeutral); }

void CircuitBreaker::Permit::Succeeded() { Report(Outcome::kSuccess); }
void CircuitBreaker::Permit::Failed() { Report(Outcome::kFailure); }
void CircuitBreaker::Permit::Neutral() { Report(Outcome::kNeutral); }

void CircuitBreaker::Permit::Report(Outcome outcome) {
  if (breaker_ == nullptr) return;
  std::exchange(breaker_, nullptr)->Record(*this, outcome);
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
