// OtlpExporter: sends spans to an OpenTelemetry collector (or Jaeger, which speaks OTLP on
// 4317) with OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export.
//
// The endpoint is a URL as OTEL_EXPORTER_OTLP_ENDPOINT has it: http://host:port is plaintext,
// https://host:port is TLS (the system's roots, or the PEM file in `certificate_file`); a bare
// host:port is TLS too, unless `insecure` (OTEL_EXPORTER_OTLP_INSECURE). Each export carries a
// deadline, so an unreachable or stuck collector costs the export thread at most that long and
// never an RPC. Export never throws: a failure comes back as the gRPC status, as an absl::Status.
//
//   auto exporter = OtlpExporter::Create({.endpoint = "http://localhost:4317",
//                                         .resource = {{"service.name", "order"}}});
//   if (!exporter.ok()) ...;  // malformed endpoint, unreadable certificate
//   absl::Status sent = (*exporter)->Export(batch, absl::Now() + absl::Seconds(10));
#pragma once

#include <grpcpp/client_context.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/tracing/span_processor.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace hermes::tracing {

struct OtlpExporterOptions {
  std::string endpoint = "http://localhost:4317";
  std::string certificate_file;  // PEM roots for https; "" = the system's
  // For an endpoint without a scheme only (OTEL_EXPORTER_OTLP_INSECURE): plaintext instead of
  // the specification's default, TLS.
  bool insecure = false;
  // gRPC metadata sent with every export (OTEL_EXPORTER_OTLP_HEADERS), keys lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  absl::Duration timeout = absl::Seconds(10);  // per export, on top of the caller's deadline
  // After an export found no collector (UNAVAILABLE), batches fail fast, with no request built,
  // until the channel is READY again or this long has passed; then one batch is sent as a
  // probe, so a collector that is reachable but whose channel never settles READY by itself
  // (idle connections closed between sparse exports) still gets the batches.
  absl::Duration probe_interval = absl::Seconds(5);
  // A batch the collector refused with a transient code (UNAVAILABLE, DEADLINE_EXCEEDED,
  // ABORTED, ... as the OTLP specification lists them) is sent again, after `retry_backoff`,
  // then twice that, ... (±20 % jitter, at most 5 s), at most `max_attempts` times in all, and
  // never past the export's deadline. Not once the channel has lost the collector
  // (TRANSIENT_FAILURE): the fail-fast above then takes over.
  int max_attempts = 5;
  absl::Duration retry_backoff = absl::Seconds(1);
  // The resource every span belongs to, service.name first (string attributes).
  std::vector<std::pair<std::string, std::string>> resource;
};

// Where an endpoint URL points: the gRPC target and whether to use TLS.
struct OtlpEndpoint {
  std::string target;  // host:port
  bool use_tls = false;
};

// http://host[:port][/...] -> plaintext, https://... -> TLS, host:port -> TLS unless
// `insecure` (the OpenTelemetry specification's OTEL_EXPORTER_OTLP_INSECURE, which applies only
// to an endpoint without a scheme). A missing port is 4317. InvalidArgument for another scheme,
// an empty host, or credentials in the URL (user:password@, which the message does not repeat).
absl::StatusOr<OtlpEndpoint> ParseOtlpEndpoint(absl::string_view endpoint, bool insecure = false);

class OtlpExporter final : public SpanExporter {
 public:
  // Makes the channel (connecting lazily: a collector that is down is not an error here).
  static absl::StatusOr<std::unique_ptr<OtlpExporter>> Create(const OtlpExporterOptions& options);

  // Over an existing channel (Create's work, minus endpoint parsing and credentials).
  OtlpExporter(const OtlpExporterOptions& options,
               const std::shared_ptr<grpc::ChannelInterface>& channel);

  absl::Status Export(const std::vector<std::unique_ptr<SpanData>>& batch,
                      absl::Time deadline) override;
  // Cancels the call in flight; later exports fail without a call.
  void Abort() override;

  // The request Export sends for `batch` (one ResourceSpans, one ScopeSpans per scope).
  ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest BuildRequest(
      const std::vector<std::unique_ptr<SpanData>>& batch) const;

 private:
  // One Export call with `request`, cancellable by Abort.
  grpc::Status Send(
      const ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request,
      absl::Time deadline);
  // Waits until `until`; false when Abort was called first (or before).
  bool SleepUnlessAborted(absl::Time until);

  const OtlpExporterOptions options_;
  ::opentelemetry::proto::resource::v1::Resource resource_;  // built once
  const std::shared_ptr<grpc::ChannelInterface> channel_;
  std::unique_ptr<::opentelemetry::proto::collector::trace::v1::TraceService::Stub> stub_;
  // After an export found no collector (UNAVAILABLE): when the next probe may be sent (Unix
  // nanoseconds); 0 when the last export reached the collector. Until then, batches on a
  // channel that is not READY fail fast. Export runs on one thread (the processor's), but tests
  // call it from theirs: atomic.
  std::atomic<int64_t> next_probe_unix_nanos_{0};
  absl::Mutex abort_mutex_;
  bool aborted_ ABSL_GUARDED_BY(abort_mutex_) = false;
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(abort_mutex_) = nullptr;
};

}  // namespace hermes::tracing
