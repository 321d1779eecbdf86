#include "libs/interceptor/recovery.h"

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::interceptor {
namespace {

// What gRPC's generated handler wrapper (CatchingFunctionHandler) answers when a handler throws.
constexpr char kGrpcCaughtException[] = "Unexpected error in RPC handling";

prometheus::Labels LabelsFor(const MethodInfo& method) {
  return {{"grpc_service", method.service}, {"grpc_method", method.method}};
}

}  // namespace

RecoveryStage::RecoveryStage(const RecoveryOptions& options, const MethodTable& methods)
    : panics_(prometheus::BuildCounter()
                  .Name("hermes_handler_panics_total")
                  .Help("Handlers that ended by throwing an exception, turned into INTERNAL.")
                  .Register(*options.registry)) {
  // Every series exists from the start, at 0, so rate() and alerts work before the first panic.
  for (const MethodInfo* method : methods.All()) panics_.Add(LabelsFor(*method));
}

void RecoveryStage::OnFinish(ServerCall& call, grpc::Status& status) {
  // A unary or server-streaming call that never received its request failed to parse it
  // (gRPC answers INTERNAL with an empty message before any handler runs), e.g. a string
  // field that is not valid UTF-8: the caller's mistake, as API.md says.
  const bool single_request =
      call.method->type == RpcType::kUnary || call.method->type == RpcType::kServerStream;
  if (status.error_code() == grpc::StatusCode::INTERNAL && single_request &&
      call.messages_received == 0 && status.error_details().empty()) {
    status = errors::GrpcError(grpc::StatusCode::INVALID_ARGUMENT,
                               "the request is not a valid message of this method (every string "
                               "field must be valid UTF-8)");
    return;
  }
  if (status.error_code() != grpc::StatusCode::UNKNOWN ||
      status.error_message() != kGrpcCaughtException) {
    return;
  }
  call.recovered_panic = true;
  panics_.Add(LabelsFor(*call.method)).Increment();
  HERMES_LOG(spdlog::level::err, "handler threw an exception; answered INTERNAL")
      .Str("method", call.method->path)
      .Str("request_id", call.request_id)
      .Str("peer", call.identity);
  status = errors::GrpcError(grpc::StatusCode::INTERNAL, "internal error");
}

}  // namespace hermes::interceptor
