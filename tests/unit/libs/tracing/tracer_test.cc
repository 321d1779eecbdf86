// TracerProvider, Tracer and Span: ids, parent links, sampling, attributes, status rules and
// the end of a span's life.
#include "libs/tracing/tracer.h"

#include <gtest/gtest.h>

#include "absl/container/flat_hash_set.h"
#include "libs/tracing/span.h"
#include "tests/unit/libs/tracing/test_exporters.h"

namespace hermes::tracing {
namespace {

using ::hermes::testing::RecordingProcessor;

class TracerTest : public ::testing::Test {
 protected:
  std::shared_ptr<RecordingProcessor> processor_ = std::make_shared<RecordingProcessor>();
  TracerProvider provider_{Sampler::ParentBased(Sampler::AlwaysOn()), processor_};
  Tracer& tracer_ = provider_.GetTracer("test.scope", "1.2.3");
};

TEST_F(TracerTest, RootSpan_HasNewValidIdsNoParentAndIsSampled) {
  Span span = tracer_.StartSpan("root", SpanKind::kServer);
  EXPECT_TRUE(span.context().IsValid());
  EXPECT_TRUE(span.context().sampled());
  EXPECT_TRUE(span.IsRecording());
  span.End();
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "root");
  EXPECT_EQ(spans[0].kind, SpanKind::kServer);
  EXPECT_FALSE(spans[0].parent_span_id.IsValid());
  EXPECT_EQ(spans[0].context.trace_id, span.context().trace_id);
  EXPECT_EQ(spans[0].scope->name, "test.scope");
  EXPECT_EQ(spans[0].scope->version, "1.2.3");
  EXPECT_GT(spans[0].start_unix_nanos, 0);
  EXPECT_GE(spans[0].end_unix_nanos, spans[0].start_unix_nanos);
}

// A span's duration is measured on the monotonic clock: one whose start the wall clock put in
// 1970 (as if it had been stepped since) still lasts what it lasted, not 56 years.
TEST_F(TracerTest, Duration_MeasuredOnTheMonotonicClock_NotTheWallClock) {
  auto data = std::make_unique<SpanData>();
  data->start_unix_nanos = 1'000'000'000;                  // 1970-01-01T00:00:01Z
  data->start_steady_nanos = SteadyNanos() - 250'000'000;  // started 250 ms ago
  Span stepped(*ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
               std::move(data), processor_);
  stepped.End();
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  const int64_t duration = spans[0].end_unix_nanos - spans[0].start_unix_nanos;
  EXPECT_GE(duration, 250'000'000);
  EXPECT_LT(duration, 10'250'000'000) << "took the wall clock's end";
}

TEST_F(TracerTest, ChildSpan_KeepsTraceIdAndTracestate_PointsAtParent) {
  SpanContext parent = *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  parent.trace_state = "rojo=1";
  Span child = tracer_.StartSpan("child", SpanKind::kClient, parent);
  EXPECT_EQ(child.context().trace_id, parent.trace_id);
  EXPECT_NE(child.context().span_id, parent.span_id);
  EXPECT_EQ(child.context().trace_state, "rojo=1");
  EXPECT_FALSE(child.context().is_remote);
  child.End();
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].parent_span_id, parent.span_id);
  EXPECT_EQ(spans[0].context.trace_state, "rojo=1");
}

TEST_F(TracerTest, UnsampledParent_GivesNonRecordingChildWithOwnIdsAndNothingExported) {
  SpanContext parent = *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  Span child = tracer_.StartSpan("child", SpanKind::kClient, parent);
  EXPECT_FALSE(child.IsRecording());
  EXPECT_FALSE(child.context().sampled());
  EXPECT_EQ(child.context().trace_id, parent.trace_id);
  EXPECT_TRUE(child.context().span_id.IsValid());
  EXPECT_NE(child.context().span_id, parent.span_id);
  child.SetAttribute("ignored", 1);
  child.SetStatus(SpanStatusCode::kError, "ignored");
  child.End();
  EXPECT_TRUE(processor_->Spans().empty());
}

TEST_F(TracerTest, Ids_AreRandomAcrossSpans) {
  absl::flat_hash_set<std::string> trace_ids;
  absl::flat_hash_set<std::string> span_ids;
  for (int i = 0; i < 1000; ++i) {
    Span span = tracer_.StartSpan("s", SpanKind::kInternal);
    trace_ids.insert(span.context().trace_id.ToHex());
    span_ids.insert(span.context().span_id.ToHex());
  }
  EXPECT_EQ(trace_ids.size(), 1000u);
  EXPECT_EQ(span_ids.size(), 1000u);
}

