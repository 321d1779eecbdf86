// ServerConfig: what a Hermes service is told at start-up, from flags and the environment.
//
// Every flag can also come from the environment as HERMES_<FLAG IN UPPER CASE>; a flag given
// on the command line wins. Flags shared by all services are defined in server_config.cc;
// those whose default differs per service are defined by the service's main.cc, with the
// help text from this header, so that `--help` shows each binary's real default:
//
//   ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", hermes::runtime::kGrpcAddrHelp);
#pragma once

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, grpc_addr);

namespace hermes::runtime {

inline constexpr char kGrpcAddrHelp[] = "gRPC listen address, host:port (port 0 picks a free port)";

struct ServerConfig {
  std::string grpc_addr;
  bool insecure = false;
  absl::Duration shutdown_grace;
};

// Applies HERMES_* environment fallbacks, then parses argv (absl handles --help and unknown
// flags, exiting as usual), then validates. A bad value is an error naming the flag.
absl::StatusOr<ServerConfig> LoadServerConfig(int argc, char** argv, absl::string_view usage);

// HERMES_<NAME> for a flag name: "grpc_addr" -> "HERMES_GRPC_ADDR".
std::string EnvironmentVariableFor(absl::string_view flag_name);

}  // namespace hermes::runtime
