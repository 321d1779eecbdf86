// Mutual TLS for Hermes servers and clients, built on gRPC's own TLS stack.
//
// Both sides use grpc::experimental::FileWatcherCertificateProvider, so a key, cert or CA
// changed on disk takes effect for new handshakes within `reload_interval`, with no restart.
// gRPC installs whatever the files hold, consistent or not: services give it the files of a
// TlsMaterial (tls_material.h), which only ever holds a checked, matching set.
//
//   auto creds = MutualTlsServerCredentials(material->in_force(), absl::Seconds(5));
//   creds->SetAuthMetadataProcessor(processor);   // authorization, before any handler
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/runtime/server_config.h"

namespace hermes::runtime {

// What ReadTlsFiles read and checked, written out again as PEM from what was parsed (so that a
// TLS stack given it reads exactly that, and nothing else the files held).
struct TlsPem {
  std::string ca;        // the CA certificates
  std::string cert;      // the certificate chain, ours first
  std::string key;       // the private key, unencrypted PKCS#8
  absl::Time not_after;  // of our certificate
};

// Reads the three files as a TLS stack would: the CA file holds one or more certificates, the
// certificate file a certificate chain, the key file an unencrypted private key matching the
// chain's first certificate, which must be within its validity period now (expired, or not valid
// yet, every handshake would fail). gRPC itself only logs a bad file and keeps serving with
// handshakes that all fail; this makes it an error that names the flag. A file that cannot be read
// is NotFound or FailedPrecondition; one read that holds no valid TLS material is InvalidArgument,
// a certificate that does not parse included (a TLS stack would quietly use the ones before it).
absl::StatusOr<TlsPem> ReadTlsFiles(const TlsFiles& files);
absl::Status CheckTlsFiles(const TlsFiles& files);  // ReadTlsFiles, for its status only

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
