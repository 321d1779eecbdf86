// TracerProvider and Tracer: where spans start.
//
// One TracerProvider per process, made in the service's start-up path (from the environment:
// tracing_config.h's CreateTracerProvider) and passed explicitly to what starts spans (the
// server and client interceptor chains). It owns the sampler and the span processor; spans
// hold a reference to the processor, so a span that ends late never touches freed memory.
//
//   std::unique_ptr<TracerProvider> provider = CreateTracerProvider(config, registry);
//   Tracer& tracer = provider->GetTracer("hermes.interceptor");
//   Span span = tracer.StartSpan("order.v1.OrderService/CreateOrder", SpanKind::kServer, parent);
//   ...
//   provider->Shutdown(absl::Seconds(5));  // after the server drained: exports what is queued
//
// Ids come from a per-thread absl::BitGen (no lock). An unsampled span costs an id and a
// SpanContext copy: no allocation beyond a tracestate, nothing queued, nothing exported.
//
// The process-wide default provider. Handler code that opens its own spans (ScopedSpan) has no
// provider at hand; the runtime registers the process's provider once at start-up with
// SetDefaultTracerProvider and clears it before destroying it. Like the metrics registry, it
// is an explicitly process-wide registry; nothing else in the tracing library reads it.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/tracing/sampler.h"
#include "libs/tracing/span.h"
#include "libs/tracing/span_context.h"

namespace hermes::tracing {

class SpanProcessor;
class TracerProvider;

// Starts spans on behalf of one instrumentation scope (the library that makes them).
// Obtained from TracerProvider::GetTracer; lives as long as the provider. Thread-safe.
class Tracer {
 public:
  // A span named `name` of kind `kind`, child of `parent` when that is valid (same trace id,
  // parent span id set, tracestate inherited), else the root of a new trace. Whether it is
  // sampled is the provider's sampler's decision. After the provider's Shutdown, every span
  // is non-recording.
  Span StartSpan(absl::string_view name, SpanKind kind, const SpanContext& parent = {}) const;

  const InstrumentationScope& scope() const { return *scope_; }

  // Only TracerProvider can make a Key, so only it makes Tracers (in place, in its map).
  class Key {
    friend class TracerProvider;
    Key() = default;
  };
  Tracer(Key, const TracerProvider* provider, std::shared_ptr<const InstrumentationScope> scope)
      : provider_(provider), scope_(std::move(scope)) {}
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

 private:
  const TracerProvider* provider_;
  std::shared_ptr<const InstrumentationScope> scope_;
};

class TracerProvider {
 public:
  // `processor` receives every sampled span when it ends; null means spans are sampled and
  // carry ids (log lines, propagation) but are never exported.
  TracerProvider(Sampler sampler, std::shared_ptr<SpanProcessor> processor);
  // Shuts down (exporting what is queued) if Shutdown was not called.
  ~TracerProvider();
  TracerProvider(const TracerProvider&) = delete;
  TracerProvider& operator=(const TracerProvider&) = delete;

  // The tracer for a scope, made on first use; the same one for the same name and version.
  Tracer& GetTracer(absl::string_view scope_name, absl::string_view scope_version = "");

  const Sampler& sampler() const { return sampler_; }

  // See SpanProcessor::ForceFlush. OK when there is no processor.
  absl::Status ForceFlush(absl::Duration timeout);
  // Stops recording spans, then exports what is queued within `timeout` and stops the
  // processor. Idempotent.
  absl::Status Shutdown(absl::Duration timeout);

 private:
  friend class Tracer;

  Sampler sampler_;
  std::shared_ptr<SpanProcessor> processor_;
  std::atomic<bool> shut_down_{false};
  absl::Mutex mutex_;
  // scope name -> scope version -> tracer. Looked up by string_view, without building a key;
  // node_hash_map: Tracer addresses stay stable.
  absl::node_hash_map<std::string, absl::node_hash_map<std::string, Tracer>> tracers_
      ABSL_GUARDED_BY(mutex_);
};

// Random ids for new spans and traces: never all zero.
TraceId NewTraceId();
SpanId NewSpanId();

// The process-wide default provider (see the top of this file). null: tracing is off.
void SetDefaultTracerProvider(TracerProvider* provider);
TracerProvider* DefaultTracerProvider();

}  // namespace hermes::tracing
