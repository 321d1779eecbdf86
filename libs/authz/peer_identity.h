// PeerIdentity: who is calling, as proven by the peer's TLS certificate.
//
// Hermes identities are SPIFFE IDs, "spiffe://hermes/<name>", carried as a URI subject
// alternative name in each client certificate (API.md). gRPC exposes the verified certificate's
// SANs on the call's auth context; this picks the SPIFFE one.
//
//   const std::string identity = PeerIdentity(*server_context.auth_context());
//   if (identity.empty()) ...no certificate, or one without a SPIFFE ID...
//
// The identity is only as trustworthy as the handshake: the server credentials must require and
// verify client certificates (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY).
#pragma once

#include <grpcpp/security/auth_context.h>

#include <string>

#include "absl/strings/string_view.h"

namespace hermes::authz {

// The auth-context property holding the certificate's subject alternative names (one value each).
inline constexpr absl::string_view kSubjectAlternativeNameProperty =
    "x509_subject_alternative_name";

// The first subject alternative name that starts with "spiffe://", or "" when there is none.
std::string PeerIdentity(const grpc::AuthContext& context);

}  // namespace hermes::authz
