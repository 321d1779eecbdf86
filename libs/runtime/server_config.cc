#include "libs/runtime/server_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "libs/telemetry/log.h"
#include "libs/telemetry/metrics.h"
#include "libs/tracing/tracing_config.h"

ABSL_FLAG(std::string, database_url, "",
          "Store location: sqlite:///absolute/path.db (postgresql://... is not supported yet). "
          "Empty: SQLite under --data_dir");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signs peers' certificates (mTLS). Reloaded when it changes. "
          "Required unless --insecure");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM file of this service's certificate. Reloaded when it changes. Required unless "
          "--insecure");
ABSL_FLAG(std::string, tls_key, "",
          "PEM file of this service's private key. Reloaded when it changes. Required unless "
          "--insecure");
ABSL_FLAG(bool, insecure, false,
          "Serve plaintext gRPC with no client authentication and no authorization. For local "
          "experiments only; logged as a warning");
ABSL_FLAG(std::string, authz_policy, "",
          "Authorization policy file (JSON, see deploy/authz/README.md); reloaded when it "
          "changes. Empty: the default policy of API.md, built in");
ABSL_FLAG(std::string, log_level, "info", "Lowest level logged: trace, debug, info, warn, error");
ABSL_FLAG(int64_t, event_retention, 1000000,
          "Newest events kept in the event log for stream resumption; older ones are pruned");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long running calls may take to finish before they are "
          "cancelled (e.g. 10s, 500ms)");
ABSL_FLAG(absl::Duration, reload_interval, absl::Seconds(5),
          "How often the TLS files and the authorization policy are checked for changes "
          "(at least 1s)");

ABSL_FLAG(int32_t, max_streams, 256,
          "Concurrent long-lived streams (WatchUsers, StreamOrderUpdates) this instance keeps "
          "open, and as many grpc.health.v1 Watch streams besides; more get RESOURCE_EXHAUSTED "
          "(retry later)");

ABSL_FLAG(bool, bench_no_chain, false,
          "BENCHMARKS ONLY: serve with no interceptor chain (no recovery, logging, metrics or "
          "tracing of calls). Requires --insecure. `make bench` measures the chain's cost "
          "against this ceiling of the same binary");

namespace hermes::runtime {
namespace {

// The flags named on the command line before a "--": `--name`, `-name`, `--name=value`, and
// `--noname` for a bool (which also names a flag "noname", if there were one).
absl::flat_hash_set<std::string> FlagsOnCommandLine(int argc, char** argv) {
  absl::flat_hash_set<std::string> names;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "-")) continue;  // a value, or a positional argument
    absl::ConsumePrefix(&arg, "-");
    const absl::string_view name = arg.substr(0, arg.find('='));
    names.emplace(name);
    if (absl::StartsWith(name, "no")) names.emplace(name.substr(2));
  }
  return names;
}

// Loads HERMES_<FLAG> for every registered flag that the command line does not name: the flag
// wins, so its variable is not read at all (a bad value there must not stop a start-up that
// overrides it). Runs before argv is parsed.
absl::Status ApplyEnvironment(int argc, char** argv) {
  const absl::flat_hash_set<std::string> on_command_line = FlagsOnCommandLine(argc, argv);
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (on_command_line.contains(name)) continue;
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

// A regular file (or a link to one) this process may read: a directory passes access(R_OK)
// and would fail only once the service reads it, after its store was opened.
bool IsReadableFile(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(path.c_str(), R_OK) == 0;
}

absl::Status ValidateReadableFile(absl::string_view flag, const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " is required (or --insecure for a plaintext experiment)"));
  }
  if (!IsReadableFile(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": not a readable file (make certs creates dev ones)"));
  }
  return absl::OkStatus();
}

