// Unary methods on gRPC's callback API: AnswerInline runs the handler on the thread that
// received the call, AnswerOn on a HandlerPool thread. The services register every unary
// method raw and use the overloads at the bottom, which also parse the request and serialize
// the response; the two below take any () -> grpc::Status.
//
//   grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
//                                     const GetUserRequest* request,
//                                     GetUserResponse* response) override {
//     return interceptor::AnswerInline(context, [&] { return Get(*request, response); });
//   }
//   grpc::ServerUnaryReactor* CreateUser(grpc::CallbackServerContext* context,
//                                        const CreateUserRequest* request,
//                                        CreateUserResponse* response) override {
//     return interceptor::AnswerOn(handlers_, context,
//                                  [this, request, response] { return Create(*request, response);
//                                  });
//   }
//
// AnswerInline is for handlers that never wait: no commit, no call to another service, no lock
// held for long — a read by primary key (GetUser, GetOrder). gRPC 1.51 runs every callback
// completion, the streams' included, on a few shared threads (its "callback alternative CQ":
// two on machines of up to 5 cores), so a handler that waits there stalls them all. Every
// other handler goes to a HandlerPool, where it may wait: the request, the response and the
// context stay valid until it has answered. A call whose client has gone (cancelled, or past
// its deadline) while it waited in the pool's queue is answered CANCELLED without running; a
// call that finds the pool's queue full (kDefaultMaxWaiting calls already wait for a thread) is
// answered RESOURCE_EXHAUSTED at once (kOverloaded), as gRPC's sync server answers a call it
// has no thread for: nothing of it ran, so it is safe to retry, later or on another instance.
//
// Why not the sync API: in a server that also has callback methods (the streams), gRPC 1.51
// gives the sync methods non-polling completion queues, and a sync call then waited ~100 ms
// every so often: at an open-loop 2,000 calls/s, p99 86–97 ms against ~2 ms for the same
// handler on the callback API (inline or on a pool), in a server with only sync methods, or in
// one with only callback ones (tests/bench/hybrid_server.sh). And answered inline, GetUser
// costs ~24 % less server CPU a call than on the sync API (README, Performance).
//
// The interceptor chain runs around these calls exactly as around sync ones. An exception that
// escapes a handler is answered as gRPC's sync handlers answer it (errors::HandlerThrew()), so
// the recovery stage turns it into INTERNAL with an AppError for both kinds alike. Without
// that, gRPC would answer one thrown by the method itself UNIMPLEMENTED (uncounted), and one
// thrown on a pool thread would end the process.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <utility>

#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/handler_pool.h"

namespace hermes::interceptor {

// What a raw method answers when no request arrived at all: gRPC still runs the method when
// the client cancelled the call before sending its request (it only sees the call then).
inline constexpr char kNoRequest[] =
    "no request arrived: the client cancelled the call (or ended it without one)";

// `handler()`, with an escaping exception answered as gRPC's sync wrapper answers it.
template <typename Handler>
grpc::Status RunCatching(Handler& handler) {
  try {
    return handler();
  } catch (...) {
    return errors::HandlerThrew();
  }
}

// `handler`: () -> grpc::Status, run before AnswerInline returns.
template <typename Handler>
grpc::ServerUnaryReactor* AnswerInline(grpc::CallbackServerContext* context, Handler&& handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(RunCatching(handler));
  return reactor;
}

// `handler`: () -> grpc::Status, run on `pool`; it must own or point to what it uses, not
// refer to the caller's locals.
template <typename Handler>
grpc::ServerUnaryReactor* AnswerOn(HandlerPool& pool, grpc::CallbackServerContext* context,
                                   Handler handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool admitted = pool.TryPost([context, reactor, handler = std::move(handler)]() mutable {
    if (context->IsCancelled()) {  // nobody waits for the answer: do not commit for nobody
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    reactor->Finish(RunCatching(handler));
  });
  if (!admitted) {
    reactor->Finish(errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED, kOverloaded));
  }
  return reactor;
}

// The same for a method registered raw (a `WithRawCallbackMethod_` base, as every unary method
// of the services is): the request's bytes are parsed here (libs/api/parse_request.h), so one
// that does not parse is answered INVALID_ARGUMENT naming its field (a string that is not valid
// UTF-8) instead of gRPC's bare UNIMPLEMENTED, and a call whose request never arrived is
// answered CANCELLED instead of looking like a bad request. `handler`: (const Request&,
// Response*) -> grpc::Status; its response is serialized into `response_bytes` when it
// answers OK.
//
//   grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
//                                     const grpc::ByteBuffer* request_bytes,
//                                     grpc::ByteBuffer* response_bytes) override {
//     return interceptor::AnswerInline<GetUserRequest, GetUserResponse>(
//         context, request_bytes, response_bytes,
//         [this](const GetUserRequest& request, GetUserResponse* response) {
//           return Get(request, response);
//         });
//   }
template <typename Request, typename Response, typename Handler>
grpc::Status Exchange(const grpc::ByteBuffer& request_bytes, grpc::ByteBuffer* response_bytes,
                      Handler& handler) {
  if (!request_bytes.Valid()) return grpc::Status(grpc::StatusCode::CANCELLED, kNoRequest);
  Request request;
  if (absl::Status parsed = api::ParseRequest(request_bytes, &request); !parsed.ok()) {
    return errors::ToGrpcStatus(parsed);
  }
  Response response;
  grpc::Status status = handler(request, &response);
  if (!status.ok()) return status;
  return api::SerializeResponse(response, response_bytes);
}

template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* AnswerInline(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request_bytes,
                                       grpc::ByteBuffer* response_bytes, Handler&& handler) {
  return AnswerInline(context, [&] {
    return Exchange<Request, Response>(*request_bytes, response_bytes, handler);
  });
}

template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* AnswerOn(HandlerPool& pool, grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request_bytes,
                                   grpc::ByteBuffer* response_bytes, Handler handler) {
  return AnswerOn(pool, context,
                  [request_bytes, response_bytes, handler = std::move(handler)]() mutable {
                    return Exchange<Request, Response>(*request_bytes, response_bytes, handler);
                  });
}

}  // namespace hermes::interceptor
