#include "libs/runtime/serve.h"

#include <utility>

#include "libs/interceptor/chain.h"
#include "libs/runtime/security.h"
#include "libs/telemetry/log.h"
#include "libs/telemetry/metrics.h"

namespace hermes::runtime {
namespace {

int StartAndServe(const ServerConfig& config, std::vector<ServiceRegistration> services,
                  const TerminationSignals& signals) {
  const std::shared_ptr<prometheus::Registry> registry = telemetry::MetricsRegistry();

  std::vector<std::string> names;
  for (const ServiceRegistration& service : services) names.push_back(service.name);
  absl::StatusOr<std::shared_ptr<interceptor::ServerChain>> chain =
      interceptor::ServerChain::Create({.services = names, .registry = registry.get()});
  if (!chain.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot build the interceptor chain")
        .Str("error", chain.status().message());
    return 1;
  }

  absl::StatusOr<std::unique_ptr<ServerSecurity>> security =
      ServerSecurity::Create(config, *chain, registry);
  if (!security.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot set up mTLS and authorization")
        .Str("error", security.status().message());
    return 1;
  }

  absl::StatusOr<std::unique_ptr<telemetry::MetricsEndpoint>> metrics =
      telemetry::MetricsEndpoint::Start(config.metrics_addr, registry);
  if (!metrics.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot serve /metrics")
        .Str("error", metrics.status().message());
    return 1;
  }

  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({.listen_address = config.grpc_addr,
                         .credentials = (*security)->credentials(),
                         .services = std::move(services),
                         .interceptors = (*chain)->InterceptorFactories()});
  if (!server.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot serve gRPC").Str("error", server.status().message());
    return 1;
  }
  HERMES_LOG(spdlog::level::info, "serving")
      .Str("grpc_addr", config.grpc_addr)
      .Int("grpc_port", (*server)->port())
      .Str("metrics_addr", config.metrics_addr)
      .Int("metrics_port", (*metrics)->port())
      .Str("transport", config.insecure ? "plaintext" : "mtls");

  const int signal = signals.Wait();
  HERMES_LOG(spdlog::level::info, "draining")
      .Int("signal", signal)
      .Double("grace_seconds", absl::ToDoubleSeconds(config.shutdown_grace));
  (*server)->Shutdown(config.shutdown_grace);
  HERMES_LOG(spdlog::level::info, "stopped");
  return 0;
}

}  // namespace

int Serve(const ServerConfig& config, std::vector<ServiceRegistration> services,
          const TerminationSignals& signals) {
  telemetry::InitLogging(
      {.service = config.service, .level = config.log_level, .sink = nullptr, .async = true});
  telemetry::RouteGrpcLogs();
  const int exit_code = StartAndServe(config, std::move(services), signals);
  telemetry::ShutdownLogging();
  return exit_code;
}

}  // namespace hermes::runtime
