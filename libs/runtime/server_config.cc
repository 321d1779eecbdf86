#include "libs/runtime/server_config.h"

#include <cstdlib>

#include "absl/base/call_once.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(bool, insecure, false,
          "Serve plaintext gRPC with no client authentication. For local experiments only; "
          "logged as a warning");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long running calls may take to finish before they are "
          "cancelled (e.g. 10s, 500ms)");

namespace hermes::runtime {
namespace {

// Loads HERMES_<FLAG> for every registered flag. Runs before argv is parsed, so a flag given
// on the command line overrides its environment variable.
absl::Status ApplyEnvironment() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    const std::string variable = EnvironmentVariableFor(name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(variable, "=", value, ": ", error));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateListenAddress(absl::string_view flag, absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", address, ": expected host:port, e.g. 0.0.0.0:50051 or [::1]:0"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EnvironmentVariableFor(absl::string_view flag_name) {
  return absl::StrCat("HERMES_", absl::AsciiStrToUpper(flag_name));
}

absl::StatusOr<ServerConfig> LoadServerConfig(int argc, char** argv, absl::string_view usage) {
  // absl allows one usage message per process; later loads (tests) keep the first.
  static absl::once_flag usage_once;
  absl::call_once(usage_once, [usage] { absl::SetProgramUsageMessage(usage); });
  if (absl::Status status = ApplyEnvironment(); !status.ok()) return status;
  absl::ParseCommandLine(argc, argv);

  ServerConfig config;
  config.grpc_addr = absl::GetFlag(FLAGS_grpc_addr);
  config.insecure = absl::GetFlag(FLAGS_insecure);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (absl::Status status = ValidateListenAddress("grpc_addr", config.grpc_addr); !status.ok()) {
    return status;
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  return config;
}

}  // namespace hermes::runtime
