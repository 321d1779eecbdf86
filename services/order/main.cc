// hermes-order: the order service executable. Wiring only; see order_service.h.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/runtime/serve.h"
#include "services/order/order_service.h"

ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50052", hermes::runtime::kGrpcAddrHelp);
ABSL_FLAG(std::string, metrics_addr, "0.0.0.0:9092", hermes::runtime::kMetricsAddrHelp);
ABSL_FLAG(std::string, data_dir, "./var/order", hermes::runtime::kDataDirHelp);
ABSL_FLAG(std::string, user_service_addr, "dns:///localhost:50051",
          "Target of the user service (gRPC name syntax; every resolved address is used, "
          "round_robin), e.g. dns:///user:50051");

int main(int argc, char** argv) {
  const hermes::runtime::TerminationSignals signals;  // before any thread starts
  absl::StatusOr<hermes::runtime::ServerConfig> config = hermes::runtime::LoadServerConfig(
      argc, argv, "order", "hermes-order: the Hermes order service (order.v1.OrderService)");
  if (!config.ok()) {
    std::cerr << "hermes-order: " << config.status().message() << "\n";
    return 2;
  }
  const hermes::runtime::ProcessLogging logging(*config);
  const hermes::runtime::ProcessTracing tracing(*config);
  hermes::order::OrderServiceImpl service;
  return hermes::runtime::Serve(*config, {{&service, order::v1::OrderService::service_full_name()}},
                                signals);
}
