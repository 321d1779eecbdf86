#include "libs/interceptor/auth.h"

#include "libs/authz/peer_identity.h"

namespace hermes::interceptor {

std::string PeerIdentityOf(const grpc::ServerContextBase& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return auth == nullptr ? std::string() : authz::PeerIdentity(*auth);
}

void AuthStage::OnStart(ServerCall& call) { call.identity = PeerIdentityOf(*call.context); }

}  // namespace hermes::interceptor
