#include "services/order/circuit_breaker.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

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
  prometheus::Registry registry_;
  CircuitBreaker breaker_{
      "dep", {.failure_threshold = 3, .cooldown = absl::Milliseconds(50)}, registry_};
};

TEST_F(CircuitBreakerTest, FailuresInARow_OpenIt_AndItFailsFast) {
  EXPECT_EQ(Gauge(), 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(breaker_.Allow());
    breaker_.RecordFailure();
  }
  EXPECT_EQ(breaker_.state(), State::kClosed);
  ASSERT_TRUE(breaker_.Allow());
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), State::kOpen);
  EXPECT_EQ(Gauge(), 1);
  EXPECT_FALSE(breaker_.Allow());
}

TEST_F(CircuitBreakerTest, ASuccess_ResetsTheCount) {
  for (int i = 0; i < 2; ++i) breaker_.RecordFailure();
  breaker_.RecordSuccess();
  for (int i = 0; i < 2; ++i) breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), State::kClosed);
}

TEST_F(CircuitBreakerTest, AfterCooldown_OneProbe_SuccessCloses_FailureReopens) {
  for (int i = 0; i < 3; ++i) breaker_.RecordFailure();
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while (!breaker_.Allow() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_EQ(Gauge(), 2);
  EXPECT_FALSE(breaker_.Allow()) << "only one probe at a time";
  breaker_.RecordFailure();
  EXPECT_EQ(breaker_.state(), State::kOpen);

  while (!breaker_.Allow() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  breaker_.RecordSuccess();
  EXPECT_EQ(breaker_.state(), State::kClosed);
  EXPECT_EQ(Gauge(), 0);
  EXPECT_TRUE(breaker_.Allow());
}

TEST_F(CircuitBreakerTest, NeutralOutcome_ReleasesTheProbeWithoutAVerdict) {
  for (int i = 0; i < 3; ++i) breaker_.RecordFailure();
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while (!breaker_.Allow() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(breaker_.state(), State::kHalfOpen);
  breaker_.RecordNeutral();  // e.g. the caller cancelled
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_TRUE(breaker_.Allow()) << "a new probe may go";
}

}  // namespace
}  // namespace hermes::order