absl::Status Validate(const ServerConfig& config) {
  for (const auto& [flag, value] :
       {std::pair<absl::string_view, const std::string&>{"grpc_addr", config.grpc_addr},
        {"metrics_addr", config.metrics_addr}}) {
    if (absl::Status status = ValidateListenAddress(flag, value); !status.ok()) return status;
  }
  // Stricter than gRPC's: the HTTP server binds numeric addresses only. Checked here, so that a
  // host name is a bad flag (exit 2) rather than a failure to serve after the store was opened.
  if (absl::Status status = telemetry::ValidateMetricsAddress(config.metrics_addr); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_addr: ", status.message()));
  }
  // The value is not echoed: a database URL may carry a password.
  if (absl::StartsWith(config.database_url, "postgresql://") ||
      absl::StartsWith(config.database_url, "postgres://")) {
    return absl::InvalidArgumentError(
        "--database_url: PostgreSQL is not supported by this build yet (the SQLite store only); "
        "use sqlite:///absolute/path.db, or leave it empty for SQLite under --data_dir");
  }
  // sqlite:// then an absolute path; the store checks the rest (escapes, no query).
  if (!config.database_url.empty() && !absl::StartsWith(config.database_url, "sqlite:///")) {
    return absl::InvalidArgumentError(
        "--database_url: expected sqlite:///absolute/path.db, or empty for SQLite under "
        "--data_dir");
  }
  if (config.database_url.empty() && config.data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir must not be empty when --database_url is unset");
  }
  if (!config.insecure) {
    for (const auto& [flag, path] :
         {std::pair<absl::string_view, const std::string&>{"tls_ca", config.tls.ca},
          {"tls_cert", config.tls.cert},
          {"tls_key", config.tls.key}}) {
      if (absl::Status status = ValidateReadableFile(flag, path); !status.ok()) return status;
    }
  }
  if (!config.authz_policy.empty() && !IsReadableFile(config.authz_policy)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--authz_policy=", config.authz_policy, ": not a readable file"));
  }
  if (config.event_retention < 1) {
    return absl::InvalidArgumentError("--event_retention must be at least 1");
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  if (config.max_streams < 1 || config.max_streams > 100000) {
    return absl::InvalidArgumentError("--max_streams must be between 1 and 100000");
  }
  if (config.bench_no_chain && !config.insecure) {
    return absl::InvalidArgumentError("--bench_no_chain requires --insecure");
  }
  if (config.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--reload_interval must be at least 1s");
  }
  return absl::OkStatus();
}

}  // namespace

std::string EnvironmentVariableFor(absl::string_view flag_name) {
  return absl::StrCat("HERMES_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ValidateListenAddress(absl::string_view flag, absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || colon == 0 || address.size() - colon - 1 > 5 ||
      !std::all_of(address.begin() + colon + 1, address.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", address, ": expected host:port, e.g. 0.0.0.0:50051 or [::1]:0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerConfig> LoadServerConfig(int argc, char** argv, absl::string_view service,
                                              absl::string_view usage) {
  // absl allows one usage message per process; later loads (tests) keep the first.
  static absl::once_flag usage_once;
  absl::call_once(usage_once, [usage] {
    absl::SetProgramUsageMessage(
        absl::StrCat(usage,
                     "\n\nEnvironment (a flag on the command line wins over its variable):\n"
                     "  HERMES_<FLAG>                     any flag below, upper-cased, e.g.\n"
                     "                                    HERMES_GRPC_ADDR=0.0.0.0:50051, "
                     "HERMES_INSECURE=true\n",
                     tracing::kTracingEnvironmentHelp));
    // --help lists the flags a Hermes service defines (its main.cc and this library), not
    // just those of a file named after the binary, absl's default.
    absl::FlagsUsageConfig usage_config;
    usage_config.contains_help_flags = [](absl::string_view file) {
      return absl::StrContains(file, "services/") || absl::StrContains(file, "libs/runtime/");
    };
    usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
    absl::SetFlagsUsageConfig(usage_config);
  });
  // Debian's abseil checks every absl::Mutex lock for deadlock cycles (a debug aid gRPC pays
  // for on every call: it locks absl mutexes throughout). Our lock order is fixed by design.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::Status status = ApplyEnvironment(argc, argv); !status.ok()) return status;
  absl::ParseCommandLine(argc, argv);

  ServerConfig config;
  config.service = std::string(service);
  config.grpc_addr = absl::GetFlag(FLAGS_grpc_addr);
  config.metrics_addr = absl::GetFlag(FLAGS_metrics_addr);
  config.database_url = absl::GetFlag(FLAGS_database_url);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.tls = {.ca = absl::GetFlag(FLAGS_tls_ca),
                .cert = absl::GetFlag(FLAGS_tls_cert),
                .key = absl::GetFlag(FLAGS_tls_key)};
  config.insecure = absl::GetFlag(FLAGS_insecure);
  config.authz_policy = absl::GetFlag(FLAGS_authz_policy);
  absl::StatusOr<spdlog::level::level_enum> level =
      telemetry::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", level.status().message()));
  }
  config.log_level = *level;
  config.event_retention = absl::GetFlag(FLAGS_event_retention);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.reload_interval = absl::GetFlag(FLAGS_reload_interval);
  config.max_streams = absl::GetFlag(FLAGS_max_streams);
  config.bench_no_chain = absl::GetFlag(FLAGS_bench_no_chain);
  if (absl::Status status = Validate(config); !status.ok()) return status;
  return config;
}

}  // namespace hermes::runtime
