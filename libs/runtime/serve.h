// Serve: the life of a Hermes service process, shared by every main.cc.
//
//   const TerminationSignals signals;                  // before any thread starts
//   auto config = LoadServerConfig(argc, argv, ...);   // exit 2 on a bad flag
//   const ProcessLogging logging(*config);             // JSON lines from here on
//   const ProcessTracing tracing(*config);             // OTEL_* environment
//   auto tls = StartProcessTls(*config);               // --tls_*, checked and watched
//   if (!tls.ok()) return 1;                           // (logged)
//   ... open the store, build the service ...
//   return Serve(*config, tls->get(), {{&service, name}}, signals, on_drain);
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/runtime/grpc_server.h"
#include "libs/runtime/server_config.h"
#include "libs/runtime/termination_signals.h"
#include "libs/runtime/tls_material.h"
#include "libs/tracing/tracer.h"

namespace hermes::runtime {

// The process's JSON logging (gRPC's and protobuf's own lines included), for the life of
// main(): construct it right after the configuration is loaded, so that everything after it —
// opening stores, Serve() — logs the same way.
class ProcessLogging {
 public:
  explicit ProcessLogging(const ServerConfig& config);
  ~ProcessLogging();
  ProcessLogging(const ProcessLogging&) = delete;
  ProcessLogging& operator=(const ProcessLogging&) = delete;
};

// The process's tracer provider, from the standard OTEL_* environment variables (OTLP/gRPC
// export, sampling, batching), installed as the process-wide default for the life of main().
// Construct it after ProcessLogging. Serve() shuts the provider down (exporting the queued
// spans, bounded) once the server has drained, before main's destructors close the store; this
// destructor does it when Serve did not run. Tracing never stops a service from starting: a bad
// setting is logged and tracing is off.
class ProcessTracing {
 public:
  explicit ProcessTracing(const ServerConfig& config);
  ~ProcessTracing();
  ProcessTracing(const ProcessTracing&) = delete;
  ProcessTracing& operator=(const ProcessTracing&) = delete;

  tracing::TracerProvider* provider() const { return provider_.get(); }

 private:
  std::unique_ptr<tracing::TracerProvider> provider_;
};

// The process's mTLS material, for the life of main(): the --tls_* files read and checked (a bad
// one is a start-up error naming its flag; logged here), then watched, every change checked
// before it is put in force (see tls_material.h), each reload logged and reported in
// hermes_config_last_reload_successful{config="tls"}, and the certificate's expiry in
// hermes_tls_certificate_expiry_timestamp_seconds. Null with --insecure. The server Serve()
// builds and any channel a service opens to another (MutualTlsChannelCredentials of in_force())
// share it; it must outlive them.
absl::StatusOr<std::unique_ptr<TlsMaterial>> StartProcessTls(const ServerConfig& config);

// Sets up the /metrics endpoint, mTLS (from `tls`, a StartProcessTls result) with the authorization
// policy enforced before any handler (or plaintext with --insecure), the interceptor chain (with
// tracing when a ProcessTracing is alive), health and reflection; reports SERVING; waits for
// SIGTERM, SIGINT or SIGHUP; drains within the grace period, then exports the queued spans and
// stops tracing (ARCHITECTURE.md's order: the caller closes its store after Serve returns). Returns
// the process exit code: 0 after a clean stop, 1 when start-up failed (the reason is logged).
//
// `on_drain` runs when a termination signal arrives, after health turned NOT_SERVING and
// before the server drains: services end their long-lived streams there (UNAVAILABLE,
// resumable), so draining does not wait the whole grace period for them.
int Serve(const ServerConfig& config, const TlsMaterial* tls,
          std::vector<ServiceRegistration> services, const TerminationSignals& signals,
          std::function<void()> on_drain = nullptr);

}  // namespace hermes::runtime
