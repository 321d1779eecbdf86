#include "libs/tracing/tracer.h"

#include <utility>

#include "absl/random/random.h"
#include "libs/tracing/span_processor.h"

namespace hermes::tracing {
namespace {

std::atomic<TracerProvider*> default_provider{nullptr};

// One generator per thread: no lock on the hot path. absl::BitGen seeds itself from the OS.
absl::BitGen& Generator() {
  thread_local absl::BitGen generator;
  return generator;
}

template <size_t N>
Id<N> RandomId() {
  std::array<uint8_t, N> bytes;
  Id<N> id;
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t word = absl::Uniform<uint64_t>(Generator());
      for (size_t j = 0; j < 8 && i + j < N; ++j)
        bytes[i + j] = static_cast<uint8_t>(word >> 8 * j);
    }
    id = Id<N>(bytes);
  } while (!id.IsValid());  // all zero is the invalid id: draw again (once in 2^64 or more)
  return id;
}

}  // namespace

TraceId NewTraceId() { return RandomId<TraceId::kSize>(); }
SpanId NewSpanId() { return RandomId<SpanId::kSize>(); }

Span Tracer::StartSpan(absl::string_view name, SpanKind kind, const SpanContext& parent) const {
  const bool has_parent = parent.IsValid();
  SpanContext context;
  context.trace_id = has_parent ? parent.trace_id : NewTraceId();
  context.span_id = NewSpanId();
  if (has_parent) context.trace_state = parent.trace_state;
  const bool sampled = !provider_->shut_down_.load(std::memory_order_relaxed) &&
                       provider_->sampler_.ShouldSample(parent, context.trace_id);
  if (!sampled) return Span(std::move(context));

  context.trace_flags = kSampledFlag;
  auto data = std::make_unique<SpanData>();
  data->scope = scope_;
  data->context = context;
  if (has_parent) data->parent_span_id = parent.span_id;
  data->name.assign(name.data(), name.size());
  data->kind = kind;
  data->start_unix_nanos = NowUnixNanos();
  data->start_steady_nanos = SteadyNanos();
  data->attributes.reserve(8);  // what an RPC span sets: one allocation, not four
  return Span(std::move(context), std::move(data), provider_->processor_);
}

TracerProvider::TracerProvider(Sampler sampler, std::shared_ptr<SpanProcessor> processor)
    : sampler_(std::move(sampler)), processor_(std::move(processor)) {}

TracerProvider::~TracerProvider() {
  if (!shut_down_.load()) Shutdown(absl::Seconds(30)).IgnoreError();
}

Tracer& TracerProvider::GetTracer(absl::string_view scope_name, absl::string_view scope_version) {
  absl::MutexLock lock(&mutex_);
  auto by_name = tracers_.find(scope_name);
  if (by_name == tracers_.end()) by_name = tracers_.try_emplace(std::string(scope_name)).first;
  auto& by_version = by_name->second;
  auto it = by_version.find(scope_version);
  if (it == by_version.end()) {
    auto scope = std::make_shared<const InstrumentationScope>(
        InstrumentationScope{std::string(scope_name), std::string(scope_version)});
    it = by_version.try_emplace(std::string(scope_version), Tracer::Key(), this, std::move(scope))
             .first;
  }
  return it->second;
}

absl::Status TracerProvider::ForceFlush(absl::Duration timeout) {
  if (processor_ == nullptr) return absl::OkStatus();
  return processor_->ForceFlush(timeout);
}

absl::Status TracerProvider::Shutdown(absl::Duration timeout) {
  shut_down_.store(true);
  if (processor_ == nullptr) return absl::OkStatus();
  return processor_->Shutdown(timeout);
}

void SetDefaultTracerProvider(TracerProvider* provider) {
  default_provider.store(provider, std::memory_order_release);
}

TracerProvider* DefaultTracerProvider() { return default_provider.load(std::memory_order_acquire); }

}  // namespace hermes::tracing
