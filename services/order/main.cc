// hermes-order: the order service executable. Wiring only; see order_service.h.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/runtime/serve.h"
#include "services/order/order_service.h"

ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50052", hermes::runtime::kGrpcAddrHelp);

int main(int argc, char** argv) {
  const hermes::runtime::TerminationSignals signals;  // before any thread starts
  absl::StatusOr<hermes::runtime::ServerConfig> config = hermes::runtime::LoadServerConfig(
      argc, argv, "hermes-order: the Hermes order service (order.v1.OrderService)");
  if (!config.ok()) {
    std::cerr << "hermes-order: " << config.status().message() << "\n";
    return 2;
  }
  hermes::order::OrderServiceImpl service;
  return hermes::runtime::Serve(
      "hermes-order", *config, {{&service, order::v1::OrderService::service_full_name()}}, signals);
}
