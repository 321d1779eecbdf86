// The check behind hermes-health-probe: connect to a gRPC server (mutual TLS with a given
// identity, or plaintext), ask grpc.health.v1.Health/Check, and classify the outcome with
// grpc_health_probe's exit codes, which orchestrators and scripts already understand.
//
//   ProbeOptions options{.addr = "localhost:50051",
//                        .tls = {.ca = "ca.pem", .cert = "user/cert.pem", .key = "user/key.pem"}};
//   if (absl::Status valid = ValidateProbeOptions(options); !valid.ok()) { ...exit 1... }
//   ProbeOutcome outcome = RunProbe(options, /*trace=*/nullptr);
//   return static_cast<int>(outcome.code);
#pragma once

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/runtime/server_config.h"

namespace hermes::probe {

// grpc_health_probe's exit codes.
enum class ExitCode : int {
  kServing = 0,
  kInvalidArguments = 1,   // bad flags, unreadable or inconsistent certificate files
  kConnectionFailure = 2,  // not connected within connect_timeout (refused, handshake failed)
  kRpcFailure = 3,         // Check failed: NOT_FOUND, PERMISSION_DENIED, deadline, ...
  kUnhealthy = 4,          // Check answered something other than SERVING
};

struct ProbeOptions {
  std::string addr;             // any gRPC target: "localhost:50051", "dns:///user:50051"
  std::string service;          // "" = the whole server
  runtime::TlsFiles tls;        // mTLS: the CA to trust, the identity to present
  bool insecure = false;        // plaintext instead (tls must then be empty)
  std::string tls_server_name;  // "" = the host of addr
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration rpc_timeout = absl::Seconds(1);
};

struct ProbeOutcome {
  ExitCode code;
  std::string message;  // "SERVING", or one line saying what went wrong
};

// Flag combinations, positive timeouts, and (for mTLS) certificate files that a TLS stack can
// use: CA, certificate and a key that matches it. Any error means ExitCode::kInvalidArguments.
absl::Status ValidateProbeOptions(const ProbeOptions& options);

// Connects within connect_timeout, then calls Check within rpc_timeout. Writes each step and
// its timing to `trace` unless it is null. Expects options that passed ValidateProbeOptions.
ProbeOutcome RunProbe(const ProbeOptions& options, std::ostream* trace);

}  // namespace hermes::probe
