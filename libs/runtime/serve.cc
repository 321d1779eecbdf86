#include "libs/runtime/serve.h"

#include <prometheus/gauge.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/interceptor/chain.h"
#include "libs/runtime/config_reloads.h"
#include "libs/runtime/security.h"
#include "libs/telemetry/log.h"
#include "libs/telemetry/metrics.h"
#include "libs/tracing/tracer.h"
#include "libs/tracing/tracing_config.h"

namespace hermes::runtime {

ProcessLogging::ProcessLogging(const ServerConfig& config) {
  telemetry::InitLogging({.service = config.service, .level = config.log_level});
  telemetry::RouteGrpcLogs();
  telemetry::RouteProtobufLogs();
}

ProcessLogging::~ProcessLogging() { telemetry::ShutdownLogging(); }

ProcessTracing::ProcessTracing(const ServerConfig& config)
    : provider_(tracing::CreateTracerProvider(
          tracing::TracingConfig::FromEnvironment(absl::StrCat("hermes-", config.service)),
          *telemetry::MetricsRegistry())) {
  tracing::SetDefaultTracerProvider(provider_.get());
}

namespace {

// How long the spans of a stopping process may take to leave.
constexpr absl::Duration kSpanFlushTimeout = absl::Seconds(5);

void WarnIfNotExported(const absl::Status& flushed) {
  if (flushed.ok()) return;
  HERMES_LOG(spdlog::level::warn, "not every span was exported before exit")
      .Str("error", flushed.message());
}

}  // namespace

ProcessTracing::~ProcessTracing() {
  tracing::SetDefaultTracerProvider(nullptr);
  if (provider_ != nullptr) WarnIfNotExported(provider_->Shutdown(kSpanFlushTimeout));
}

namespace {

// OpenTelemetry's server.address: the host a client would name; for a wildcard listener,
// this machine's host name.
std::string ServerHost(absl::string_view listen_address) {
  absl::string_view host = listen_address.substr(0, listen_address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) return name;
  }
  return std::string(host);
}

int ServerPort(absl::string_view listen_address) {
  int port = 0;
  (void)absl::SimpleAtoi(listen_address.substr(listen_address.rfind(':') + 1), &port);
  return port;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsMaterial>> StartProcessTls(const ServerConfig& config) {
  if (config.insecure) return nullptr;
  prometheus::Registry& registry = *telemetry::MetricsRegistry();  // process-wide: outlives all
  auto reloads = std::make_shared<ConfigReloads>(
      registry,
      ConfigReloads::Options{
          .config = "tls", .kept = "the previous key and certificates", .path = config.tls.cert});
  prometheus::Gauge& expiry_gauge =
      prometheus::BuildGauge()
          .Name("hermes_tls_certificate_expiry_timestamp_seconds")
          .Help("When the certificate this process presents (the one in force) expires.")
          .Register(registry)
          .Add({});
  auto set_expiry = [&expiry_gauge](absl::Time not_after) {
    expiry_gauge.Set(absl::ToDoubleSeconds(not_after - absl::UnixEpoch()));
  };
  reloads->Loaded();  // before the watcher can report anything
  absl::StatusOr<std::unique_ptr<TlsMaterial>> tls =
      TlsMaterial::Start(config.tls, config.reload_interval,
                         [reloads, set_expiry](const absl::Status& outcome, absl::Time not_after) {
                           reloads->Report(outcome);
                           set_expiry(not_after);
                         });
  if (!tls.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot set up mTLS").Str("error", tls.status().message());
    return tls.status();
  }
  set_expiry((*tls)->certificate_not_after());
  return tls;
}

int Serve(const ServerConfig& config, const TlsMaterial* tls,
          std::vector<ServiceRegistration> services, const TerminationSignals& signals,
          std::function<void()> on_drain) {
  if (!config.insecure && tls == nullptr) {
    HERMES_LOG(spdlog::level::err, "mTLS without TLS material: call StartProcessTls first");
    return 1;
  }
  const std::shared_ptr<prometheus::Registry> registry = telemetry::MetricsRegistry();

  std::vector<std::string> names;
  std::vector<interceptor::DrivesChain*> drivers;
  std::vector<std::string> driven;  // their methods: no interceptor on those calls (chain.h)
  for (const ServiceRegistration& service : services) {
    names.push_back(service.name);
    if (auto* driver = dynamic_cast<interceptor::DrivesChain*>(service.service)) {
      drivers.push_back(driver);
      for (std::string& method : driver->ChainDrivenMethods()) driven.push_back(std::move(method));
    }
  }
  absl::StatusOr<std::shared_ptr<interceptor::ServerChain>> chain =
      interceptor::ServerChain::Create({.services = names,
                                        .registry = registry.get(),
                                        .tracer = tracing::DefaultTracerProvider(),
                                        .server_address = ServerHost(config.grpc_addr),
                                        .server_port = ServerPort(config.grpc_addr),
                                        .driven_by_handlers = std::move(driven)});
  if (!chain.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot build the interceptor chain")
        .Str("error", chain.status().message());
    return 1;
  }

  absl::StatusOr<std::unique_ptr<ServerSecurity>> security = ServerSecurity::Create(
      config, tls != nullptr ? tls->in_force() : TlsFiles{}, *chain, registry);
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

  if (config.bench_no_chain) {
    HERMES_LOG(spdlog::level::warn,
               "--bench_no_chain: calls are not recovered, logged, counted or traced "
               "(benchmarks only)");
  } else {
    for (interceptor::DrivesChain* driver : drivers) driver->UseChain(*chain);
  }
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(
      {.listen_address = config.grpc_addr,
       .credentials = (*security)->credentials(),
       .services = std::move(services),
       .interceptors =
           config.bench_no_chain
               ? std::vector<
                     std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>()
               : (*chain)->InterceptorFactories(),
       .max_streams = config.max_streams,
       .max_connection_age = kServiceMaxConnectionAge,
       .max_connection_age_grace = kServiceMaxConnectionAgeGrace});
  if (!server.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot serve gRPC").Str("error", server.status().message());
    return 1;
  }
  // With port 0 the kernel chose it: the spans name the port clients reach (a call that came in
  // before this line has none).
  (*chain)->SetServerPort((*server)->port());
  HERMES_LOG(spdlog::level::info, "serving")
      .Str("grpc_addr", config.grpc_addr)
      .Int("grpc_port", (*server)->port())
      .Str("metrics_addr", config.metrics_addr)
      .Int("metrics_port", (*metrics)->port())
      .Str("transport", config.insecure ? "plaintext" : "mtls");
  telemetry::FlushLogs();  // supervisors and tests wait for this line

  const int signal = signals.Wait();
  HERMES_LOG(spdlog::level::info, "draining")
      .Int("signal", signal)
      .Double("grace_seconds", absl::ToDoubleSeconds(config.shutdown_grace));
  telemetry::FlushLogs();
  (*server)->MarkNotServing();
  if (on_drain) on_drain();
  (*server)->Shutdown(config.shutdown_grace);
  // ARCHITECTURE.md's order: the spans of the last calls leave before main's destructors close
  // the store. Shut down, not just flushed: the provider records nothing more (no call is left),
  // and ProcessTracing's own Shutdown then returns at once, so exporting stays bounded by one
  // timeout in all.
  if (tracing::TracerProvider* provider = tracing::DefaultTracerProvider()) {
    WarnIfNotExported(provider->Shutdown(kSpanFlushTimeout));
  }
  HERMES_LOG(spdlog::level::info, "stopped");
  return 0;
}

}  // namespace hermes::runtime
