#include "libs/tracing/scoped_span.h"

#include <grpcpp/server_context.h>

namespace hermes::tracing {

SpanContext ServerSpanContext(const grpc::ServerContextBase& context) {
  SpanContext parent = ExtractSpanContextFrom(context.client_metadata());
  // The server span lives in this process: its children are local, not remote.
  parent.is_remote = false;
  return parent;
}

ScopedSpan::ScopedSpan(const grpc::ServerContextBase& context, absl::string_view name)
    : ScopedSpan(DefaultTracerProvider(), context, name) {}

ScopedSpan::ScopedSpan(TracerProvider* provider, const grpc::ServerContextBase& context,
                       absl::string_view name) {
  if (provider == nullptr) return;
  tracer_ = &provider->GetTracer(kHandlerScope);
  span_ = tracer_->StartSpan(name, SpanKind::kInternal, ServerSpanContext(context));
}

ScopedSpan::ScopedSpan(const ScopedSpan& parent, absl::string_view name) : tracer_(parent.tracer_) {
  if (tracer_ == nullptr) return;
  span_ = tracer_->StartSpan(name, SpanKind::kInternal, parent.context());
}

}  // namespace hermes::tracing
