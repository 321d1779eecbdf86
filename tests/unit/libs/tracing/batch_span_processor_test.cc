// BatchSpanProcessor: when batches go out (full batch, timer, flush, shutdown), what is dropped
// and counted, and that ending a span never waits on the exporter.
#include "libs/tracing/batch_span_processor.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/tracing/tracer.h"
#include "tests/support/http.h"
#include "tests/unit/libs/tracing/test_exporters.h"

namespace hermes::tracing {
namespace {

using ::hermes::testing::MetricValue;
using ::hermes::testing::ScriptedExporter;

constexpr absl::Duration kWait = absl::Seconds(10);  // bound on every wait for the worker

class BatchSpanProcessorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    state_->Unblock();  // a blocked exporter must not hold up the processor's destruction
    processor_.reset();
  }

  void Make(BatchSpanProcessorOptions options) {
    processor_ = std::make_shared<BatchSpanProcessor>(std::make_unique<ScriptedExporter>(state_),
                                                      options, *registry_);
  }
  void EndSpans(int n) {
    for (int i = 0; i < n; ++i) processor_->OnEnd(std::make_unique<SpanData>());
  }
  double Dropped(const std::string& reason) {
    const std::string text = prometheus::TextSerializer().Serialize(registry_->Collect());
    return MetricValue(text, "hermes_spans_dropped_total", {{"reason", reason}}).value_or(-1);
  }
  void Block() {
    absl::MutexLock lock(&state_->mutex);
    state_->blocked = true;
  }
  bool AwaitInExport(absl::Duration timeout) {
    absl::MutexLock lock(&state_->mutex);
    auto in_export = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mutex) {
      return state_->in_export > 0;
    };
    return state_->mutex.AwaitWithTimeout(absl::Condition(&in_export), timeout);
  }
  std::vector<size_t> Batches() {
    absl::MutexLock lock(&state_->mutex);
    return state_->batches;
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ScriptedExporter::State> state_ = std::make_shared<ScriptedExporter::State>();
  std::shared_ptr<BatchSpanProcessor> processor_;
};

TEST_F(BatchSpanProcessorTest, DropCounters_StartAtZeroForEveryReason) {
  Make({});
  EXPECT_EQ(Dropped("queue_full"), 0);
  EXPECT_EQ(Dropped("export_failed"), 0);
  EXPECT_EQ(Dropped("shut_down"), 0);
}

TEST_F(BatchSpanProcessorTest, FullBatch_IsExportedWithoutWaitingForTheTimer) {
  Make({.max_queue_size = 16, .schedule_delay = absl::Hours(1), .max_export_batch_size = 4});
  EndSpans(4);
  EXPECT_EQ(state_->AwaitExportedSpans(4, kWait), 4u);
  EXPECT_EQ(Batches(), std::vector<size_t>{4});
}

TEST_F(BatchSpanProcessorTest, ScheduleDelay_ExportsAPartialBatch) {
  Make({.schedule_delay = absl::Milliseconds(50), .max_export_batch_size = 512});
  const absl::Time start = absl::Now();
  EndSpans(3);
  EXPECT_EQ(state_->AwaitExportedSpans(3, kWait), 3u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));  // by the timer, not at once
  EXPECT_EQ(Batches(), std::vector<size_t>{3});
}

TEST_F(BatchSpanProcessorTest, ManyBatches_GoOutInBatchSizedPieces) {
  Make({.max_queue_size = 64, .schedule_delay = absl::Hours(1), .max_export_batch_size = 5});
  EndSpans(12);
  ASSERT_TRUE(processor_->ForceFlush(kWait).ok());
  EXPECT_EQ(state_->ExportedSpans(), 12u);
  for (size_t batch : Batches()) EXPECT_LE(batch, 5u);
}

TEST_F(BatchSpanProcessorTest, QueueFull_SpansDroppedAndCounted) {
  Make({.max_queue_size = 4, .schedule_delay = absl::Hours(1), .max_export_batch_size = 4});
  Block();
  EndSpans(4);  // a full batch: the worker takes it and gets stuck exporting it
  ASSERT_TRUE(AwaitInExport(kWait));
  EndSpans(4);  // fills the queue again
  EndSpans(3);  // no room
  EXPECT_EQ(Dropped("queue_full"), 3);
  state_->Unblock();
  ASSERT_TRUE(processor_->Shutdown(kWait).ok());
  EXPECT_EQ(state_->ExportedSpans(), 8u);
}

