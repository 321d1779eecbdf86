#include "libs/tracing/span.h"

#include <algorithm>
#include <chrono>

#include "absl/time/clock.h"
#include "libs/tracing/span_processor.h"

namespace hermes::tracing {

int64_t NowUnixNanos() { return absl::GetCurrentTimeNanos(); }

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Span::Span(SpanContext context, std::unique_ptr<SpanData> data,
           std::shared_ptr<SpanProcessor> processor)
    : context_(std::move(context)), data_(std::move(data)), processor_(std::move(processor)) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();  // the span being replaced is finished, not lost
    context_ = std::move(other.context_);
    data_ = std::move(other.data_);
    processor_ = std::move(other.processor_);
  }
  return *this;
}

void Span::Set(absl::string_view key, AttributeValue value) {
  if (data_ == nullptr) return;
  for (Attribute& attribute : data_->attributes) {
    if (attribute.key == key) {
      attribute.value = std::move(value);
      return;
    }
  }
  if (data_->attributes.size() >= kMaxAttributesPerSpan) {
    ++data_->dropped_attributes_count;
    return;
  }
  data_->attributes.push_back(Attribute{std::string(key), std::move(value)});
}

void Span::SetAttribute(absl::string_view key, absl::string_view value) {
  if (data_ == nullptr) return;  // before building the std::string
  Set(key, AttributeValue(std::in_place_type<std::string>, value.data(), value.size()));
}

void Span::SetInt(absl::string_view key, int64_t value) {
  Set(key, AttributeValue(std::in_place_type<int64_t>, value));
}

void Span::SetAttribute(absl::string_view key, double value) {
  Set(key, AttributeValue(std::in_place_type<double>, value));
}

void Span::SetAttribute(absl::string_view key, bool value) {
  Set(key, AttributeValue(std::in_place_type<bool>, value));
}

void Span::SetStatus(SpanStatusCode code, absl::string_view description) {
  if (data_ == nullptr || code == SpanStatusCode::kUnset) return;
  if (data_->status == SpanStatusCode::kOk) return;
  data_->status = code;
  if (code == SpanStatusCode::kError) {
    data_->status_description.assign(description.data(), description.size());
  } else {
    data_->status_description.clear();
  }
}

void Span::End() {
  if (data_ == nullptr) return;
  data_->end_unix_nanos = data_->start_steady_nanos == 0
                              ? NowUnixNanos()
                              : data_->start_unix_nanos +
                                    std::max<int64_t>(SteadyNanos() - data_->start_steady_nanos, 0);
  std::unique_ptr<SpanData> data = std::move(data_);
  std::shared_ptr<SpanProcessor> processor = std::move(processor_);
  if (processor != nullptr) processor->OnEnd(std::move(data));
}

}  // namespace hermes::tracing
