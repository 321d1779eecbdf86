// hermes-order: the order service executable. Wiring only; see order_service.h.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "libs/interceptor/client_chain.h"
#include "libs/runtime/periodic_task.h"
#include "libs/runtime/serve.h"
#include "libs/runtime/tls.h"
#include "libs/telemetry/log.h"
#include "libs/telemetry/metrics.h"
#include "services/order/order_service.h"
#include "services/order/sqlite_order_store.h"

ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50052", hermes::runtime::kGrpcAddrHelp);
ABSL_FLAG(std::string, metrics_addr, "0.0.0.0:9092", hermes::runtime::kMetricsAddrHelp);
ABSL_FLAG(std::string, data_dir, "./var/order", hermes::runtime::kDataDirHelp);
ABSL_FLAG(std::string, user_service_addr, "dns:///localhost:50051",
          "Target of the user service (gRPC name syntax; every resolved address is used, "
          "round_robin), e.g. dns:///user:50051");
ABSL_FLAG(absl::Duration, user_call_timeout, absl::Seconds(2),
          "Longest wait for the user service during CreateOrder (the caller's deadline, if "
          "sooner, wins)");

int main(int argc, char** argv) {
  const hermes::runtime::TerminationSignals signals;  // before any thread starts
  absl::StatusOr<hermes::runtime::ServerConfig> config = hermes::runtime::LoadServerConfig(
      argc, argv, "order", "the Hermes order service (order.v1.OrderService)");
  if (!config.ok()) {
    std::cerr << "hermes-order: " << config.status().message() << "\n";
    return 2;
  }
  const absl::Duration user_call_timeout = absl::GetFlag(FLAGS_user_call_timeout);
  if (user_call_timeout <= absl::ZeroDuration()) {
    // Every user check would time out at once and open the circuit breaker.
    std::cerr << "hermes-order: --user_call_timeout=" << absl::FormatDuration(user_call_timeout)
              << ": must be more than 0\n";
    return 2;
  }
  const hermes::runtime::ProcessLogging logging(*config);
  const hermes::runtime::ProcessTracing tracing(*config);
  const absl::StatusOr<std::unique_ptr<hermes::runtime::TlsMaterial>> tls =
      hermes::runtime::StartProcessTls(*config);
  if (!tls.ok()) return 1;  // logged

  // Before the store, so that it outlives it: the store's listener publishes into it, and the
  // store commits what is still queued when it is destroyed.
  hermes::order::OrderUpdateFanout fanout;
  absl::StatusOr<std::unique_ptr<hermes::order::SqliteOrderStore>> store =
      config->database_url.empty()
          ? hermes::order::SqliteOrderStore::Open(config->data_dir + "/order.db")
          : hermes::order::SqliteOrderStore::OpenUrl(config->database_url);
  if (!store.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot open the order store")
        .Str("error", store.status().message());
    return 1;
  }
  const hermes::runtime::PeriodicTask pruner = hermes::runtime::EventLogPruner(
      [&] { return (*store)->PruneEvents(config->event_retention); });
  (*store)->SetEventListener([&fanout](const hermes::order::OrderEvent& event) {
    fanout.Publish(hermes::order::ChangeFor(event));
  });

  auto registry = hermes::telemetry::MetricsRegistry();
  auto client_chain =
      std::make_shared<hermes::interceptor::ClientChain>(*registry, tracing.provider());
  hermes::order::UserDirectory users(
      {.target = absl::GetFlag(FLAGS_user_service_addr),
       .credentials = config->insecure
                          ? grpc::InsecureChannelCredentials()
                          : hermes::runtime::MutualTlsChannelCredentials(
                                (*tls)->in_force(), hermes::runtime::TlsMaterial::kGrpcRefresh,
                                "spiffe://hermes/user"),
       .max_deadline = user_call_timeout},
      client_chain, *registry);
  hermes::order::OrderServiceImpl service(**store, users, fanout,
                                          {.max_streams = config->max_streams});
  return hermes::runtime::Serve(*config, tls->get(),
                                {{&service, ::order::v1::OrderService::service_full_name()}},
                                signals, [&service] { service.Drain(); });
}
