#include "libs/tracing/batch_span_processor.h"

#include <prometheus/family.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/telemetry/log.h"

namespace hermes::tracing {
namespace {

prometheus::Family<prometheus::Counter>& DroppedFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("hermes_spans_dropped_total")
      .Help(
          "Spans that ended but were never exported, by reason: queue_full (the export queue "
          "was full), export_failed (the exporter could not deliver them) or shut_down (ended "
          "once the shutdown had begun)")
      .Register(registry);
}

BatchSpanProcessorOptions Sanitized(BatchSpanProcessorOptions options) {
  options.max_queue_size = std::max<size_t>(options.max_queue_size, 1);
  options.max_export_batch_size =
      std::clamp<size_t>(options.max_export_batch_size, 1, options.max_queue_size);
  if (options.schedule_delay <= absl::ZeroDuration()) options.schedule_delay = absl::Seconds(5);
  if (options.export_timeout <= absl::ZeroDuration()) options.export_timeout = absl::Seconds(30);
  return options;
}

}  // namespace

void BatchSpanProcessor::SpanQueue::Push(std::unique_ptr<SpanData> span) {
  size_t tail = head_ + size_;  // < 2 * capacity: no division on every span's path
  if (tail >= slots_.size()) tail -= slots_.size();
  slots_[tail] = std::move(span);
  ++size_;
}

std::vector<std::unique_ptr<SpanData>> BatchSpanProcessor::SpanQueue::PopFront(size_t n) {
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.reserve(n);
  for (; n > 0; --n) {
    batch.push_back(std::move(slots_[head_]));
    if (++head_ == slots_.size()) head_ = 0;
    --size_;
  }
  return batch;
}

BatchSpanProcessor::BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter,
                                       const BatchSpanProcessorOptions& options,
                                       prometheus::Registry& registry)
    : exporter_(std::move(exporter)),
      options_(Sanitized(options)),
      dropped_queue_full_(DroppedFamily(registry).Add({{"reason", "queue_full"}})),
      dropped_export_failed_(DroppedFamily(registry).Add({{"reason", "export_failed"}})),
      dropped_shut_down_(DroppedFamily(registry).Add({{"reason", "shut_down"}})),
      queue_(options_.max_queue_size) {
  worker_ = std::thread([this] { Run(); });
}

BatchSpanProcessor::~BatchSpanProcessor() {
  Shutdown(options_.export_timeout).IgnoreError();
  worker_.join();
}

void BatchSpanProcessor::OnEnd(std::unique_ptr<SpanData> span) {
  absl::MutexLock lock(&mutex_);
  if (stopping_) {  // ended after the shutdown began (a span still open then): nowhere to go
    dropped_shut_down_.Increment();
    return;
  }
  if (queue_.full()) {
    dropped_queue_full_.Increment();
    return;
  }
  queue_.Push(std::move(span));
  if (queue_.size() >= options_.max_export_batch_size && !batch_signalled_) {
    batch_signalled_ = true;
    wake_worker_.Signal();
  }
}

absl::Status BatchSpanProcessor::ForceFlush(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  const uint64_t ticket = ++flushes_requested_;
  wake_worker_.Signal();
  const absl::Time deadline = absl::Now() + timeout;
  while (flushes_done_ < ticket && !stopped_) {
    if (progress_.WaitWithDeadline(&mutex_, deadline)) break;  // true: timed out
  }
  if (flushes_done_ >= ticket || stopped_) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat("span export did not finish within ", absl::FormatDuration(timeout)));
}

absl::Status BatchSpanProcessor::Shutdown(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  const absl::Time deadline = absl::Now() + timeout;
  if (!stopping_) {
    stopping_ = true;
    shutdown_deadline_ = deadline;
    wake_worker_.Signal();
  }
  while (!stopped_) {
    if (progress_.WaitWithDeadline(&mutex_, deadline)) break;
  }
  if (stopped_) return absl::OkStatus();
  // Time is up: the export in flight (started with a deadline of its own, up to export_timeout
  // away) ends now, and the worker drops what is left instead of sending it.
  exporter_->Abort();
  return absl::DeadlineExceededError(
      absl::StrCat("span export did not finish within ", absl::FormatDuration(timeout)));
}

void BatchSpanProcessor::ExportOneBatch() {
  const size_t n = std::min(queue_.size(), options_.max_export_batch_size);
  std::vector<std::unique_ptr<SpanData>> batch = queue_.PopFront(n);
  batch_signalled_ = false;
  absl::Time deadline = absl::Now() + options_.export_timeout;
  if (stopping_) deadline = std::min(deadline, shutdown_deadline_);

  // The lock is not held across I/O: RPCs keep queueing spans while the batch is in flight.
  mutex_.Unlock();
  const absl::Status status = exporter_->Export(batch, deadline);
  if (!status.ok()) {
    dropped_export_failed_.Increment(static_cast<double>(batch.size()));
    // One warning when exports start failing, not one per batch: the counter has the rest.
    HERMES_LOG(export_failing_ ? spdlog::level::debug : spdlog::level::warn, "span export failed")
        .Int("spans", static_cast<int64_t>(batch.size()))
        .Str("error", status.ToString());
    export_failing_ = true;
  } else if (export_failing_) {
    export_failing_ = false;
    HERMES_LOG(spdlog::level::info, "span export recovered");
  }
  batch.clear();  // free the spans before retaking the lock
  mutex_.Lock();
}

void BatchSpanProcessor::Run() {
  absl::MutexLock lock(&mutex_);
  absl::Time next_export = absl::Now() + options_.schedule_delay;
  while (true) {
    // Sleep until a batch is full, a flush or shutdown is asked for, or the delay has passed.
    while (!stopping_ && flushes_requested_ == flushes_done_ &&
           queue_.size() < options_.max_export_batch_size) {
      if (wake_worker_.WaitWithDeadline(&mutex_, next_export)) break;  // true: timed out
    }

    if (stopping_) {
      while (!queue_.empty() && absl::Now() < shutdown_deadline_) ExportOneBatch();
      if (!queue_.empty()) {
        dropped_export_failed_.Increment(static_cast<double>(queue_.size()));
        queue_.PopFront(queue_.size());  // the spans are freed here
      }
      flushes_done_ = flushes_requested_;
      stopped_ = true;
      progress_.SignalAll();
      return;
    }

    if (flushes_requested_ != flushes_done_) {
      // Everything queued now was handed over before the flush request (or with it): export
      // exactly that many, so a steady stream of new spans cannot starve the flush.
      const uint64_t ticket = flushes_requested_;
      size_t remaining = queue_.size();
      while (remaining > 0 && !stopping_) {
        const size_t n = std::min(remaining, options_.max_export_batch_size);
        ExportOneBatch();
        remaining -= n;
      }
      if (stopping_) continue;  // the shutdown branch finishes the job
      flushes_done_ = ticket;
      progress_.SignalAll();
    } else if (!queue_.empty()) {
      ExportOneBatch();
    }
    next_export = absl::Now() + options_.schedule_delay;
  }
}

}  // namespace hermes::tracing
