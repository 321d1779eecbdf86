#include "libs/authz/peer_identity.h"

#include <vector>

#include "absl/strings/match.h"

namespace hermes::authz {

std::string PeerIdentity(const grpc::AuthContext& context) {
  // A certificate may carry DNS names and IP addresses as well; only a spiffe:// URI names a
  // Hermes identity.
  const std::vector<grpc::string_ref> names =
      context.FindPropertyValues(std::string(kSubjectAlternativeNameProperty));
  for (const grpc::string_ref& name : names) {
    const absl::string_view view(name.data(), name.size());
    if (absl::StartsWith(view, "spiffe://")) return std::string(view);
  }
  return "";
}

}  // namespace hermes::authz
