#include "libs/interceptor/logging.h"

#include <grpcpp/server_context.h>

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::interceptor {

spdlog::level::level_enum LevelForCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return spdlog::level::info;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return spdlog::level::err;
    default:
      return spdlog::level::warn;
  }
}

void LoggingStage::OnFinish(ServerCall& call, grpc::Status& status) {
  // A method this server does not register (a client probing, e.g. for reflection v1) is the
  // caller's mistake, not a server error, even though gRPC answers UNIMPLEMENTED.
  const bool unknown = !call.IsKnownMethod();
  const spdlog::level::level_enum level = call.method->is_health ? spdlog::level::debug
                                          : unknown              ? spdlog::level::warn
                                                    : LevelForCode(status.error_code());
  if (!telemetry::LogEnabled(level)) return;
  telemetry::LogLine line(level, "rpc finished");
  line.Str("method", call.path)
      .Str("grpc_type", RpcTypeLabel(call.method->type))
      .Str("code", errors::GoCodeName(status.error_code()))
      .Millis("duration_ms", call.Elapsed())
      .Str("peer", call.identity)
      .Str("peer_address", call.PeerAddress())
      .Str("request_id", call.request_id)
      .Str("trace_id", call.TraceId())
      .Str("span_id", call.SpanId());
  if (call.method->type != RpcType::kUnary) {
    line.Int("messages_received", call.messages_received.load(std::memory_order_relaxed))
        .Int("messages_sent", call.messages_sent.load(std::memory_order_relaxed));
  }
  if (!status.ok()) line.Str("error", status.error_message());
}

}  // namespace hermes::interceptor
