#include "libs/authz/peer_identity.h"

#include <vector>

#include "absl/strings/match.h"

namespace hermes::authz {

std::string PeerIdentity(const grpc::AuthContext& context) {
  const std::vector<grpc::string_ref> uris =
      context.FindPropertyValues(std::string(kPeerUriProperty));
  if (uris.size() != 1) return "";
  const absl::string_view uri(uris.front().data(), uris.front().size());
  if (!absl::StartsWith(uri, kHermesSpiffePrefix) || uri.size() == kHermesSpiffePrefix.size()) {
    return "";
  }
  return std::string(uri);
}

}  // namespace hermes::authz
