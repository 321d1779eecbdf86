// Test doubles for the span pipeline: a processor that keeps every ended span, and an exporter
// whose behaviour (succeed, fail, block) each test scripts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/tracing/span_processor.h"

namespace hermes::testing {

// Keeps every span handed to it, in order.
class RecordingProcessor final : public tracing::SpanProcessor {
 public:
  void OnEnd(std::unique_ptr<tracing::SpanData> span) override {
    absl::MutexLock lock(&mutex_);
    spans_.push_back(std::move(span));
  }
  absl::Status ForceFlush(absl::Duration) override { return absl::OkStatus(); }
  absl::Status Shutdown(absl::Duration) override { return absl::OkStatus(); }

  // Copies of the spans so far.
  std::vector<tracing::SpanData> Spans() {
    absl::MutexLock lock(&mutex_);
    std::vector<tracing::SpanData> copies;
    for (const auto& span : spans_) copies.push_back(*span);
    return copies;
  }

 private:
  absl::Mutex mutex_;
  std::vector<std::unique_ptr<tracing::SpanData>> spans_ ABSL_GUARDED_BY(mutex_);
};

// Records each batch's size; returns `result`; while `blocked`, an Export waits (bounded by
// its deadline) until Unblock().
class ScriptedExporter final : public tracing::SpanExporter {
 public:
  struct State {
    absl::Mutex mutex;
    std::vector<size_t> batches ABSL_GUARDED_BY(mutex);     // sizes, in export order
    std::vector<std::string> names ABSL_GUARDED_BY(mutex);  // every exported span's, in order
    absl::Status result ABSL_GUARDED_BY(mutex) = absl::OkStatus();
    bool blocked ABSL_GUARDED_BY(mutex) = false;
    bool aborted ABSL_GUARDED_BY(mutex) = false;  // Abort() was called
    int in_export ABSL_GUARDED_BY(mutex) = 0;

    size_t ExportedSpans() {
      absl::MutexLock lock(&mutex);
      size_t total = 0;
      for (size_t n : batches) total += n;
      return total;
    }
    // Waits until `n` spans were exported or `timeout` passed; returns the count.
    size_t AwaitExportedSpans(size_t n, absl::Duration timeout) {
      absl::MutexLock lock(&mutex);
      auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
        size_t total = 0;
        for (size_t b : batches) total += b;
        return total >= n;
      };
      mutex.AwaitWithTimeout(absl::Condition(&done), timeout);
      size_t total = 0;
      for (size_t b : batches) total += b;
      return total;
    }
    void Unblock() {
      absl::MutexLock lock(&mutex);
      blocked = false;
    }
  };

  explicit ScriptedExporter(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void Abort() override {
    absl::MutexLock lock(&state_->mutex);
    state_->aborted = true;
  }

  absl::Status Export(const std::vector<std::unique_ptr<tracing::SpanData>>& batch,
                      absl::Time deadline) override {
    absl::MutexLock lock(&state_->mutex);
    ++state_->in_export;
    auto unblocked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mutex) {
      return !state_->blocked || state_->aborted;
    };
    const bool in_time = state_->mutex.AwaitWithDeadline(absl::Condition(&unblocked), deadline);
    --state_->in_export;
    if (!in_time) return absl::DeadlineExceededError("stuck exporter");
    if (state_->aborted) return absl::CancelledError("aborted");
    state_->batches.push_back(batch.size());
    for (const std::unique_ptr<tracing::SpanData>& span : batch)
      state_->names.push_back(span->name);
    return state_->result;
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace hermes::testing
