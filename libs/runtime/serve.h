// Serve: the life of a Hermes service process, shared by every main.cc.
//
// Start the gRPC server from the config, report SERVING, wait for SIGTERM/SIGINT, drain within
// the grace period and return the process exit code (0 after a clean stop, 1 when start-up
// failed; the reason is logged).
#pragma once

#include <string_view>
#include <vector>

#include "libs/runtime/grpc_server.h"
#include "libs/runtime/server_config.h"
#include "libs/runtime/termination_signals.h"

namespace hermes::runtime {

int Serve(std::string_view program, const ServerConfig& config,
          std::vector<ServiceRegistration> services, const TerminationSignals& signals);

}  // namespace hermes::runtime
