#include "libs/runtime/serve.h"

#include <grpcpp/security/server_credentials.h>
#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace hermes::runtime {

int Serve(std::string_view program, const ServerConfig& config,
          std::vector<ServiceRegistration> services, const TerminationSignals& signals) {
  if (!config.insecure) {
    spdlog::error("{}: mTLS is not available in this build yet; start with --insecure", program);
    return 1;
  }
  spdlog::warn("{}: --insecure: plaintext gRPC, no client authentication", program);

  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({.listen_address = config.grpc_addr,
                         .credentials = grpc::InsecureServerCredentials(),
                         .services = std::move(services)});
  if (!server.ok()) {
    spdlog::error("{}: {}", program,
                  server.status().ToString(absl::StatusToStringMode::kWithNoExtraData));
    return 1;
  }
  spdlog::info("{}: serving gRPC on {} (port {})", program, config.grpc_addr, (*server)->port());

  const int signal = signals.Wait();
  spdlog::info("{}: received signal {}; draining for up to {}", program, signal,
               absl::FormatDuration(config.shutdown_grace));
  (*server)->Shutdown(config.shutdown_grace);
  spdlog::info("{}: stopped", program);
  return 0;
}

}  // namespace hermes::runtime
