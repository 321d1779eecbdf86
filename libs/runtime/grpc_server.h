// GrpcServer: the gRPC server every Hermes service runs, built the same way for each.
//
// It owns what is common to all services: the listening port (SO_REUSEPORT off, so a port
// that is taken is an error instead of a silent second listener), the standard
// grpc.health.v1 service (HealthService: SERVING for "" and every registered service once
// started, NOT_FOUND for unknown names, NOT_SERVING while draining; its Watch streams count
// against `max_streams` and end at Shutdown), server reflection, and the
// completion queues and threads that serve the services' unary methods on the async API
// (a service that implements interceptor::ServesUnaryMethods, libs/interceptor/unary_methods.h).
//
//   auto server = GrpcServer::Start({.listen_address = "0.0.0.0:50051",
//                                    .credentials = grpc::InsecureServerCredentials(),
//                                    .services = {{&impl, UserService::service_full_name()}}});
//   if (!server.ok()) ...;              // e.g. the port is taken
//   ...
//   (*server)->Shutdown(absl::Seconds(10));
#pragma once

#include <grpcpp/completion_queue.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/interceptor/unary_methods.h"
#include "libs/runtime/health_service.h"

namespace hermes::runtime {

struct ServiceRegistration {
  grpc::Service* service;  // not owned; must outlive the server
  std::string name;        // full proto name, e.g. "user.v1.UserService": reported by health
};

struct ServerOptions {
  std::string listen_address;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::vector<ServiceRegistration> services;
  // The interceptor chain (libs/interceptor's ServerChain::InterceptorFactories()).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;

  // Capacity, set on purpose. The sync API holds one thread per running call: gRPC's sync
  // threads are capped at `max_streams + kUnaryThreadReserve`. The services' own methods run
  // on the async API (unary) and the callback API (streams), the handlers that wait on a
  // HandlerPool of at most interceptor::kDefaultHandlerThreads, so today the cap bounds gRPC's
  // reflection service and any sync service a test registers; the services refuse streams
  // beyond `max_streams` themselves (RESOURCE_EXHAUSTED), and so does the health service, for
  // its Watch streams, with a limit of its own of the same size. 0 = gRPC's defaults and
  // health Watch streams without a limit (tests).
  int max_streams = 0;
  int max_message_bytes = 4 * 1024 * 1024;           // both directions
  int max_concurrent_streams_per_connection = 1000;  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS

  // How long a client's connection may live (±10 %, gRPC's jitter) before the server sends it
  // GOAWAY, and how long the calls still running on it may go on after that. A client's channel
  // reconnects by itself; a new connection is a new handshake, against the certificates in force
  // then, so a client certificate or a CA rotated out stops being accepted within this age on
  // connections opened before the rotation too (authorization reads the peer's identity once a
  // connection). Infinite: gRPC's default.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  absl::Duration max_connection_age_grace = absl::InfiniteDuration();
};

// What the services use: connections re-handshake at least every half hour, and a stream still
// open five minutes after its connection's GOAWAY (a WatchUsers client) is ended UNAVAILABLE,
// to resume by sequence on a new connection.
inline constexpr absl::Duration kServiceMaxConnectionAge = absl::Minutes(30);
inline constexpr absl::Duration kServiceMaxConnectionAgeGrace = absl::Minutes(5);

// Sync-API threads kept on top of the long-lived streams a service allows.
inline constexpr int kUnaryThreadReserve = 64;
// Completion queues for the unary methods on the async API, one thread each. Measured on one
// server core (tests/bench/ab.sh, GetUser through the chain): one queue served ~20 % fewer
// calls than two, four ~5 % more than two at 16 in flight and ~13 % more at 64, eight the same
// as four (README, Decisions).
inline constexpr int kUnaryQueues = 4;

class GrpcServer {
 public:
  // Binds, starts serving and reports every service SERVING. Fails (without leaving anything
  // running) when the address cannot be bound. A service with UnaryMethods can be given to
  // one Start only (unary_methods.h).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(ServerOptions options);

  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

  // Health turns NOT_SERVING (load balancers and probes stop sending new work); calls are
  // still accepted until Shutdown().
  void MarkNotServing();

  // Drains: health turns NOT_SERVING, new calls are refused, running calls get `grace` to
  // finish and are cancelled after it. It returns once every handler has returned: a handler
  // on a HandlerPool answers a cancelled call when it is done, so a handler that never returns
  // holds it up (as a sync handler holds up gRPC's own Shutdown). Idempotent; the destructor
  // calls it with no grace.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;
  // Serves the unary methods' calls on `queues_` (RequestCalls, then a thread per queue).
  void StartUnaryQueues();
  // After the server shut down: no call is asked for any more, the queues drain and stop.
  void StopUnaryQueues();

  // The queues first, so that they outlive the server (gRPC's order).
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> queue_threads_;
  // Before the server, so that it outlives it (the server's calls use it until the end).
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::vector<interceptor::UnaryMethods*> unary_methods_;
  bool shut_down_ = false;
};

}  // namespace hermes::runtime
