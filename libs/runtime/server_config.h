// ServerConfig: what a Hermes service is told at start-up, from flags and the environment.
//
// Every flag can also come from the environment as HERMES_<FLAG IN UPPER CASE>; a flag given
// on the command line wins. Flags shared by all services are defined in server_config.cc;
// those whose default differs per service are defined by the service's main.cc with the help
// text from this header, so that `--help` shows each binary's real default:
//
//   ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", hermes::runtime::kGrpcAddrHelp);
//   ABSL_FLAG(std::string, metrics_addr, "0.0.0.0:9091", hermes::runtime::kMetricsAddrHelp);
//   ABSL_FLAG(std::string, data_dir, "./var/user", hermes::runtime::kDataDirHelp);
#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, grpc_addr);
ABSL_DECLARE_FLAG(std::string, metrics_addr);
ABSL_DECLARE_FLAG(std::string, data_dir);

namespace hermes::runtime {

inline constexpr char kGrpcAddrHelp[] = "gRPC listen address, host:port (port 0 picks a free port)";
inline constexpr char kMetricsAddrHelp[] =
    "Prometheus /metrics listen address, <IPv4>:port or [<IPv6>]:port, not a host name (port 0 "
    "picks a free port)";
inline constexpr char kDataDirHelp[] =
    "Directory of the embedded store (SQLite) when --database_url is not set";

struct TlsFiles {
  std::string ca;    // PEM bundle of the CA(s) that sign peers' certificates
  std::string cert;  // our certificate chain (PEM)
  std::string key;   // our private key (PEM)
};

struct ServerConfig {
  std::string service;  // "user", "order": names the process in logs
  std::string grpc_addr;
  std::string metrics_addr;
  std::string database_url;  // "" = SQLite under data_dir
  std::string data_dir;
  TlsFiles tls;
  bool insecure = false;
  std::string authz_policy;  // "" = the default policy built into the binary
  spdlog::level::level_enum log_level = spdlog::level::info;
  int64_t event_retention = 0;
  absl::Duration shutdown_grace;
  absl::Duration reload_interval;  // how often TLS files and the policy are checked for changes
  int max_streams = 256;           // concurrent long-lived streams (watchers) the service keeps
  bool bench_no_chain = false;     // benchmarks only: no interceptor chain (requires insecure)
};

// Applies HERMES_* environment fallbacks, then parses argv (absl handles --help and unknown
// flags, exiting as usual), then validates. A bad value is an error naming the flag.
absl::StatusOr<ServerConfig> LoadServerConfig(int argc, char** argv, absl::string_view service,
                                              absl::string_view usage);

// HERMES_<NAME> for a flag name: "grpc_addr" -> "HERMES_GRPC_ADDR".
std::string EnvironmentVariableFor(absl::string_view flag_name);

// Checks host:port (IPv6 in brackets); the port may be 0.
absl::Status ValidateListenAddress(absl::string_view flag, absl::string_view address);

}  // namespace hermes::runtime
