// Serve: the life of a Hermes service process, shared by every main.cc.
//
// Sets up JSON logging (gRPC's own lines included), the /metrics endpoint, mTLS with the
// authorization policy enforced before any handler (or plaintext with --insecure), the
// interceptor chain, health and reflection; reports SERVING; waits for SIGTERM/SIGINT; drains
// within the grace period. Returns the process exit code: 0 after a clean stop, 1 when
// start-up failed (the reason is logged).
#pragma once

#include <vector>

#include "libs/runtime/grpc_server.h"
#include "libs/runtime/server_config.h"
#include "libs/runtime/termination_signals.h"

namespace hermes::runtime {

int Serve(const ServerConfig& config, std::vector<ServiceRegistration> services,
          const TerminationSignals& signals);

}  // namespace hermes::runtime
