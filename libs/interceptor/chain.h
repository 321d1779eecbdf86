// The server interceptor chain, assembled here and nowhere else:
//
//     recovery → auth → logging → metrics → tracing
//
// recovery  an exception escaping a handler becomes INTERNAL + AppError; counted; logged
// auth      the peer's verified identity on the call (authorization already happened, in
//           libs/authz, before the call reached the chain)
// logging   one JSON line per finished RPC
// metrics   go-grpc-prometheus series per method
// tracing   W3C traceparent in, SERVER span out (tracing.h); only with a TracerProvider
//
// Around the stages the chain also owns the request id: the caller's `x-request-id` (or a new
// one) is put on the call, added to the request metadata the handler sees (so handlers and
// the client chain can pass it on) and returned in the response headers.
//
//   auto chain = ServerChain::Create({.services = {"user.v1.UserService"},
//                                     .registry = telemetry::MetricsRegistry().get()});
//   builder.experimental().SetInterceptorCreators((*chain)->InterceptorFactories());
#pragma once

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/interceptor/method_table.h"
#include "libs/interceptor/server_call.h"
#include "libs/tracing/tracer.h"

namespace hermes::interceptor {

struct ServerChainOptions {
  // The application services (full names). Health and reflection are added automatically.
  std::vector<std::string> services;
  prometheus::Registry* registry = nullptr;
  // Spans for every call (TracingStage, last in the chain); null: no tracing stage.
  tracing::TracerProvider* tracer = nullptr;
  // The server.address / server.port span attributes ("" / 0: not set).
  std::string server_address;
  int server_port = 0;
};

class ServerChain : public std::enable_shared_from_this<ServerChain> {
 public:
  static absl::StatusOr<std::shared_ptr<ServerChain>> Create(const ServerChainOptions& options);

  // For ServerBuilder::experimental().SetInterceptorCreators. The factories keep the chain
  // alive for as long as the server holds them.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  InterceptorFactories();

  const MethodTable& methods() const { return methods_; }
  const std::vector<std::unique_ptr<ServerStage>>& stages() const { return stages_; }

 private:
  explicit ServerChain(MethodTable methods) : methods_(std::move(methods)) {}

  MethodTable methods_;
  std::vector<std::unique_ptr<ServerStage>> stages_;  // in chain order
};

}  // namespace hermes::interceptor
