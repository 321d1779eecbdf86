#include "libs/interceptor/server_call.h"

#include <grpcpp/server_context.h>

namespace hermes::interceptor {

const std::string& ServerCall::PeerAddress() {
  if (!peer_address_fetched_) {
    if (context != nullptr) peer_address_ = context->peer();
    peer_address_fetched_ = true;
  }
  return peer_address_;
}

}  // namespace hermes::interceptor
