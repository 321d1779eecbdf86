// BatchSpanProcessor: queues ended spans and exports them in batches on a background thread,
// so that an RPC never waits on the collector.
//
// The OpenTelemetry batch processor: a bounded queue (OTEL_BSP_MAX_QUEUE_SIZE); a batch
// (OTEL_BSP_MAX_EXPORT_BATCH_SIZE) goes out as soon as it is full, and whatever is queued
// goes out when the schedule delay (OTEL_BSP_SCHEDULE_DELAY) has passed since the last
// export; each export gets OTEL_BSP_EXPORT_TIMEOUT. Nothing ever waits for room: a span that
// finds the queue full is dropped, and so is a batch the exporter fails to deliver (collector
// down, timeout), and so is a span that ends once the shutdown has begun. They are counted in
//
//   hermes_spans_dropped_total{reason="queue_full"|"export_failed"|"shut_down"}
//
// on the registry given at construction, so a lossy pipeline is visible on /metrics.
//
//   auto processor = std::make_shared<BatchSpanProcessor>(std::move(exporter),
//                                                         BatchSpanProcessorOptions{}, registry);
//   ...
//   processor->Shutdown(absl::Seconds(5));  // exports what is queued, then stops the thread
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/tracing/span_processor.h"

namespace hermes::tracing {

// The OpenTelemetry defaults.
struct BatchSpanProcessorOptions {
  size_t max_queue_size = 2048;
  absl::Duration schedule_delay = absl::Milliseconds(5000);
  size_t max_export_batch_size = 512;  // at most max_queue_size
  absl::Duration export_timeout = absl::Milliseconds(30000);
};

class BatchSpanProcessor final : public SpanProcessor {
 public:
  // Starts the export thread. `registry` must outlive the processor.
  BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter,
                     const BatchSpanProcessorOptions& options, prometheus::Registry& registry);
  // Shutdown(export_timeout) if it was not called, then waits for the thread.
  ~BatchSpanProcessor() override;
  BatchSpanProcessor(const BatchSpanProcessor&) = delete;
  BatchSpanProcessor& operator=(const BatchSpanProcessor&) = delete;

  // Queues the span, or drops and counts it when the queue is full. Wakes the export thread
  // only when a batch is complete. Never waits on export: the lock it takes is held by the
  // export thread only to swap spans out of the queue.
  void OnEnd(std::unique_ptr<SpanData> span) override;

  absl::Status ForceFlush(absl::Duration timeout) override;

  // Exports everything queued, batch by batch, within `timeout`; what is left when it passes
  // is dropped (counted as export_failed). Returns DeadlineExceeded in that case; the thread
  // then stops after the export in progress returns (bounded by the export timeout).
  absl::Status Shutdown(absl::Duration timeout) override;

 private:
  // A fixed-capacity FIFO of ended spans: a push never allocates, and taking a batch off the
  // front moves that batch alone (erasing it from the front of a vector moved the whole
  // backlog, up to a million pointers after an outage, under the lock every RPC's OnEnd takes).
  class SpanQueue {
   public:
    explicit SpanQueue(size_t capacity) : slots_(capacity) {}
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    bool full() const { return size_ == slots_.size(); }
    void Push(std::unique_ptr<SpanData> span);  // not when full()
    // Moves the `n` oldest (n <= size()) into a new batch, oldest first.
    std::vector<std::unique_ptr<SpanData>> PopFront(size_t n);

   private:
    std::vector<std::unique_ptr<SpanData>> slots_;
    size_t head_ = 0;  // the oldest
    size_t size_ = 0;
  };

  void Run();
  // Takes up to one batch off the queue, exports it without the lock, counts a failure.
  void ExportOneBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const std::unique_ptr<SpanExporter> exporter_;
  const BatchSpanProcessorOptions options_;
  prometheus::Counter& dropped_queue_full_;
  prometheus::Counter& dropped_export_failed_;
  prometheus::Counter& dropped_shut_down_;

  absl::Mutex mutex_;
  absl::CondVar wake_worker_;  // a batch is full, a flush was asked for, or shutdown
  absl::CondVar progress_;     // a flush completed, or the worker stopped
  SpanQueue queue_ ABSL_GUARDED_BY(mutex_);
  bool batch_signalled_ ABSL_GUARDED_BY(mutex_) = false;  // one wake-up per full batch
  // ForceFlush n waits until flushes_done_ >= n: every span queued before it was exported.
  uint64_t flushes_requested_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t flushes_done_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;  // Shutdown was called: OnEnd drops silently
  absl::Time shutdown_deadline_ ABSL_GUARDED_BY(mutex_) = absl::InfiniteFuture();
  bool stopped_ ABSL_GUARDED_BY(mutex_) = false;  // the worker has left its loop
  bool export_failing_ = false;                   // the worker's own: the last export failed

  std::thread worker_;  // last: starts once everything above is initialised
};

}  // namespace hermes::tracing
