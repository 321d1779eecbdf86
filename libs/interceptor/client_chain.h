// The client side of the chain, for service-to-service calls (order → user): the mirror of
// the server chain, so a call chain stays observable end to end.
//
// - OutgoingContext: the deadline of the incoming call (capped), its cancellation and its
//   request id carried to the outgoing one.
// - ClientChain: grpc_client_* metrics (the twins of the server's) and one log line per
//   failed call; with a TracerProvider, a CLIENT span per call (tracing.h), child of the
//   incoming call's SERVER span.
// - CreateServiceChannel: one channel per upstream service, with the chain installed,
//   round_robin over every address the target resolves to, and retries of UNAVAILABLE only,
//   from a service config.
//
//   auto chain = std::make_shared<ClientChain>(*registry, tracer_provider);  // null: no spans
//   auto channel = CreateServiceChannel({.target = "dns:///localhost:50051",
//                                        .credentials = MutualTlsChannelCredentials(...),
//                                        .service = "user.v1.UserService"}, chain);
//   auto context = OutgoingContext(server_context, absl::Seconds(2));
//   stub->GetUser(context.get(), request, &response);
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/client_interceptor.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libs/interceptor/metrics.h"
#include "libs/tracing/tracer.h"

namespace hermes::interceptor {

class ClientChain : public std::enable_shared_from_this<ClientChain> {
 public:
  // `tracer` null: no CLIENT spans (a caller's traceparent still passes through).
  explicit ClientChain(prometheus::Registry& registry, tracing::TracerProvider* tracer = nullptr)
      : metrics_(registry), tracer_(tracer) {}

  // `target` is the channel's target, for the client spans' server.address/server.port.
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
  InterceptorFactories(const std::string& target = "");

  ClientMetrics& metrics() { return metrics_; }
  tracing::TracerProvider* tracer() const { return tracer_; }

 private:
  ClientMetrics metrics_;
  tracing::TracerProvider* tracer_;
};

struct ChannelOptions {
  std::string target;  // e.g. "dns:///localhost:50051"
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string service;   // full name of the upstream service: what the retry policy covers
  int max_attempts = 3;  // the first try included
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Milliseconds(500);
  // The longest wait between two attempts to reconnect to an upstream that is down. gRPC's
  // default, 120 s, would keep calls failing for up to two minutes after a long outage ends.
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
};

std::shared_ptr<grpc::Channel> CreateServiceChannel(const ChannelOptions& options,
                                                    const std::shared_ptr<ClientChain>& chain);

// The service config CreateServiceChannel installs (exposed for tests and docs).
std::string ServiceConfigJson(const ChannelOptions& options);

// A context for a call made while serving `incoming`: its deadline is the incoming one or
// now + `max_deadline`, whichever is sooner; cancelling the incoming call cancels this one;
// the request id travels in `x-request-id`, and the incoming call's SERVER span (as the tracing
// stage rewrote it) in `traceparent`/`tracestate`, parent of the outgoing CLIENT span.
std::unique_ptr<grpc::ClientContext> OutgoingContext(const grpc::ServerContextBase& incoming,
                                                     absl::Duration max_deadline);

}  // namespace hermes::interceptor
