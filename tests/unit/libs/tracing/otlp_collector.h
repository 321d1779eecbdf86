// An in-test OTLP/gRPC collector: a real opentelemetry.proto.collector.trace.v1.TraceService
// on 127.0.0.1 that keeps what it receives, so tests check spans as Jaeger would get them.
#pragma once

#include <grpcpp/server.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace hermes::testing {

class OtlpCollector final
    : public ::opentelemetry::proto::collector::trace::v1::TraceService::Service {
 public:
  // Listens on 127.0.0.1 (port 0 picks one).
  static std::unique_ptr<OtlpCollector> Start(int port = 0);
  OtlpCollector() = default;  // not serving: use Start
  ~OtlpCollector() override;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  ::grpc::Status Export(
      ::grpc::ServerContext* context,
      const ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* request,
      ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse* response) override;

  // Every request so far.
  std::vector<::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest> Requests();
  // Every span so far, flattened, each with the resource's service.name it came with.
  struct ReceivedSpan {
    std::string service_name;
    std::string scope_name;
    ::opentelemetry::proto::trace::v1::Span span;
    absl::Time received_at;  // when its request was answered
  };
  std::vector<ReceivedSpan> Spans();
  // Waits until at least `n` spans arrived or `timeout` passed; returns the spans then.
  std::vector<ReceivedSpan> AwaitSpans(size_t n, absl::Duration timeout);
  // The metadata value of `key` in the last request ("" if absent).
  std::string LastHeader(const std::string& key);

  // From Hold() to Release(), an Export does not answer (as a collector that hangs) until its
  // caller cancels it; it is then kept only if released. Held() counts the requests held so far.
  void Hold();
  void Release();
  // Waits until `n` requests have been held or `timeout` passed; returns whether they were.
  bool AwaitHeld(int n, absl::Duration timeout);

  // The next `n` requests are answered `code` (a collector under pressure or restarting), and
  // not kept. Refused() counts the requests refused so far.
  void Refuse(int n, ::grpc::StatusCode code);
  int Refused();

 private:
  absl::Mutex mutex_;
  std::vector<::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest> requests_
      ABSL_GUARDED_BY(mutex_);
  std::vector<absl::Time> received_at_ ABSL_GUARDED_BY(mutex_);  // one per request
  size_t span_count_ ABSL_GUARDED_BY(mutex_) = 0;
  std::multimap<std::string, std::string> last_headers_ ABSL_GUARDED_BY(mutex_);
  bool holding_ ABSL_GUARDED_BY(mutex_) = false;
  int held_ ABSL_GUARDED_BY(mutex_) = 0;
  int to_refuse_ ABSL_GUARDED_BY(mutex_) = 0;
  ::grpc::StatusCode refusal_ ABSL_GUARDED_BY(mutex_) = ::grpc::StatusCode::OK;
  int refused_ ABSL_GUARDED_BY(mutex_) = 0;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// The attribute `key` of a span or resource, rendered as a string ("" when absent): string
// values as is, ints and doubles in decimal, bools as true/false.
std::string AttributeOf(const google::protobuf::RepeatedPtrField<
                            ::opentelemetry::proto::common::v1::KeyValue>& attributes,
                        const std::string& key);
bool HasAttribute(const google::protobuf::RepeatedPtrField<
                      ::opentelemetry::proto::common::v1::KeyValue>& attributes,
                  const std::string& key);

}  // namespace hermes::testing
