// hermes-load: a ghz-like gRPC load generator for Hermes, driving any method of the linked
// protos by name (see LoadUsage() in options.cc for the flags). It wires the pieces together:
// flags → method → request body → connections → run → report.
//
//   hermes-load --insecure --call user.v1.UserService/GetUser -d '{"id":"..."}'
//               --concurrency 64 --duration 10s --format json
//
// Exit codes: 0 the run completed (whatever the statuses), 1 bad flags, body or method, 2 no
// connection could be made.
#include <grpc/grpc.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/load/connections.h"
#include "tests/load/load_run.h"
#include "tests/load/options.h"
#include "tests/load/report.h"
#include "tests/load/request_template.h"
#include "tests/load/rpc_method.h"
#include "tests/load/stop_signal.h"
#include "tests/load/timestamp_field.h"

namespace {

constexpr int kExitBadInput = 1;
constexpr int kExitNoConnection = 2;
// The services allow this many concurrent streams on one HTTP/2 connection; more wait.
constexpr int kStreamsPerConnection = 1000;

int Fail(const absl::Status& status) {
  std::cerr << "hermes-load: " << status.message() << "\n";
  return kExitBadInput;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hermes::load;
  absl::StatusOr<LoadOptions> options = ParseLoadOptions({argv + 1, argv + argc});
  if (!options.ok()) return Fail(options.status());
  if (options->help) {
    std::cout << LoadUsage();
    return 0;
  }
  StopOnSignals();
  absl::StatusOr<RpcMethod> method = FindRpcMethod(options->call);
  if (!method.ok()) return Fail(method.status());
  if (absl::Status status = CheckOptionsForMethod(*options, *method); !status.ok()) {
    return Fail(status);
  }
  // gRPC locks absl::Mutex on every call; Debian's abseil checks each lock for deadlock cycles
  // (a few percent of the generator's one core), which a load generator need not pay.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc_init();  // ByteBuffers are made before any channel exists
  const bool stream_body =
      method->kind == RpcKind::kClientStreaming || method->kind == RpcKind::kBidiStreaming;
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *method->descriptor->input_type(), options->data, stream_body, options->values);
  if (!request.ok()) return Fail(request.status());
  std::optional<TimestampField> latency_field;
  if (!options->latency_field.empty()) {
    absl::StatusOr<TimestampField> field =
        TimestampField::Resolve(*method->descriptor->output_type(), options->latency_field);
    if (!field.ok()) return Fail(field.status());
    latency_field = *std::move(field);
  }
  absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> channels = OpenConnections(*options);
  if (!channels.ok()) return Fail(channels.status());

  if (IsLongLivedStream(method->kind) &&
      options->streams > options->connections * kStreamsPerConnection) {
    std::cerr << "hermes-load: warning: " << options->streams << " streams over "
              << options->connections << " connections: a connection carries at most "
              << kStreamsPerConnection
              << " concurrent streams, the rest wait (add --connections)\n";
  }
  const int connected = WaitUntilConnected(*channels, options->timeout);
  if (connected == 0) {
    std::cerr << "hermes-load: cannot connect to " << options->address << " within "
              << absl::FormatDuration(options->timeout) << " ("
              << (options->insecure ? "plaintext" : "mutual TLS") << ")\n";
    return kExitNoConnection;
  }
  if (connected < options->connections) {
    std::cerr << "hermes-load: warning: only " << connected << " of " << options->connections
              << " connections are ready; the others keep trying during the run\n";
  }

  const RunReport report =
      IsLongLivedStream(method->kind)
          ? RunLongLivedStreams(*options, *method, *request, *channels, std::move(latency_field))
          : RunRepeatedCalls(*options, *method, *request, *channels);
  std::cout << (options->format == ReportFormat::kJson ? JsonReport(report) : TextReport(report))
            << std::flush;
  return 0;
}
