// Tracing: W3C Trace Context in, a SERVER span per call, and a CLIENT span per outgoing call,
// with the OpenTelemetry RPC semantic conventions, so that a request is one trace across
// services (order → user: the user call is a child of the CreateOrder span).
//
// Server side, TracingStage (last in the server chain):
//   OnStart   reads `traceparent`/`tracestate` (malformed: a new trace starts, never an
//             error), starts the span `package.Service/Method` of kind SERVER with
//             rpc.system=grpc, rpc.service, rpc.method, server.address, server.port,
//             network.peer.address, network.peer.port; puts the span's ids on the call (for
//             the log line); and rewrites the request's `traceparent` to the server span, so
//             the handler's ScopedSpans and outgoing calls (OutgoingContext copies the entry)
//             become its children.
//   OnFinish  rpc.grpc.status_code; status Error for the codes that are the server's fault
//             (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS),
//             unset otherwise; ends the span (queued for export, never waited on).
//
// Client side, two calls from the client chain's interceptor:
//
//   // PRE_SEND_INITIAL_METADATA
//   span_ = StartClientSpan(provider, info->method(), target, methods->GetSendInitialMetadata());
//   // POST_RECV_STATUS
//   EndClientSpan(span_, *methods->GetRecvStatus());
//
// With no provider (tracing off) the stage and both calls do nothing, and a `traceparent`
// passes through unchanged. Health checks are not traced unless asked for (TracingOptions).
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "libs/interceptor/server_call.h"
#include "libs/tracing/span.h"
#include "libs/tracing/tracer.h"

namespace hermes::interceptor {

// The instrumentation scope of the RPC spans (OTLP InstrumentationScope.name).
inline constexpr char kRpcTracingScope[] = "hermes.interceptor";

struct TracingOptions {
  tracing::TracerProvider* provider = nullptr;  // null: the stage does nothing
  std::string server_address;                   // server.address; "" = not set
  int server_port = 0;                          // server.port; 0 = not set
  // Health probes (every few seconds, from every orchestrator and load balancer) would bury
  // the real traces; by default they get no span (and no trace id in their debug log line).
  bool trace_health_checks = false;
};

class TracingStage final : public ServerStage {
 public:
  explicit TracingStage(const TracingOptions& options);

  void OnStart(ServerCall& call) override;
  void OnFinish(ServerCall& call, grpc::Status& status) override;

  // server.port from now on: the port the server got, for one that listens on port 0.
  void SetServerPort(int port) { server_port_.store(port, std::memory_order_relaxed); }

 private:
  const TracingOptions options_;
  tracing::Tracer* tracer_ = nullptr;
  std::atomic<int> server_port_;
};

// The server-side rule of the OpenTelemetry gRPC conventions: a span status Error only for the
// codes that mean the server failed; the caller's mistakes (NOT_FOUND, INVALID_ARGUMENT, ...)
// leave it unset.
bool IsServerSpanError(grpc::StatusCode code);

// Starts the CLIENT span of an outgoing call to `method_path` ("/package.Service/Method") on
// channel `target` (e.g. "dns:///localhost:50051": server.address/server.port when it names a
// host and port). Its parent is the `traceparent` already in `send_metadata` (the incoming
// call's server span, copied by OutgoingContext), else it starts a new trace. Replaces
// `traceparent`/`tracestate` in `send_metadata` with the client span's. A no-op span, and
// metadata untouched, when `provider` is null.
tracing::Span StartClientSpan(tracing::TracerProvider* provider, absl::string_view method_path,
                              absl::string_view target,
                              std::multimap<std::string, std::string>* send_metadata);

// rpc.grpc.status_code; status Error (with the message) for any non-OK code; ends the span.
void EndClientSpan(tracing::Span& span, const grpc::Status& status);

// A host (IP address, name or unix socket path) and port (0: none).
struct HostPort {
  std::string host;
  int port = 0;
};

// gRPC's peer string ("ipv4:127.0.0.1:1234", "ipv6:[::1]:1234", its percent-encoded form
// "ipv6:%5B::1%5D:1234", "unix:/path") as address and port; nullopt for anything else.
absl::optional<HostPort> ParseGrpcPeer(absl::string_view peer);

// A channel target ("dns:///host:port", "dns://authority/host:port", "ipv4:1.2.3.4:80",
// "ipv6:[::1]:80", "[::1]:80", "host:port", "host") as host and port; nullopt for unix sockets
// and anything without a host.
absl::optional<HostPort> ParseChannelTarget(absl::string_view target);

}  // namespace hermes::interceptor
