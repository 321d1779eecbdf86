// Span: one timed operation of a trace (an RPC served, an RPC made, a database call), as the
// OpenTelemetry data model has it: name, kind, start and end, attributes, status, parent.
//
// Spans come from a Tracer (tracer.h). A span is owned by one piece of code at a time and is
// not thread-safe. End() hands a sampled span to the provider's processor, which exports it
// in the background; a span that goes out of scope unended is ended then (RAII), so none is
// lost on an early return.
//
//   Span span = tracer.StartSpan("user.v1.UserService/GetUser", SpanKind::kClient, parent);
//   span.SetAttribute("rpc.system", "grpc");
//   span.SetAttribute("rpc.grpc.status_code", 5);
//   span.SetStatus(SpanStatusCode::kError, "not found");
//   span.End();
//
// An unsampled span is "non-recording": it has a context (so its ids still propagate and
// appear in logs) but no data; every setter is a no-op and nothing is allocated for it.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "libs/tracing/span_context.h"

namespace hermes::tracing {

class SpanProcessor;

// The values are OTLP's Span.SpanKind numbers.
enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };

// The values are OTLP's Status.StatusCode numbers.
enum class SpanStatusCode { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttributeValue value;
};

// The library that made a span (OTLP's InstrumentationScope).
struct InstrumentationScope {
  std::string name;
  std::string version;
};

// OpenTelemetry's default attribute count limit: attributes beyond it are counted, not kept.
inline constexpr size_t kMaxAttributesPerSpan = 128;

// What a sampled span records; what the processor queues and the exporter sends.
struct SpanData {
  std::shared_ptr<const InstrumentationScope> scope;
  SpanContext context;
  SpanId parent_span_id;  // all zero for a root span
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nanos = 0;
  // The monotonic clock at the start (SteadyNanos; 0: unknown). The end is the start plus the
  // time measured on it, so that a wall clock stepped meanwhile (NTP) cannot make a span last
  // a negative or an hour-long time.
  int64_t start_steady_nanos = 0;
  int64_t end_unix_nanos = 0;
  std::vector<Attribute> attributes;
  uint32_t dropped_attributes_count = 0;
  SpanStatusCode status = SpanStatusCode::kUnset;
  std::string status_description;  // only with kError
};

class Span {
 public:
  // An invalid, non-recording span: what code gets when tracing is off.
  Span() = default;
  // A non-recording span with `context` (an unsampled span still has ids).
  explicit Span(SpanContext context) : context_(std::move(context)) {}
  // A recording span; Tracer makes these.
  Span(SpanContext context, std::unique_ptr<SpanData> data,
       std::shared_ptr<SpanProcessor> processor);

  ~Span() { End(); }
  Span(Span&& other) noexcept = default;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  // Valid for the life of the span, ended or not.
  const SpanContext& context() const { return context_; }
  // Sampled and not yet ended: setters have an effect.
  bool IsRecording() const { return data_ != nullptr; }

  // Sets (or replaces) an attribute. Overloads cover strings, every integer type (stored as
  // int64), floating point and bool; a string literal is a string, not a bool.
  void SetAttribute(absl::string_view key, absl::string_view value);
  void SetAttribute(absl::string_view key, const char* value) {
    SetAttribute(key, absl::string_view(value));
  }
  template <std::integral Int>
  requires(!std::same_as<Int, bool>) void SetAttribute(absl::string_view key, Int value) {
    SetInt(key, static_cast<int64_t>(value));
  }
  void SetAttribute(absl::string_view key, double value);
  void SetAttribute(absl::string_view key, bool value);

  // OpenTelemetry's rules: kOk is final; kUnset is ignored; the description is kept only with
  // kError.
  void SetStatus(SpanStatusCode code, absl::string_view description = "");

  // Stamps the end time and hands the span to the processor (never blocks: the processor
  // queues it or drops and counts it). Later calls, and calls on non-recording spans, do
  // nothing.
  void End();

 private:
  void SetInt(absl::string_view key, int64_t value);
  void Set(absl::string_view key, AttributeValue value);

  SpanContext context_;
  std::unique_ptr<SpanData> data_;  // null: not recording (unsampled, or ended)
  std::shared_ptr<SpanProcessor> processor_;
};

// The current time as OTLP wants it.
int64_t NowUnixNanos();
// The monotonic clock (CLOCK_MONOTONIC), for durations.
int64_t SteadyNanos();

}  // namespace hermes::tracing
