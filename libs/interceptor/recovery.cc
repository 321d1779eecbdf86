#include "libs/interceptor/recovery.h"

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::interceptor {
namespace {

prometheus::Labels LabelsFor(const MethodInfo& method) {
  return {{"grpc_service", method.service}, {"grpc_method", method.method}};
}

}  // namespace

RecoveryStage::RecoveryStage(const RecoveryOptions& options, const MethodTable& methods)
    : panics_(prometheus::BuildCounter()
                  .Name("hermes_handler_panics_total")
                  .Help("Handlers that ended by throwing an exception, turned into INTERNAL.")
                  .Register(*options.registry)),
      unknown_method_(&methods.Unknown()) {
  // Every series exists from the start, at 0, so rate() and alerts work before the first panic.
  for (const MethodInfo* method : methods.All()) panics_.Add(LabelsFor(*method));
}

void RecoveryStage::OnFinish(ServerCall& call, grpc::Status& status) {
  // A unary or server-streaming call that never received its request failed to parse it
  // (before any handler runs, gRPC answers INTERNAL with an empty message on the sync API and
  // UNIMPLEMENTED with an empty message on the callback API), e.g. a string field that is not
  // valid UTF-8: the caller's mistake, as API.md says.
  // (An unregistered method is answered UNIMPLEMENTED too, by gRPC, and is left alone.)
  const bool single_request =
      call.method != unknown_method_ &&
      (call.method->type == RpcType::kUnary || call.method->type == RpcType::kServerStream);
  const bool unparsed_answer =
      status.error_code() == grpc::StatusCode::INTERNAL ||
      (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty());
  if (unparsed_answer && single_request &&
      call.messages_received.load(std::memory_order_relaxed) == 0 &&
      status.error_details().empty()) {
    status = errors::GrpcError(grpc::StatusCode::INVALID_ARGUMENT,
                               "the request is not a valid message of this method (every string "
                               "field must be valid UTF-8)");
    return;
  }
  if (status.error_code() != grpc::StatusCode::UNKNOWN || status.error_message() != kHandlerThrew) {
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
