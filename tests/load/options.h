// LoadOptions: hermes-load's command line, parsed and checked before anything connects.
//
// Flags take `--name value` or `--name=value`; `-d` is `--data`. ParseLoadOptions only checks
// what the flags say on their own (ranges, exclusive pairs, files it must read); what depends on
// the method (streaming or not, the request type) is checked once the method is known
// (CheckOptionsForMethod in rpc_method.h).
//
//   absl::StatusOr<LoadOptions> options = ParseLoadOptions({argv + 1, argv + argc});
//   if (!options.ok()) { std::cerr << options.status().message(); return 1; }
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hermes::load {

enum class ReportFormat { kText, kJson };

struct LoadOptions {
  std::string call;  // as given: "user.v1.UserService/GetUser" or "user.v1.UserService.GetUser"
  std::string address = "127.0.0.1:50051";

  std::string data = "{}";          // the JSON body (from --data, or read from --data_file)
  std::vector<std::string> values;  // --values_file's lines, for `{{value}}`

  // Transport: plaintext, or mutual TLS with the three PEM files.
  bool insecure = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;  // overrides the host name the server's certificate is checked for

  int connections = 1;
  int concurrency = 50;  // closed loop: calls in flight; open loop: the cap (default 10000)
  double rps = 0;        // > 0: open loop at this rate

  // The measured window, after the warm-up; infinite when only --total bounds the run. With
  // neither --duration nor --total it is 10s.
  absl::Duration duration = absl::Seconds(10);
  uint64_t total = 0;  // measured calls; 0 = no limit
  absl::Duration warmup = absl::ZeroDuration();
  absl::Duration timeout = absl::Seconds(5);  // deadline of each unary/client-streaming call

  // Server-streaming and bidirectional methods.
  int streams = 1;
  double stream_open_rate = 2000;
  std::string latency_field;  // dotted path to a google.protobuf.Timestamp of the response
  std::string streams_ready_file;
  uint64_t stream_messages = 0;  // > 0: the window ends once this many arrived (all streams)

  ReportFormat format = ReportFormat::kText;
  int workers = 0;  // threads with a completion queue each; 0 = the CPUs this process may use

  bool help = false;
  std::set<std::string> given;  // the flags on the command line, by name ("rps", "streams")
  bool Given(const std::string& flag) const { return given.contains(flag); }
};

// Parses argv without the program name. Errors name the flag and say what is wrong.
absl::StatusOr<LoadOptions> ParseLoadOptions(const std::vector<std::string>& args);

// The --help text.
std::string LoadUsage();

// The CPUs this process may run on (its affinity mask, e.g. 1 under `taskset -c 0`).
int AvailableCpus();

}  // namespace hermes::load
