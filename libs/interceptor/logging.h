// Logging: one JSON line per finished RPC, with what an operator needs to find it again:
// method, grpc code (as grpc-go spells it), duration, peer identity and address, request id,
// trace id, message counts for streams.
//
// Level by outcome: OK → info; errors the caller caused (InvalidArgument, NotFound,
// PermissionDenied, FailedPrecondition, Canceled, DeadlineExceeded…) → warn; errors of the
// server (Unknown, Internal, Unimplemented, Unavailable, DataLoss) → error. Health checks are
// logged at debug whatever their outcome: probes would otherwise drown the log. A call to a
// method the server does not register is logged at warn (the caller's mistake).
#pragma once

#include <grpcpp/support/status.h>
#include <spdlog/common.h>

#include "libs/interceptor/server_call.h"

namespace hermes::interceptor {

class LoggingStage final : public ServerStage {
 public:
  void OnFinish(ServerCall& call, grpc::Status& status) override;
};

spdlog::level::level_enum LevelForCode(grpc::StatusCode code);

}  // namespace hermes::interceptor
