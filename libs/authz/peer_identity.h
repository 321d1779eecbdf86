// PeerIdentity: who is calling, as proven by the peer's TLS certificate.
//
// Hermes identities are SPIFFE IDs, "spiffe://hermes/<name>", carried as a URI subject
// alternative name in each client certificate (API.md). gRPC exposes the verified certificate's
// URI SANs on the call's auth context (peer_uri; its x509_subject_alternative_name property
// mixes DNS, email, IP and URI names, so a DNS name spelled "spiffe://hermes/admin" would pass
// there). As SPIFFE wants, a certificate names one identity: exactly one URI SAN, in the hermes
// trust domain; anything else (no URI SAN, several, another scheme or trust domain) is no
// identity, which the policy then refuses even for "*" rules.
//
//   const std::string identity = PeerIdentity(*server_context.auth_context());
//   if (identity.empty()) ...no certificate, or one without a Hermes SPIFFE ID...
//
// The identity is only as trustworthy as the handshake: the server credentials must require and
// verify client certificates (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY).
#pragma once

#include <grpcpp/security/auth_context.h>

#include <string>

#include "absl/strings/string_view.h"

namespace hermes::authz {

// The auth-context property holding the certificate's URI subject alternative names (one value
// each): GRPC_PEER_URI_PROPERTY_NAME.
inline constexpr absl::string_view kPeerUriProperty = "peer_uri";
// The trust domain every Hermes identity is in.
inline constexpr absl::string_view kHermesSpiffePrefix = "spiffe://hermes/";

// The certificate's one URI SAN when it is a Hermes SPIFFE ID, or "".
std::string PeerIdentity(const grpc::AuthContext& context);

}  // namespace hermes::authz
