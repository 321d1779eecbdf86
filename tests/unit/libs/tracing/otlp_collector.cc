#include "tests/unit/libs/tracing/otlp_collector.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"

namespace hermes::testing {

namespace collector = ::opentelemetry::proto::collector::trace::v1;

std::unique_ptr<OtlpCollector> OtlpCollector::Start(int port) {
  auto collector = std::make_unique<OtlpCollector>();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                           &collector->port_);
  builder.RegisterService(collector.get());
  collector->server_ = builder.BuildAndStart();
  if (collector->server_ == nullptr || collector->port_ == 0) return nullptr;
  return collector;
}

OtlpCollector::~OtlpCollector() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
}

grpc::Status OtlpCollector::Export(grpc::ServerContext* context,
                                   const collector::ExportTraceServiceRequest* request,
                                   collector::ExportTraceServiceResponse*) {
  absl::MutexLock lock(&mutex_);
  if (holding_) {
    ++held_;
    // Bounded: a test that forgets Release() still ends.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return !holding_; };
    while (!context->IsCancelled() && absl::Now() < deadline &&
           !mutex_.AwaitWithTimeout(absl::Condition(&released), absl::Milliseconds(10))) {
    }
    if (holding_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "held, never answered");
  }
  if (to_refuse_ > 0) {
    --to_refuse_;
    ++refused_;
    return grpc::Status(refusal_, "refused by the test collector");
  }
  requests_.push_back(*request);
  received_at_.push_back(absl::Now());
  for (const auto& resource_spans : request->resource_spans()) {
    for (const auto& scope_spans : resource_spans.scope_spans()) {
      span_count_ += static_cast<size_t>(scope_spans.spans_size());
    }
  }
  last_headers_.clear();
  for (const auto& [key, value] : context->client_metadata()) {
    last_headers_.emplace(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
  }
  return grpc::Status::OK;
}

void OtlpCollector::Hold() {
  absl::MutexLock lock(&mutex_);
  holding_ = true;
}

void OtlpCollector::Release() {
  absl::MutexLock lock(&mutex_);
  holding_ = false;
}

void OtlpCollector::Refuse(int n, grpc::StatusCode code) {
  absl::MutexLock lock(&mutex_);
  to_refuse_ = n;
  refusal_ = code;
}

int OtlpCollector::Refused() {
  absl::MutexLock lock(&mutex_);
  return refused_;
}

bool OtlpCollector::AwaitHeld(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto held = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return held_ >= n; };
  return mutex_.AwaitWithTimeout(absl::Condition(&held), timeout);
}

std::vector<collector::ExportTraceServiceRequest> OtlpCollector::Requests() {
  absl::MutexLock lock(&mutex_);
  return requests_;
}

std::vector<OtlpCollector::ReceivedSpan> OtlpCollector::Spans() {
  absl::MutexLock lock(&mutex_);
  std::vector<ReceivedSpan> spans;
  for (size_t i = 0; i < requests_.size(); ++i) {
    for (const auto& resource_spans : requests_[i].resource_spans()) {
      const std::string service =
          AttributeOf(resource_spans.resource().attributes(), "service.name");
      for (const auto& scope_spans : resource_spans.scope_spans()) {
        for (const auto& span : scope_spans.spans()) {
          spans.push_back({service, scope_spans.scope().name(), span, received_at_[i]});
        }
      }
    }
  }
  return spans;
}

std::vector<OtlpCollector::ReceivedSpan> OtlpCollector::AwaitSpans(size_t n,
                                                                   absl::Duration timeout) {
  {
    absl::MutexLock lock(&mutex_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return span_count_ >= n; };
    mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  return Spans();
}

std::string OtlpCollector::LastHeader(const std::string& key) {
  absl::MutexLock lock(&mutex_);
  auto it = last_headers_.find(key);
  return it == last_headers_.end() ? "" : it->second;
}

std::string AttributeOf(const google::protobuf::RepeatedPtrField<
                            ::opentelemetry::proto::common::v1::KeyValue>& attributes,
                        const std::string& key) {
  for (const auto& kv : attributes) {
    if (kv.key() != key) continue;
    const auto& value = kv.value();
    switch (value.value_case()) {
      case ::opentelemetry::proto::common::v1::AnyValue::kStringValue:
        return value.string_value();
      case ::opentelemetry::proto::common::v1::AnyValue::kIntValue:
        return absl::StrCat(value.int_value());
      case ::opentelemetry::proto::common::v1::AnyValue::kDoubleValue:
        return absl::StrCat(value.double_value());
      case ::opentelemetry::proto::common::v1::AnyValue::kBoolValue:
        return value.bool_value() ? "true" : "false";
      default:
        return "<other>";
    }
  }
  return "";
}

bool HasAttribute(const google::protobuf::RepeatedPtrField<
                      ::opentelemetry::proto::common::v1::KeyValue>& attributes,
                  const std::string& key) {
  for (const auto& kv : attributes) {
    if (kv.key() == key) return true;
  }
  return false;
}

}  // namespace hermes::testing
