// hermes-user: the user service executable. Wiring only; see user_service.h.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/runtime/periodic_task.h"
#include "libs/runtime/serve.h"
#include "libs/telemetry/log.h"
#include "services/user/sqlite_user_store.h"
#include "services/user/user_service.h"

ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", hermes::runtime::kGrpcAddrHelp);
ABSL_FLAG(std::string, metrics_addr, "0.0.0.0:9091", hermes::runtime::kMetricsAddrHelp);
ABSL_FLAG(std::string, data_dir, "./var/user", hermes::runtime::kDataDirHelp);

int main(int argc, char** argv) {
  const hermes::runtime::TerminationSignals signals;  // before any thread starts
  absl::StatusOr<hermes::runtime::ServerConfig> config = hermes::runtime::LoadServerConfig(
      argc, argv, "user", "the Hermes user service (user.v1.UserService)");
  if (!config.ok()) {
    std::cerr << "hermes-user: " << config.status().message() << "\n";
    return 2;
  }
  const hermes::runtime::ProcessLogging logging(*config);
  const hermes::runtime::ProcessTracing tracing(*config);
  const absl::StatusOr<std::unique_ptr<hermes::runtime::TlsMaterial>> tls =
      hermes::runtime::StartProcessTls(*config);
  if (!tls.ok()) return 1;  // logged

  // Before the store, so that it outlives it: the store's listener publishes into it, and the
  // store commits what is still queued when it is destroyed.
  hermes::user::UserEventFanout fanout;
  absl::StatusOr<std::unique_ptr<hermes::user::SqliteUserStore>> store =
      config->database_url.empty()
          ? hermes::user::SqliteUserStore::Open(config->data_dir + "/user.db")
          : hermes::user::SqliteUserStore::OpenUrl(config->database_url);
  if (!store.ok()) {
    HERMES_LOG(spdlog::level::err, "cannot open the user store")
        .Str("error", store.status().message());
    return 1;
  }
  (*store)->SetEventListener(
      [&fanout](const hermes::user::UserEvent& event) { fanout.Publish(event); });
  const hermes::runtime::PeriodicTask pruner = hermes::runtime::EventLogPruner(
      [&] { return (*store)->PruneEvents(config->event_retention); });
  hermes::user::UserServiceImpl service(**store, fanout, {.max_watchers = config->max_streams});
  return hermes::runtime::Serve(*config, tls->get(),
                                {{&service, ::user::v1::UserService::service_full_name()}}, signals,
                                [&fanout] { fanout.Close(); });
}