// The queue is a ring: spans queued while a batch is out wrap around its end, and still leave
// in the order they ended.
TEST_F(BatchSpanProcessorTest, Spans_ExportedInTheOrderTheyEnded_AcrossTheQueuesWrapAround) {
  Make({.max_queue_size = 4, .schedule_delay = absl::Hours(1), .max_export_batch_size = 3});
  Block();
  auto end_span = [this](int i) {
    auto span = std::make_unique<SpanData>();
    span->name = absl::StrCat("s", i);
    processor_->OnEnd(std::move(span));
  };
  for (int i = 0; i < 3; ++i) end_span(i);  // a full batch: taken out, and stuck exporting
  ASSERT_TRUE(AwaitInExport(kWait));
  for (int i = 3; i < 7; ++i) end_span(i);  // the last three slots wrap to the queue's start
  end_span(7);                              // the queue is full
  state_->Unblock();
  ASSERT_TRUE(processor_->Shutdown(kWait).ok());
  EXPECT_EQ(Dropped("queue_full"), 1);
  absl::MutexLock lock(&state_->mutex);
  EXPECT_EQ(state_->names, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}));
  EXPECT_EQ(state_->batches, (std::vector<size_t>{3, 3, 1}));
}

TEST_F(BatchSpanProcessorTest, ExporterFailing_LostSpansCountedAsExportFailed) {
  {
    absl::MutexLock lock(&state_->mutex);
    state_->result = absl::UnavailableError("collector down");
  }
  Make({.schedule_delay = absl::Hours(1)});
  EndSpans(5);
  ASSERT_TRUE(processor_->ForceFlush(kWait).ok());
  EXPECT_EQ(Dropped("export_failed"), 5);
  EXPECT_EQ(Dropped("queue_full"), 0);
}

TEST_F(BatchSpanProcessorTest, ForceFlush_ReturnsOnceEverythingQueuedWasExported) {
  Make({.schedule_delay = absl::Hours(1)});
  EndSpans(3);
  ASSERT_TRUE(processor_->ForceFlush(kWait).ok());
  EXPECT_EQ(state_->ExportedSpans(), 3u);           // no waiting: the flush already saw them out
  ASSERT_TRUE(processor_->ForceFlush(kWait).ok());  // nothing queued: returns at once
}

TEST_F(BatchSpanProcessorTest, ForceFlush_StuckExporter_DeadlineExceededInBoundedTime) {
  Make({.schedule_delay = absl::Hours(1)});
  Block();
  EndSpans(1);
  const absl::Time start = absl::Now();
  EXPECT_EQ(processor_->ForceFlush(absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(BatchSpanProcessorTest, Shutdown_ExportsWhatIsQueued_ThenDropsAndCountsNewSpans) {
  Make({.schedule_delay = absl::Hours(1)});
  EndSpans(10);
  ASSERT_TRUE(processor_->Shutdown(kWait).ok());
  EXPECT_EQ(state_->ExportedSpans(), 10u);
  EndSpans(2);
  EXPECT_TRUE(processor_->Shutdown(kWait).ok());  // idempotent
  EXPECT_EQ(state_->ExportedSpans(), 10u);
  EXPECT_EQ(Dropped("queue_full"), 0);
  EXPECT_EQ(Dropped("shut_down"), 2);  // ignored, but not silently
}

TEST_F(BatchSpanProcessorTest, Shutdown_StuckExporter_GivesUpAtTheTimeoutAndCountsTheRest) {
  Make({.max_queue_size = 64,
        .schedule_delay = absl::Hours(1),
        .max_export_batch_size = 4,
        .export_timeout = absl::Hours(1)});
  Block();
  EndSpans(10);
  ASSERT_TRUE(AwaitInExport(kWait));  // the first batch is in flight, stuck for an hour
  const absl::Time start = absl::Now();
  EXPECT_EQ(processor_->Shutdown(absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The export in progress is aborted when the shutdown's time is up (not at its own deadline,
  // an hour away); the worker then drops what is left and stops, which a second Shutdown waits
  // for. All 10 spans are counted.
  EXPECT_TRUE(processor_->Shutdown(kWait).ok());
  EXPECT_EQ(Dropped("export_failed"), 10);
  EXPECT_EQ(state_->ExportedSpans(), 0u);
}

TEST_F(BatchSpanProcessorTest, SpanEnd_NeverBlocksOnAStuckExporter) {
  Make({.max_queue_size = 8,
        .schedule_delay = absl::Milliseconds(1),
        .max_export_batch_size = 2,
        .export_timeout = absl::Hours(1)});
  Block();
  TracerProvider provider(Sampler::AlwaysOn(), processor_);
  Tracer& tracer = provider.GetTracer("test");
  tracer.StartSpan("first", SpanKind::kServer).End();
  ASSERT_TRUE(AwaitInExport(kWait));  // the exporter is now stuck, for an hour

  constexpr int kSpans = 5000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kSpans; ++i) tracer.StartSpan("rpc", SpanKind::kServer).End();
  const absl::Duration elapsed = absl::Now() - start;
  // Thousands of spans end in well under a second (ASan included) while nothing is exported:
  // an End that waited for the exporter would have taken the hour.
  EXPECT_LT(elapsed, absl::Seconds(2));
  EXPECT_GE(Dropped("queue_full"), kSpans - 8);

  state_->Unblock();
  EXPECT_TRUE(provider.Shutdown(kWait).ok());
}

}  // namespace
}  // namespace hermes::tracing
