// hermes-health-probe: grpc_health_probe for Hermes, speaking mutual TLS with a given identity,
// for container and Kubernetes health checks. Wiring only; see probe.h.
//
//   hermes-health-probe --addr=localhost:50051 --tls_ca=/certs/ca.pem
//                       --tls_cert=/certs/user/cert.pem --tls_key=/certs/user/key.pem
//
// Prints "status: SERVING" on stdout and exits 0, or prints one line on stderr
// ("hermes-health-probe: localhost:50051: NOT_SERVING") and exits with grpc_health_probe's code.
#include <grpc/support/log.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "deploy/health-probe/probe.h"

ABSL_FLAG(std::string, addr, "",
          "Server address, host:port (required; any gRPC target, e.g. dns:///hermes-user:50051)");
ABSL_FLAG(std::string, service, "", "Health service name to check; empty: the whole server");
ABSL_FLAG(std::string, tls_ca, "", "PEM file of the CA(s) that sign the server's certificate");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate the probe presents (its identity)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(bool, insecure, false, "Plaintext instead of mTLS (no --tls_* flag allowed then)");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the server's certificate is checked against; empty: the host of --addr");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(1),
          "How long connecting (TCP and TLS handshake) may take");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(1), "How long the Check rpc may take");
ABSL_FLAG(bool, verbose, false,
          "Print each step, its timing and gRPC's own errors (e.g. why a handshake failed) to "
          "stderr; GRPC_VERBOSITY=info adds more");

namespace {

constexpr char kUsage[] =
    "checks a Hermes server's grpc.health.v1.Health over mutual TLS.\n\n"
    "  hermes-health-probe --addr=localhost:50051 --tls_ca=ca.pem --tls_cert=cert.pem "
    "--tls_key=key.pem\n\n"
    "Exit codes (grpc_health_probe's):\n"
    "  0  SERVING\n"
    "  1  invalid flags or arguments, unreadable certificate files\n"
    "  2  connection failure: not connected within --connect_timeout (refused, handshake failed)\n"
    "  3  rpc failure: NOT_FOUND (unknown --service), PERMISSION_DENIED, --rpc_timeout, ...\n"
    "  4  the server answered, but not SERVING";

void DropGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage_config;  // --help lists this folder's flags (absl's default
  usage_config.contains_help_flags = [](absl::string_view file) {  // wants <binary>.cc)
    return absl::StrContains(file, "deploy/health-probe/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);

  const hermes::probe::ProbeOptions options{.addr = absl::GetFlag(FLAGS_addr),
                                            .service = absl::GetFlag(FLAGS_service),
                                            .tls = {.ca = absl::GetFlag(FLAGS_tls_ca),
                                                    .cert = absl::GetFlag(FLAGS_tls_cert),
                                                    .key = absl::GetFlag(FLAGS_tls_key)},
                                            .insecure = absl::GetFlag(FLAGS_insecure),
                                            .tls_server_name = absl::GetFlag(FLAGS_tls_server_name),
                                            .connect_timeout = absl::GetFlag(FLAGS_connect_timeout),
                                            .rpc_timeout = absl::GetFlag(FLAGS_rpc_timeout)};
  absl::Status valid =
      positional.size() > 1
          ? absl::InvalidArgumentError(std::string("unexpected argument: ") + positional[1])
          : hermes::probe::ValidateProbeOptions(options);
  if (!valid.ok()) {
    std::cerr << "hermes-health-probe: " << valid.message() << "\n";
    return static_cast<int>(hermes::probe::ExitCode::kInvalidArguments);
  }

  const bool verbose = absl::GetFlag(FLAGS_verbose);
  // gRPC logs a failed handshake itself; the probe's own line says enough unless asked.
  if (!verbose) gpr_set_log_function(DropGrpcLog);
  const hermes::probe::ProbeOutcome outcome =
      hermes::probe::RunProbe(options, verbose ? &std::cerr : nullptr);
  if (outcome.code == hermes::probe::ExitCode::kServing) {
    std::cout << "status: SERVING\n";
  } else {
    std::cerr << "hermes-health-probe: " << options.addr << ": " << outcome.message << "\n";
  }
  return static_cast<int>(outcome.code);
}
