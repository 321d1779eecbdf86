#include "deploy/health-probe/probe.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/runtime/tls.h"

namespace hermes::probe {
namespace {

using ::grpc::health::v1::HealthCheckResponse;

const char* StateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "?";
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ProbeOptions& options) {
  if (options.insecure) return grpc::InsecureChannelCredentials();
  // The probe lives for a second: the files are read once, never reloaded in practice.
  return runtime::MutualTlsChannelCredentials(options.tls, absl::Hours(1));
}

// "NOT_FOUND": gRPC's codes are absl's.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// `service "name": ` when a service was asked for, nothing for the whole server.
std::string Subject(const ProbeOptions& options) {
  return options.service.empty() ? "" : absl::StrCat("service \"", options.service, "\": ");
}

}  // namespace

absl::Status ValidateProbeOptions(const ProbeOptions& options) {
  if (options.addr.empty()) return absl::InvalidArgumentError("--addr is required");
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--connect_timeout must be positive");
  }
  if (options.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--rpc_timeout must be positive");
  }
  const bool any_tls = !options.tls.ca.empty() || !options.tls.cert.empty() ||
                       !options.tls.key.empty() || !options.tls_server_name.empty();
  if (options.insecure) {
    if (any_tls) return absl::InvalidArgumentError("--insecure excludes the --tls_* flags");
    return absl::OkStatus();
  }
  if (options.tls.ca.empty() || options.tls.cert.empty() || options.tls.key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_ca, --tls_cert and --tls_key are required (or --insecure for plaintext)");
  }
  return runtime::CheckTlsFiles(options.tls);
}

ProbeOutcome RunProbe(const ProbeOptions& options, std::ostream* trace) {
  grpc::ChannelArguments arguments;
  // GRPC_SSL_TARGET_NAME_OVERRIDE_ARG: the name the server certificate must carry.
  if (!options.tls_server_name.empty()) {
    arguments.SetSslTargetNameOverride(options.tls_server_name);
  }
  const absl::Time start = absl::Now();
  if (trace != nullptr) {
    *trace << "connecting to " << options.addr << (options.insecure ? " (plaintext)" : " (mTLS)")
           << " within " << options.connect_timeout << "\n";
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.addr, Credentials(options), arguments);
  // A refused connection or a failed handshake leaves the channel retrying in
  // TRANSIENT_FAILURE until the deadline.
  if (!channel->WaitForConnected(absl::ToChronoTime(start + options.connect_timeout))) {
    return {ExitCode::kConnectionFailure,
            absl::StrCat("not connected within ", absl::FormatDuration(options.connect_timeout),
                         " (", StateName(channel->GetState(false)), ")")};
  }
  const absl::Time connected = absl::Now();
  if (trace != nullptr) *trace << "connected in " << connected - start << "\n";

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(connected + options.rpc_timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(options.service);
  HealthCheckResponse response;
  const grpc::Status status =
      grpc::health::v1::Health::NewStub(channel)->Check(&context, request, &response);
  if (trace != nullptr) *trace << "Check answered in " << absl::Now() - connected << "\n";

  if (!status.ok()) {
    const std::string what =
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
            ? absl::StrCat("no health answer within ", absl::FormatDuration(options.rpc_timeout))
            : absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
    return {ExitCode::kRpcFailure, Subject(options) + what};
  }
  if (response.status() != HealthCheckResponse::SERVING) {
    return {
        ExitCode::kUnhealthy,
        absl::StrCat(Subject(options), HealthCheckResponse::ServingStatus_Name(response.status()))};
  }
  return {ExitCode::kServing, "SERVING"};
}

}  // namespace hermes::probe
