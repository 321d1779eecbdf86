#include "services/order/circuit_breaker.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <optional>

#include "tests/support/http.h"

namespace hermes::order {
namespace {

using State = CircuitBreaker::State;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  double Gauge() const {
    return testing::MetricValue(prometheus::TextSerializer().Serialize(registry_.Collect()),
                                "hermes_circuit_breaker_state", {{"target", "dep"}})
        .value_or(-1);
  }
  // Lets one call through and reports `outcome` on it.
  void Call(void (CircuitBreaker::Permit::*outcome)()) {
    std::optional<CircuitBreaker::Permit> permit = breaker_.Allow();
    ASSERT_TRUE(permit.has_value());
    ((*permit).*outcome)();
  }
  void Fail(int times) {
    for (int i = 0; i < times; ++i) Call(&CircuitBreaker::Permit::Failed);
  }
  // The cool-down passes, and the next call is let through as the probe.
  std::optional<CircuitBreaker::Permit> Probe() {
    now_ += kCooldown;
    return breaker_.Allow();
  }

  static constexpr absl::Duration kCooldown = absl::Seconds(5);
  // The breaker's clock, which moves only when a test moves it: no test waits for the cool-down,
  // and none depends on how fast the machine runs it.
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  prometheus::Registry registry_;
  CircuitBreaker breaker_{
      "dep",
      {.failure_threshold = 3, .cooldown = kCooldown, .clock = [this] { return now_; }},
      registry_};
};

TEST_F(CircuitBreakerTest, FailuresInARow_OpenIt_AndItFailsFast) {
  EXPECT_EQ(Gauge(), 0);
  Fail(2);
  EXPECT_EQ(breaker_.state(), State::kClosed);
  Fail(1);
  EXPECT_EQ(breaker_.state(), State::kOpen);
  EXPECT_EQ(Gauge(), 1);
  EXPECT_FALSE(breaker_.Allow().has_value());
}

TEST_F(CircuitBreakerTest, Open_RefusesUntilTheCooldownHasPassed) {
  Fail(3);
  now_ += kCooldown - absl::Nanoseconds(1);
  EXPECT_FALSE(breaker_.Allow().has_value());
  EXPECT_EQ(breaker_.state(), State::kOpen);
  now_ += absl::Nanoseconds(1);
  EXPECT_TRUE(breaker_.Allow().has_value());
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
}

TEST_F(CircuitBreakerTest, ASuccess_ResetsTheCount) {
  Fail(2);
  Call(&CircuitBreaker::Permit::Succeeded);
  Fail(2);
  EXPECT_EQ(breaker_.state(), State::kClosed);
}

TEST_F(CircuitBreakerTest, AfterCooldown_OneProbe_SuccessCloses_FailureReopens) {
  Fail(3);
  std::optional<CircuitBreaker::Permit> probe = Probe();
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_EQ(Gauge(), 2);
  EXPECT_FALSE(breaker_.Allow().has_value()) << "only one probe at a time";
  now_ += absl::Seconds(2);  // the probe took its time: the new cool-down counts from its failure
  probe->Failed();
  EXPECT_EQ(breaker_.state(), State::kOpen);
  now_ += kCooldown - absl::Nanoseconds(1);
  EXPECT_FALSE(breaker_.Allow().has_value()) << "the cool-down counted from the first opening";

  now_ += absl::Nanoseconds(1);
  probe = breaker_.Allow();
  ASSERT_TRUE(probe.has_value());
  probe->Succeeded();
  EXPECT_EQ(breaker_.state(), State::kClosed);
  EXPECT_EQ(Gauge(), 0);
  EXPECT_TRUE(breaker_.Allow().has_value());
}

TEST_F(CircuitBreakerTest, NeutralOutcome_ReleasesTheProbeWithoutAVerdict) {
  Fail(3);
  std::optional<CircuitBreaker::Permit> probe = Probe();
  ASSERT_TRUE(probe.has_value());
  probe->Neutral();  // e.g. the caller cancelled
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_TRUE(breaker_.Allow().has_value()) << "a new probe may go";
}

// A permit dropped without an outcome (an exception between the call and its answer) releases
// the probe: the breaker is never stuck refusing every call.
TEST_F(CircuitBreakerTest, PermitDroppedWithoutOutcome_CountsAsNeutral) {
  Fail(3);
  ASSERT_TRUE(Probe().has_value());  // dropped at once
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  std::optional<CircuitBreaker::Permit> next = breaker_.Allow();
  ASSERT_TRUE(next.has_value()) << "the dropped probe still counted as out";
  next->Succeeded();
  EXPECT_EQ(breaker_.state(), State::kClosed);
}

// Calls let through before the breaker opened and still running meanwhile: their outcomes,
// arriving late, change nothing. Not a close while the probe is out, not a second probe, not a
// later reopening.
TEST_F(CircuitBreakerTest, LateOutcomesOfCallsFromBeforeTheOpening_ChangeNothing) {
  std::optional<CircuitBreaker::Permit> slow_success = breaker_.Allow();
  std::optional<CircuitBreaker::Permit> slow_neutral = breaker_.Allow();
  std::optional<CircuitBreaker::Permit> slow_failure = breaker_.Allow();
  ASSERT_TRUE(slow_success && slow_neutral && slow_failure);
  Fail(3);
  std::optional<CircuitBreaker::Permit> probe = Probe();
  ASSERT_TRUE(probe.has_value());

  slow_success->Succeeded();
  EXPECT_EQ(breaker_.state(), State::kHalfOpen) << "closed by a call from before the opening";
  slow_neutral->Neutral();
  EXPECT_FALSE(breaker_.Allow().has_value()) << "a second probe while the first is out";
  slow_failure->Failed();
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);

  probe->Succeeded();
  EXPECT_EQ(breaker_.state(), State::kClosed);
}

// A failure let through before the opening and reported while the breaker is open does not
// push the probe further off: the cool-down still counts from the opening.
TEST_F(CircuitBreakerTest, LateFailureWhileOpen_DoesNotRestartTheCooldown) {
  std::optional<CircuitBreaker::Permit> slow_failure = breaker_.Allow();
  ASSERT_TRUE(slow_failure.has_value());
  Fail(3);
  now_ += kCooldown - absl::Seconds(1);
  slow_failure->Failed();
  EXPECT_EQ(breaker_.state(), State::kOpen);
  now_ += absl::Seconds(1);
  EXPECT_TRUE(breaker_.Allow().has_value());
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
}

TEST_F(CircuitBreakerTest, OutcomeGivenTwice_CountsOnce) {
  std::optional<CircuitBreaker::Permit> permit = breaker_.Allow();
  ASSERT_TRUE(permit.has_value());
  for (int i = 0; i < 3; ++i) permit->Failed();  // the threshold, if each counted
  EXPECT_EQ(breaker_.state(), State::kClosed);
}

}  // namespace
}  // namespace hermes::order
