#include "tests/load/connections.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace hermes::load {
namespace {

absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": cannot be read"));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (contents.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": not a PEM file"));
  }
  return contents.str();
}

// Static files are enough for a run of minutes: no reloading, and --server_name is gRPC's own
// target name override (what ghz and grpcurl mean by it).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const LoadOptions& options) {
  if (options.insecure) return grpc::InsecureChannelCredentials();
  absl::StatusOr<std::string> ca = ReadPem("cacert", options.ca_file);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = ReadPem("cert", options.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("key", options.key_file);
  if (!key.ok()) return key.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *std::move(ca);
  ssl.pem_cert_chain = *std::move(cert);
  ssl.pem_private_key = *std::move(key);
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> OpenConnections(
    const LoadOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("hermes_load.connection", i);  // distinct arguments: a distinct subchannel
    // A load generator measures each attempt: a retried call would hide a failure and cost
    // the retry filter's bookkeeping on every call.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
    channels.push_back(grpc::CreateCustomChannel(options.address, *credentials, args));
  }
  return channels;
}

int WaitUntilConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                       absl::Duration timeout) {
  for (const auto& channel : channels) channel->GetState(/*try_to_connect=*/true);
  const auto deadline = absl::ToChronoTime(absl::Now() + timeout);
  int ready = 0;
  for (const auto& channel : channels) {
    if (channel->WaitForConnected(deadline)) ++ready;
  }
  return ready;
}

}  // namespace hermes::load
