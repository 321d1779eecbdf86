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
//
// Three drivers run the stages, with the same code (ChainedCall): a gRPC interceptor, for every
// call of the server but those below; UnaryMethods (unary_methods.h), for the unary methods it
// answers, whose calls it sees arrive and answers itself; and the stream reactors (StreamPump,
// libs/streams/stream_pump.h, and UploadOrderEvents'), for the streaming methods a service names
// (DrivesChain), whose every read, write and finish they start. gRPC's interception dispatches
// hooks on every batch of a call and allocates for it: ~7k instructions of a GetUser's ~85k
// (tests/bench/instructions.sh), and ~17 % of the server CPU a watcher's event takes
// (tests/bench/HISTORY.md), which those calls no longer pay. The chain tells them apart by their
// context (a ChainedServerContext gets a ChainedCall instead of an interceptor) and the streams by
// their method (ServerChainOptions.driven_by_handlers: their handlers make their own ChainedCall).
// So a server installs one chain and no other server interceptor: another factory would see those
// calls' metadata before the chain had settled the request id and trace context, and their
// status after the chain had rewritten it.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "libs/interceptor/method_table.h"
#include "libs/interceptor/server_call.h"
#include "libs/interceptor/tracing.h"
#include "libs/tracing/tracer.h"

namespace hermes::interceptor {

struct ServerChainOptions {
  // The application services (full names). Health and reflection are added automatically.
  std::vector<std::string> services;
  prometheus::Registry* registry = nullptr;
  // Spans for every call (TracingStage, last in the chain); null: no tracing stage.
  tracing::TracerProvider* tracer = nullptr;
  // The server.address / server.port span attributes ("" / 0: not set; see SetServerPort).
  std::string server_address;
  int server_port = 0;
  // Methods (full paths, "/pkg.Service/Method") whose handlers drive a ChainedCall themselves
  // (a DrivesChain service's): their calls get no interceptor.
  std::vector<std::string> driven_by_handlers;
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
  // Whether calls of `path` are driven by their handlers (ServerChainOptions).
  bool IsDrivenByHandler(absl::string_view path) const {
    return driven_by_handlers_.contains(path);
  }

  // The server.port of the spans from now on (ServerChainOptions.server_port): what a server
  // listening on port 0 learns once it has started.
  void SetServerPort(int port);

 private:
  explicit ServerChain(MethodTable methods) : methods_(std::move(methods)) {}

  MethodTable methods_;
  std::vector<std::unique_ptr<ServerStage>> stages_;  // in chain order
  TracingStage* tracing_ = nullptr;                   // among stages_; null without a tracer
  absl::flat_hash_set<std::string> driven_by_handlers_;
};

// Implemented by a service some of whose handlers drive the chain themselves (its stream
// reactors): runtime::Serve asks it for those methods before it builds the chain, and gives
// it the chain once built (not with --bench_no_chain: the handlers then drive none).
class DrivesChain {
 public:
  // Full paths, "/pkg.Service/Method".
  virtual std::vector<std::string> ChainDrivenMethods() const = 0;
  // Before the server starts.
  virtual void UseChain(std::shared_ptr<const ServerChain> chain) = 0;

 protected:
  ~DrivesChain() = default;
};

// One call's pass through the chain's stages, for whichever driver sees the call's events.
// Not thread-safe, except MessageReceived against the rest (a bidirectional stream's request
// may arrive while the server finishes the call).
class ChainedCall {
 public:
  // `path`: the :path as called; copied if no method of the chain has it.
  ChainedCall(std::shared_ptr<const ServerChain> chain, absl::string_view path,
              grpc::ServerContextBase* context);
  // A started call that did not finish (its status never passed through the driver: the
  // client went away first) finishes now, as CANCELLED, so in-flight gauges return to zero.
  ~ChainedCall();
  ChainedCall(const ChainedCall&) = delete;
  ChainedCall& operator=(const ChainedCall&) = delete;

  // The request's headers arrived: the request id is settled (the caller's, or a new one) and
  // put into `metadata`, the request metadata the handler will see, and the stages start.
  void Start(std::multimap<grpc::string_ref, grpc::string_ref>& metadata);
  // Start, for a driver that holds the call's context rather than gRPC's hook points
  // (UnaryMethods, the stream reactors): on the context's own request metadata (the map gRPC
  // hands an interceptor to rewrite; not const), and with the request id added to the response
  // headers, which go out with the call's first response or its status.
  void StartOnContext();
  // For a stream reactor of a DrivesChain service, first thing in its method's handler: a call
  // started on its context into `call`, unless `chain` is null (a server without one, or
  // --bench_no_chain) or does not list `path` as driven by its handler (its interceptor is then
  // on the call, and driving it here too would count the call twice).
  static void BeginIfDriven(std::optional<ChainedCall>& call,
                            std::shared_ptr<const ServerChain> chain, absl::string_view path,
                            grpc::ServerContextBase* context);
  void MessageReceived();
  void MessageSent();
  // Before the status is sent; the stages may rewrite `status`, but an error stays an error (a
  // stage that made it OK is overruled: there is no response to send). Once only, and only after
  // Start. A stream whose caller went away is reported CANCELLED whatever its handler says
  // (nobody receives it; cancellations must not inflate error rates), and `status` is left as
  // it is.
  void Finish(grpc::Status& status);
  // A started call not yet finished finishes as CANCELLED: for a driver told the call ended
  // without its status (a stream's OnDone). The stages may still use the call's context.
  void EndIfUnfinished();

  const ServerCall& call() const { return call_; }
  // For the x-request-id response header; set by Start.
  const std::string& request_id() const { return call_.request_id; }

 private:
  // `hook` for each stage in chain order. A stage that throws (an allocation failing, in a log
  // line) is skipped for that hook: the call must go on and end, or a stream's reactor and slot,
  // a unary call's answer and the in-flight gauge would be kept for good.
  template <typename Hook>
  void RunStages(const Hook& hook) {
    for (const auto& stage : chain_->stages()) {
      try {
        hook(*stage);
      } catch (...) {
      }
    }
  }

  std::shared_ptr<const ServerChain> chain_;
  std::string unknown_path_;
  ServerCall call_;
  bool started_ = false;
  bool finished_ = false;
};

// The context of a call whose driver runs the chain itself (UnaryMethods): the chain's
// interceptor factory installs no interceptor on it and begins a ChainedCall here instead. With
// no chain on the server, chained_call() stays null.
class ChainedServerContext final : public grpc::ServerContext {
 public:
  ChainedCall* chained_call() { return chained_call_ ? &*chained_call_ : nullptr; }
  // For the chain's interceptor factory, as the call arrives (once: one chain a server).
  void BeginChain(std::shared_ptr<const ServerChain> chain, absl::string_view path) {
    chained_call_.emplace(std::move(chain), path, this);
  }

 private:
  std::optional<ChainedCall> chained_call_;  // destroyed before the context it points to
};

}  // namespace hermes::interceptor
