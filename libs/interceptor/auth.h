// Auth: puts the peer's verified identity (spiffe://hermes/<name>, from the client
// certificate's URI SAN) on the call, for the handlers and the log line.
//
// Authorization itself is not here: it must happen before any handler runs, which gRPC C++
// interceptors cannot do. libs/authz's AuthorizationProcessor does it on the TLS credentials,
// so a denied call never reaches this chain (it is logged and counted there).
#pragma once

#include <grpcpp/server_context.h>

#include <string>

#include "libs/interceptor/server_call.h"

namespace hermes::interceptor {

class AuthStage final : public ServerStage {
 public:
  void OnStart(ServerCall& call) override;
};

// For handlers: the verified identity of the caller, "" on a plaintext (--insecure) server.
std::string PeerIdentityOf(const grpc::ServerContextBase& context);

}  // namespace hermes::interceptor
