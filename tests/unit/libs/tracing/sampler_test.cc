// Sampler decisions: the five OTEL_TRACES_SAMPLER values plus parentbased_always_off, parents
// sampled and not, and the Go SDK's trace-id-ratio arithmetic at its boundaries.
#include "libs/tracing/sampler.h"

#include <gtest/gtest.h>

#include <cmath>

#include "absl/random/random.h"
#include "libs/tracing/tracer.h"

namespace hermes::tracing {
namespace {

// A trace id whose last 8 bytes are `low` (big-endian), the part traceidratio reads.
TraceId TraceIdWithLow(uint64_t low) {
  std::array<uint8_t, 16> bytes{};
  bytes[0] = 0xab;  // the high half is ignored: make it non-zero anyway
  for (int i = 0; i < 8; ++i) bytes[15 - i] = static_cast<uint8_t>(low >> (8 * i));
  return TraceId(bytes);
}

SpanContext Parent(bool sampled, bool remote) {
  SpanContext parent;
  parent.trace_id = TraceIdWithLow(1);
  parent.span_id = NewSpanId();
  parent.trace_flags = sampled ? kSampledFlag : 0;
  parent.is_remote = remote;
  return parent;
}

const SpanContext kNoParent;

TEST(SamplerTest, AlwaysOn_SamplesRootsAndIgnoresParent) {
  const Sampler sampler = Sampler::AlwaysOn();
  EXPECT_TRUE(sampler.ShouldSample(kNoParent, NewTraceId()));
  EXPECT_TRUE(sampler.ShouldSample(Parent(false, true), NewTraceId()));
  EXPECT_EQ(sampler.Description(), "AlwaysOnSampler");
}

TEST(SamplerTest, AlwaysOff_SamplesNothingEvenUnderSampledParent) {
  const Sampler sampler = Sampler::AlwaysOff();
  EXPECT_FALSE(sampler.ShouldSample(kNoParent, NewTraceId()));
  EXPECT_FALSE(sampler.ShouldSample(Parent(true, true), NewTraceId()));
}

TEST(SamplerTest, Default_IsParentBasedAlwaysOn) {
  const Sampler sampler;
  EXPECT_EQ(sampler.Description(), "ParentBased{root:AlwaysOnSampler}");
  EXPECT_TRUE(sampler.ShouldSample(kNoParent, NewTraceId()));
}

TEST(SamplerTest, ParentBasedAlwaysOn_FollowsRemoteAndLocalParents) {
  const Sampler sampler = Sampler::ParentBased(Sampler::AlwaysOn());
  for (bool remote : {true, false}) {
    EXPECT_TRUE(sampler.ShouldSample(Parent(true, remote), NewTraceId()));
    EXPECT_FALSE(sampler.ShouldSample(Parent(false, remote), NewTraceId()));
  }
  EXPECT_TRUE(sampler.ShouldSample(kNoParent, NewTraceId()));
}

TEST(SamplerTest, ParentBasedAlwaysOff_FollowsParentsAndDropsRoots) {
  const Sampler sampler = Sampler::ParentBased(Sampler::AlwaysOff());
  EXPECT_TRUE(sampler.ShouldSample(Parent(true, true), NewTraceId()));
  EXPECT_FALSE(sampler.ShouldSample(Parent(false, true), NewTraceId()));
  EXPECT_FALSE(sampler.ShouldSample(kNoParent, NewTraceId()));
}

TEST(SamplerTest, ParentBasedTraceIdRatio_FollowsParentsAndAppliesRatioToRoots) {
  const Sampler sampler = Sampler::ParentBased(Sampler::TraceIdRatio(0.5));
  // A parent's decision wins whatever the trace id says.
  EXPECT_TRUE(sampler.ShouldSample(Parent(true, true), TraceIdWithLow(~uint64_t{0})));
  EXPECT_FALSE(sampler.ShouldSample(Parent(false, true), TraceIdWithLow(0)));
  // Roots: the ratio. 0.5 * 2^63 = 2^62 is the bound on (low >> 1).
  EXPECT_TRUE(sampler.ShouldSample(kNoParent, TraceIdWithLow((uint64_t{1} << 63) - 2)));
  EXPECT_FALSE(sampler.ShouldSample(kNoParent, TraceIdWithLow(uint64_t{1} << 63)));
  EXPECT_EQ(sampler.Description(), "ParentBased{root:TraceIDRatioBased{0.5}}");
}

TEST(SamplerTest, TraceIdRatio_IgnoresParent) {
  const Sampler sampler = Sampler::TraceIdRatio(0.5);
  EXPECT_FALSE(sampler.ShouldSample(Parent(true, true), TraceIdWithLow(~uint64_t{0})));
  EXPECT_TRUE(sampler.ShouldSample(Parent(false, true), TraceIdWithLow(0)));
}

TEST(SamplerTest, TraceIdRatio_ExactBoundary_LikeGo) {
  // x = low >> 1 is sampled iff x < uint64(ratio * 2^63). For 0.5 the bound is 2^62.
  const Sampler sampler = Sampler::TraceIdRatio(0.5);
  const uint64_t bound = uint64_t{1} << 62;
  EXPECT_TRUE(sampler.ShouldSample(kNoParent, TraceIdWithLow((bound - 1) << 1 | 1)));
  EXPECT_FALSE(sampler.ShouldSample(kNoParent, TraceIdWithLow(bound << 1)));
  // Only the last 8 bytes count: the high half may be anything.
  std::array<uint8_t, 16> bytes{};
  bytes.fill(0xff);
  for (int i = 8; i < 16; ++i) bytes[i] = 0;
  EXPECT_TRUE(sampler.ShouldSample(kNoParent, TraceId(bytes)));
}

TEST(SamplerTest, TraceIdRatio_ZeroSamplesNothing_OneSamplesEverything) {
  const Sampler none = Sampler::TraceIdRatio(0);
  const Sampler all = Sampler::TraceIdRatio(1);
  for (uint64_t low : {uint64_t{0}, uint64_t{1}, uint64_t{2}, ~uint64_t{0}}) {
    EXPECT_FALSE(none.ShouldSample(kNoParent, TraceIdWithLow(low))) << low;
    EXPECT_TRUE(all.ShouldSample(kNoParent, TraceIdWithLow(low))) << low;
  }
  EXPECT_EQ(all.Description(), "AlwaysOnSampler");  // as Go: a fraction >= 1 is AlwaysSample
  EXPECT_FALSE(Sampler::TraceIdRatio(-3).ShouldSample(kNoParent, TraceIdWithLow(0)));
  EXPECT_TRUE(Sampler::TraceIdRatio(7).ShouldSample(kNoParent, TraceIdWithLow(~uint64_t{0})));
}

TEST(SamplerTest, TraceIdRatio_SamplesTheRatioOfRandomTraceIds) {
  // 10,000 random ids at 0.25: the count is binomial, sd = sqrt(n p (1-p)) ≈ 43. Five standard
  // deviations (±217) makes a false failure a one-in-millions event.
  constexpr int kIds = 10000;
  constexpr double kRatio = 0.25;
  const Sampler sampler = Sampler::TraceIdRatio(kRatio);
  int sampled = 0;
  for (int i = 0; i < kIds; ++i) sampled += sampler.ShouldSample(kNoParent, NewTraceId()) ? 1 : 0;
  const double sd = std::sqrt(kIds * kRatio * (1 - kRatio));
  EXPECT_NEAR(sampled, kIds * kRatio, 5 * sd);
}

}  // namespace
}  // namespace hermes::tracing
