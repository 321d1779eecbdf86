// hermes-user: the user service executable. Wiring only; see user_service.h.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/runtime/serve.h"
#include "services/user/user_service.h"

ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", hermes::runtime::kGrpcAddrHelp);
ABSL_FLAG(std::string, metrics_addr, "0.0.0.0:9091", hermes::runtime::kMetricsAddrHelp);
ABSL_FLAG(std::string, data_dir, "./var/user", hermes::runtime::kDataDirHelp);

int main(int argc, char** argv) {
  const hermes::runtime::TerminationSignals signals;  // before any thread starts
  absl::StatusOr<hermes::runtime::ServerConfig> config = hermes::runtime::LoadServerConfig(
      argc, argv, "user", "hermes-user: the Hermes user service (user.v1.UserService)");
  if (!config.ok()) {
    std::cerr << "hermes-user: " << config.status().message() << "\n";
    return 2;
  }
  hermes::user::UserServiceImpl service;
  return hermes::runtime::Serve(*config, {{&service, user::v1::UserService::service_full_name()}},
                                signals);
}