TEST_F(TracerTest, Attributes_AllTypes_ReplacedOnSameKey_LiteralIsAString) {
  Span span = tracer_.StartSpan("s", SpanKind::kInternal);
  span.SetAttribute("str", "literal");
  span.SetAttribute("str2", std::string("owned"));
  span.SetAttribute("int", 42);
  span.SetAttribute("uint", uint16_t{7});
  span.SetAttribute("double", 1.5);
  span.SetAttribute("bool", true);
  span.SetAttribute("int", int64_t{43});
  span.End();
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  const auto& attributes = spans[0].attributes;
  ASSERT_EQ(attributes.size(), 6u);
  EXPECT_EQ(std::get<std::string>(attributes[0].value), "literal");
  EXPECT_EQ(std::get<std::string>(attributes[1].value), "owned");
  EXPECT_EQ(attributes[2].key, "int");
  EXPECT_EQ(std::get<int64_t>(attributes[2].value), 43);
  EXPECT_EQ(std::get<int64_t>(attributes[3].value), 7);
  EXPECT_EQ(std::get<double>(attributes[4].value), 1.5);
  EXPECT_EQ(std::get<bool>(attributes[5].value), true);
}

TEST_F(TracerTest, Attributes_BeyondTheLimit_AreCountedNotKept) {
  Span span = tracer_.StartSpan("s", SpanKind::kInternal);
  for (size_t i = 0; i < kMaxAttributesPerSpan + 3; ++i) span.SetAttribute(std::to_string(i), 1);
  span.End();
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].attributes.size(), kMaxAttributesPerSpan);
  EXPECT_EQ(spans[0].dropped_attributes_count, 3u);
}

TEST_F(TracerTest, Status_ErrorKeepsDescription_OkIsFinal_UnsetIgnored) {
  Span failed = tracer_.StartSpan("failed", SpanKind::kInternal);
  failed.SetStatus(SpanStatusCode::kError, "boom");
  failed.SetStatus(SpanStatusCode::kUnset);
  failed.End();
  Span ok = tracer_.StartSpan("ok", SpanKind::kInternal);
  ok.SetStatus(SpanStatusCode::kOk, "dropped: only errors have a description");
  ok.SetStatus(SpanStatusCode::kError, "too late");
  ok.End();
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].status, SpanStatusCode::kError);
  EXPECT_EQ(spans[0].status_description, "boom");
  EXPECT_EQ(spans[1].status, SpanStatusCode::kOk);
  EXPECT_EQ(spans[1].status_description, "");
}

TEST_F(TracerTest, End_IsIdempotent_AndDestructorEndsAnUnendedSpan) {
  {
    Span span = tracer_.StartSpan("explicit", SpanKind::kInternal);
    span.End();
    span.End();
    EXPECT_FALSE(span.IsRecording());
    EXPECT_TRUE(span.context().IsValid());  // still there after End
  }
  { Span span = tracer_.StartSpan("scoped", SpanKind::kInternal); }
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[1].name, "scoped");
}

TEST_F(TracerTest, MoveAssignment_EndsTheReplacedSpan) {
  Span span = tracer_.StartSpan("first", SpanKind::kInternal);
  span = tracer_.StartSpan("second", SpanKind::kInternal);
  EXPECT_EQ(processor_->Spans().size(), 1u);
  span.End();
  EXPECT_EQ(processor_->Spans().size(), 2u);
}

TEST_F(TracerTest, AfterShutdown_SpansAreNonRecording) {
  ASSERT_TRUE(provider_.Shutdown(absl::Seconds(1)).ok());
  Span span = tracer_.StartSpan("late", SpanKind::kInternal);
  EXPECT_FALSE(span.IsRecording());
  EXPECT_TRUE(span.context().IsValid());
}

TEST_F(TracerTest, GetTracer_SameScopeGivesSameTracer) {
  EXPECT_EQ(&provider_.GetTracer("test.scope", "1.2.3"), &tracer_);
  EXPECT_NE(&provider_.GetTracer("test.scope"), &tracer_);
  EXPECT_NE(&provider_.GetTracer("other", "1.2.3"), &tracer_);
}

TEST(TracerProviderTest, AlwaysOff_NothingRecorded) {
  auto processor = std::make_shared<RecordingProcessor>();
  TracerProvider provider(Sampler::AlwaysOff(), processor);
  Span span = provider.GetTracer("t").StartSpan("s", SpanKind::kServer);
  EXPECT_FALSE(span.IsRecording());
  EXPECT_TRUE(span.context().IsValid());  // ids still propagate
  span.End();
  EXPECT_TRUE(processor->Spans().empty());
}

TEST(TracerProviderTest, NoProcessor_SpansSampledButGoNowhere) {
  TracerProvider provider(Sampler::AlwaysOn(), nullptr);
  Span span = provider.GetTracer("t").StartSpan("s", SpanKind::kServer);
  EXPECT_TRUE(span.context().sampled());
  span.End();
  EXPECT_TRUE(provider.ForceFlush(absl::Seconds(1)).ok());
}

TEST(DefaultTracerProviderTest, SetAndClear) {
  EXPECT_EQ(DefaultTracerProvider(), nullptr);
  TracerProvider provider(Sampler::AlwaysOn(), nullptr);
  SetDefaultTracerProvider(&provider);
  EXPECT_EQ(DefaultTracerProvider(), &provider);
  SetDefaultTracerProvider(nullptr);
  EXPECT_EQ(DefaultTracerProvider(), nullptr);
}

}  // namespace
}  // namespace hermes::tracing
