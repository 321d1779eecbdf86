// ScopedSpan: a span a handler opens around part of its work (a database call, a computation
// worth seeing in the trace), ended when it goes out of scope.
//
//   grpc::Status OrderService::CreateOrder(grpc::ServerContext* context, ...) {
//     {
//       tracing::ScopedSpan span(*context, "orders.insert");
//       span.SetAttribute("db.system", "sqlite");
//       absl::Status inserted = store_.Insert(order);
//       if (!inserted.ok()) span.SetError(inserted.message());
//     }  // ended here
//     ...
//   }
//
// The span is an INTERNAL child of the call's SERVER span. It finds that span through the
// `traceparent` entry of the call's client metadata, which the server chain's tracing stage
// rewrites to the server span before the handler runs; so it costs a header parse and needs
// no thread-local "current span". The provider is the process-wide default one
// (DefaultTracerProvider()); with none (tracing off), or when the call is not sampled,
// ScopedSpan is a cheap no-op. Not thread-safe: one ScopedSpan belongs to one thread.
#pragma once

#include <utility>

#include "absl/strings/string_view.h"
#include "libs/tracing/span.h"
#include "libs/tracing/tracer.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace hermes::tracing {

// The scope ScopedSpan's spans report (OTLP InstrumentationScope.name).
inline constexpr char kHandlerScope[] = "hermes.handler";

class ScopedSpan {
 public:
  // A child of the call's server span, from the default provider.
  ScopedSpan(const grpc::ServerContextBase& context, absl::string_view name);
  // The same with an explicit provider (null: no-op).
  ScopedSpan(TracerProvider* provider, const grpc::ServerContextBase& context,
             absl::string_view name);
  // A child of another ScopedSpan (nested work), from the same provider.
  ScopedSpan(const ScopedSpan& parent, absl::string_view name);

  ~ScopedSpan() { span_.End(); }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

  // Span::SetAttribute's overloads (strings, integers, floating point, bool).
  template <typename T>
  ScopedSpan& SetAttribute(absl::string_view key, T&& value) {
    span_.SetAttribute(key, std::forward<T>(value));
    return *this;
  }
  // Marks the span failed, with a description for the trace viewer.
  ScopedSpan& SetError(absl::string_view description) {
    span_.SetStatus(SpanStatusCode::kError, description);
    return *this;
  }

  const SpanContext& context() const { return span_.context(); }
  Span& span() { return span_; }

 private:
  Tracer* tracer_ = nullptr;  // null: tracing off
  Span span_;
};

// The span context the server chain left in the call's client metadata (`traceparent`,
// `tracestate`): the call's server span. Invalid when there is none.
SpanContext ServerSpanContext(const grpc::ServerContextBase& context);

}  // namespace hermes::tracing
