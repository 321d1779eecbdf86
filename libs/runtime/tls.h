// Mutual TLS for Hermes servers and clients, built on gRPC's own TLS stack.
//
// Both sides use grpc::experimental::FileWatcherCertificateProvider, so a rotated key, cert
// or CA on disk takes effect for new handshakes within `reload_interval`, with no restart.
// Swap a key and its certificate together (a directory rename or symlink flip): a key that
// does not match its certificate makes new handshakes fail until the pair is consistent.
//
//   auto creds = MutualTlsServerCredentials(config.tls, absl::Seconds(5));
//   creds->SetAuthMetadataProcessor(processor);   // authorization, before any handler
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/runtime/server_config.h"

namespace hermes::runtime {

// Reads the three files as a TLS stack would: the CA file holds at least one certificate, the
// certificate file a certificate, the key file a private key matching it. gRPC itself only
// logs a bad file and keeps serving with handshakes that all fail; this makes it a start-up
// error that names the flag.
absl::Status CheckTlsFiles(const TlsFiles& files);

// Server side: client certificates are required and verified against `files.ca`; peers
// without one, or with one from another CA, fail the handshake and never reach a handler.
std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(const TlsFiles& files,
                                                                    absl::Duration reload_interval);

// Client side: presents `files.cert` and verifies the server's chain against `files.ca`.
// With `server_identity` set (e.g. "spiffe://hermes/user"), the server is identified by that
// URI SAN — the identity API.md defines — instead of the host name it was reached by, which a
// target listing several addresses (round_robin over replicas) does not have. Without it, the
// host name is checked (deploy/certs' server certificates carry localhost, the service name
// and the loopback addresses).
std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(
    const TlsFiles& files, absl::Duration reload_interval, const std::string& server_identity = "");

}  // namespace hermes::runtime
