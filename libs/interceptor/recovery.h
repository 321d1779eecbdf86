// Recovery: an exception escaping a handler becomes INTERNAL with an AppError, is logged with
// the method and counted in hermes_handler_panics_total{grpc_service,grpc_method}; the server
// keeps serving.
//
// gRPC C++ catches the exception itself (the generated sync handlers run inside a try/catch;
// for the services' unary methods and streams, unary_methods.h and the reactors do the same) and
// answers UNKNOWN
// "Unexpected error in RPC handling"; the exception object is gone by the time any
// interceptor runs. This stage recognises that exact status when the handler finishes and
// rewrites it, before any later stage reports it. The client never sees the exception text.
//
// It also turns gRPC's answer to a request that does not parse (no request received, and
// INTERNAL with an empty message on the sync API, UNIMPLEMENTED with an empty message on the
// callback API — e.g. a string field that is not valid UTF-8) into INVALID_ARGUMENT with an
// AppError, as API.md requires for invalid UTF-8. The services' unary methods parse their own
// requests and name the field (unary_methods.h), and so does WatchUsers' reactor; this is for
// the methods whose one request gRPC parses for us: the health service's. gRPC answers a call
// whose client
// cancelled it before its request arrived the same way, and every hook sees it the same way,
// so for those methods such a call is counted as INVALID_ARGUMENT too.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "libs/errors/app_error.h"
#include "libs/interceptor/server_call.h"

namespace hermes::interceptor {

// What a throwing handler is answered with (UNKNOWN): libs/errors/app_error.h.
using errors::kHandlerThrew;

struct RecoveryOptions {
  prometheus::Registry* registry = nullptr;  // where hermes_handler_panics_total lives
};

class RecoveryStage final : public ServerStage {
 public:
  RecoveryStage(const RecoveryOptions& options, const MethodTable& methods);
  void OnFinish(ServerCall& call, grpc::Status& status) override;

 private:
  prometheus::Family<prometheus::Counter>& panics_;
  const MethodInfo* unknown_method_;
};

}  // namespace hermes::interceptor
