// SpanProcessor and SpanExporter: where ended spans go, as in the OpenTelemetry SDK.
//
// Span::End() hands a sampled span to the provider's SpanProcessor on the caller's thread (an
// RPC's, typically), so OnEnd must never block. The processor batches spans and gives them
// to a SpanExporter on its own thread (BatchSpanProcessor + OtlpExporter in production; tests
// plug in their own of either).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/tracing/span.h"

namespace hermes::tracing {

class SpanProcessor {
 public:
  virtual ~SpanProcessor() = default;

  // Takes an ended, sampled span. Called on the thread that ended it: must not block.
  virtual void OnEnd(std::unique_ptr<SpanData> span) = 0;

  // Exports every span handed over before the call; DeadlineExceeded if that takes longer
  // than `timeout`. Spans lost to export errors are counted, not reported here.
  virtual absl::Status ForceFlush(absl::Duration timeout) = 0;

  // Exports what is queued (within `timeout`) and stops; spans ended afterwards are ignored.
  // Idempotent.
  virtual absl::Status Shutdown(absl::Duration timeout) = 0;
};

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;

  // Sends one batch. Returns by `deadline` (give or take the transport's reaction time) and
  // never throws; a non-OK status means the batch is lost, and says why.
  virtual absl::Status Export(const std::vector<std::unique_ptr<SpanData>>& batch,
                              absl::Time deadline) = 0;

  // Makes an Export in flight return at once (an error) and every later one fail without
  // sending. The processor calls it when a shutdown's time is up, so that a collector that does
  // not answer cannot hold up the exit for the rest of an export's own timeout. Thread-safe.
  virtual void Abort() {}
};

}  // namespace hermes::tracing
