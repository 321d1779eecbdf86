// UnaryMethods: a service's unary methods on gRPC's async API, each answered on the thread that
// received it (AddInline), on a HandlerPool (AddOnPool), on the first unless that would wait
// (AddInlineOrOnPool), or started on a HandlerPool (AddOnPoolAnsweringLater) or on the thread
// that received it (AddInlineAnsweringLater) and answered later, from whichever thread finishes
// it, with its request parsed here.
//
// A service registers its unary methods raw (`WithRawMethod_<Method>` bases), implements
// ServesUnaryMethods, and adds each method once, in its constructor:
//
//   UserServiceImpl::UserServiceImpl(...) {
//     unary_.AddInlineOrOnPool<GetUserRequest, GetUserResponse>(
//         handlers_, [this](auto... call) { RequestGetUser(call...); },
//         [this](const grpc::ServerContext&, const GetUserRequest& request,
//                GetUserResponse* response, bool may_wait) {
//           return Get(request, response, may_wait);  // std::nullopt: would wait
//         });
//     unary_.AddOnPool<ListUsersRequest, ListUsersResponse>(handlers_, ...);
//   }
//
// runtime::GrpcServer finds such a service, gives it completion queues of its own, asks for
// its calls on them (RequestCalls) and runs one thread per queue that hands every event to its
// tag (AsyncTag). The server's chain (chain.h) runs around these calls as around any other,
// driven from here rather than by a gRPC interceptor: each call's context is a
// ChainedServerContext.
//
// AddInline is for handlers that never wait: no commit, no call to another service, no lock
// held for long. The queue's thread runs it, so a handler that waits there stalls every call of
// that queue. AddInlineOrOnPool is for those that usually need no wait and can tell when they
// would (a read by primary key, GetUser and GetOrder: from the cache or an idle connection, or
// else on the pool). Every other handler goes to a HandlerPool, where it may wait. A call whose
// client has gone (cancelled, or past its deadline) while it waited in the pool's queue is answered
// CANCELLED without running; a call that finds the pool's queue full (kDefaultMaxWaiting calls
// already wait for a thread) is answered RESOURCE_EXHAUSTED at once (kOverloaded), as gRPC's sync
// server answers a call it has no thread for: nothing of it ran, so it is safe to retry, later or
// on another instance.
//
// Why the async API (README, "Decisions and deviations"; tests/bench/hybrid_server.sh):
// - not the callback API: gRPC 1.51 (as Debian builds it, without NDEBUG) searches a completion
//   queue's outstanding operations linearly on every completion, and every open stream keeps
//   one outstanding on the server's one callback queue. Beside 10,000 open, idle WatchUsers
//   streams an echo GetUser on the callback API lost half its throughput and doubled its p99;
//   on queues of its own it did not move. The price, with no stream open: each call wakes a
//   queue thread where the callback API ran it on the thread that read it, so Hermes' GetUser
//   serves 14-23 % fewer calls a second at saturation; at 16 in flight its p99 is lower
//   (1.82 -> 1.08 ms over plaintext, tests/bench/ab.sh).
// - not the sync API: in a server that also has callback methods (the streams), gRPC 1.51 gives
//   the sync methods non-polling completion queues, and a sync call then waited ~100 ms every
//   so often.
//
// A request's bytes are parsed here (libs/api/parse_request.h), so one that does not parse is
// answered INVALID_ARGUMENT naming its field (a string that is not valid UTF-8) instead of
// gRPC's bare INTERNAL. An exception that escapes a handler is answered as gRPC's sync handlers
// answer it (errors::HandlerThrew()), so the recovery stage turns it into INTERNAL with an
// AppError; without that, one thrown on a queue's or the pool's thread would end the process.
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/chain.h"
#include "libs/interceptor/handler_pool.h"

namespace hermes::interceptor {

// An event's receiver on the unary methods' completion queues: every tag put on them is one.
class AsyncTag {
 public:
  // `ok`: what the completion queue reported for the operation (false: it did not happen,
  // e.g. a call asked for while the server shuts down).
  virtual void Proceed(bool ok) = 0;

 protected:
  ~AsyncTag() = default;
};

// Hands every event of `queue` to its tag until the queue is shut down and drained: what each
// of the unary methods' queue threads runs.
void ServeQueue(grpc::ServerCompletionQueue& queue);

// Calls of each method asked for in advance on each queue: a burst of new calls is matched
// without waiting for the queue's thread to ask for the next one.
inline constexpr int kRequestsPerMethod = 8;

// Where the answer of a call whose handler answers later goes (UnaryMethods' calls are sinks).
class AnswerSink {
 public:
  // `response` is sent when `status` is OK, and may be null when it is not.
  virtual void AnswerWith(grpc::Status status, const google::protobuf::Message* response) = 0;

 protected:
  ~AnswerSink() = default;
};

// The answer of one call of an ...AnsweringLater method: what its handler, and whatever
// it hands the rest of the call to, holds until it answers. Copies share one answer: the first
// Send goes out, and later ones do nothing. When the last copy goes unsent (the handler threw,
// or a path forgot to answer), the call is answered as a handler that throws
// (errors::HandlerThrew()): a call is never left unanswered, which Stop would wait for.
template <typename Response>
class PendingAnswer {
 public:
  explicit PendingAnswer(AnswerSink& sink) : state_(std::make_shared<State>(sink)) {}

  // What Send(OK) sends. One thread at a time, and not after Send.
  Response* response() const { return &state_->response; }
  void Send(grpc::Status status) const { state_->Send(std::move(status)); }

 private:
  struct State {
    explicit State(AnswerSink& answer_to) : sink(answer_to) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      if (!sent.load(std::memory_order_acquire)) sink.AnswerWith(errors::HandlerThrew(), nullptr);
    }
    void Send(grpc::Status status) {
      if (sent.exchange(true, std::memory_order_acq_rel)) return;
      sink.AnswerWith(std::move(status), &response);
    }

    AnswerSink& sink;
    Response response;
    std::atomic<bool> sent{false};
  };
  std::shared_ptr<State> state_;
};

// `handler()`, with an escaping exception answered as gRPC's sync wrapper answers it.
template <typename Handler>
auto RunCatching(Handler& handler) -> decltype(handler()) {
  try {
    return handler();
  } catch (...) {
    return errors::HandlerThrew();
  }
}

class UnaryMethods {
 public:
  // The generated `Request<Method>` of a `WithRawMethod_<Method>` base, bound to the service.
  using RequestFn = std::function<void(
      grpc::ServerContext*, grpc::ByteBuffer*, grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>*,
      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*)>;

  UnaryMethods() = default;
  UnaryMethods(const UnaryMethods&) = delete;
  UnaryMethods& operator=(const UnaryMethods&) = delete;

  // `handler`: (const grpc::ServerContext&, const Request&, Response*) -> grpc::Status; its
  // response is serialized and sent when it answers OK. The context's IsCancelled() says
  // whether the call has ended (its client cancelled it, or its deadline passed) once the queue
  // thread has taken gRPC's word for it, a moment after: a handler on a pool sees it (the
  // order service's user check asks it), one run inline never does (its own thread is the one
  // that would take the word), and a server-side TryCancel() does not show.
  template <typename Request, typename Response, typename Handler>
  void AddInline(RequestFn request, Handler handler) {
    Add<Request, Response>(std::move(request), nullptr, /*inline_first=*/true,
                           Answering<Request, Response>(std::move(handler)));
  }
  template <typename Request, typename Response, typename Handler>
  void AddOnPool(HandlerPool& pool, RequestFn request, Handler handler) {
    Add<Request, Response>(std::move(request), &pool, /*inline_first=*/false,
                           Answering<Request, Response>(std::move(handler)));
  }
  // Answered on the queue's thread when that needs no wait, else on `pool`. `handler`:
  // (const grpc::ServerContext&, const Request&, Response*, bool may_wait) ->
  // std::optional<grpc::Status>. It runs first on the queue's thread with may_wait false, and
  // says std::nullopt where answering would have to wait (a read of the store with no idle
  // connection); the call then goes to the pool as AddOnPool's do, where it runs again, from
  // the request, with may_wait true, and must answer. A read by key served from a cache or an
  // idle connection stays on the queue's thread; one that would wait for a connection no longer
  // holds up every other call of that queue meanwhile. On the pool it is admitted as AddOnPool's
  // calls are (RESOURCE_EXHAUSTED when kDefaultMaxWaiting calls already wait there).
  template <typename Request, typename Response, typename Handler>
  void AddInlineOrOnPool(HandlerPool& pool, RequestFn request, Handler handler) {
    Add<Request, Response>(std::move(request), &pool, /*inline_first=*/true, std::move(handler));
  }
  // For a handler that waits for something which can call it back (another service, through
  // its async stub) and should not hold a pool thread meanwhile. `handler`:
  // (const grpc::ServerContext&, const Request&, PendingAnswer<Response>) -> void. It runs on
  // `pool`, admitted as AddOnPool's handlers are (and not run for a client already gone), and
  // answers through the PendingAnswer, before it returns or later from any thread: it may hand
  // the answer on with the rest of its work (to the other service's callback, back to the pool
  // to commit). The request is the handler's only while it runs (a later step keeps what it
  // needs), the context until the answer is sent. An exception that escapes the handler is
  // not an answer: the call is answered by a copy of the PendingAnswer still held, or, with
  // none left, as a handler that throws.
  template <typename Request, typename Response, typename Handler>
  void AddOnPoolAnsweringLater(HandlerPool& pool, RequestFn request, Handler handler) {
    AddAnsweringLater<Request, Response>(&pool, std::move(request), std::move(handler));
  }
  // The same for a handler that never waits before it hands its answer on (to a store's commit
  // thread: the user service's writes): run on the queue's thread, as AddInline's are, with no
  // pool thread to wake and none held.
  template <typename Request, typename Response, typename Handler>
  void AddInlineAnsweringLater(RequestFn request, Handler handler) {
    AddAnsweringLater<Request, Response>(nullptr, std::move(request), std::move(handler));
  }

  // Asks for the next calls of every method on `cq` (kRequestsPerMethod each); each call asks
  // for one more as it arrives, until Stop.
  void RequestCalls(grpc::ServerCompletionQueue* cq);
  // No call is asked for from now on, and it returns once gRPC is done with every call asked
  // for so far: answered, or (not arrived) given back by the server's shutdown. The server calls
  // it after its own Shutdown, with the queues' threads still running, and shuts the queues
  // down after it: gRPC's Shutdown does not wait for an async call that its client cancelled
  // (its handler may still be running on the pool, and answers it later).
  void Stop();

  // Calls whose end the server has been told of (the call-ended notification, which a call
  // gets whether answered, cancelled or past its deadline): what a test awaits before it checks
  // how the server treats a call its client has given up on.
  int64_t EndsSeenForTesting() const { return ends_seen_.load(std::memory_order_acquire); }

 private:
  // What a call does with the request's bytes: parse, handle, serialize; std::nullopt when
  // the handler would have to wait and `may_wait` is false (see AddInlineOrOnPool).
  using Exchange = std::function<std::optional<grpc::Status>(
      const grpc::ServerContext&, const grpc::ByteBuffer&, grpc::ByteBuffer*, bool may_wait)>;
  // The same for a handler that answers later, through `sink`.
  using LaterExchange =
      std::function<void(const grpc::ServerContext&, const grpc::ByteBuffer&, AnswerSink& sink)>;
  struct Method {
    RequestFn request;
    HandlerPool* pool = nullptr;  // null: answered on the queue's thread
    bool inline_first = true;     // tried on the queue's thread first (always, with no pool)
    Exchange exchange;            // unless answered later
    LaterExchange answer_later;   // set: answered later, started on `pool` (or inline if null)
  };
  class Call;  // one call of a method, from the moment it is asked for (unary_methods.cc)

  // The stack block a call's request and response start on: a GetUser's pair takes ~600
  // bytes; a larger answer (a ListUsers page) goes on in blocks from the heap.
  static constexpr size_t kArenaFirstBlockBytes = 1024;

  // An AddInline/AddOnPool handler, which always answers, as an AddInlineOrOnPool one.
  template <typename Request, typename Response, typename Handler>
  static auto Answering(Handler handler) {
    return
        [handler = std::move(handler)](const grpc::ServerContext& context, const Request& request,
                                       Response* response, bool /*may_wait*/) mutable {
          return std::optional<grpc::Status>(handler(context, request, response));
        };
  }
  template <typename Request, typename Response, typename Handler>
  void Add(RequestFn request_fn, HandlerPool* pool, bool inline_first, Handler handler);
  // `pool` null: run on the queue's thread.
  template <typename Request, typename Response, typename Handler>
  void AddAnsweringLater(HandlerPool* pool, RequestFn request_fn, Handler handler);
  // Asks for the next call of `method` on `cq`, unless stopped.
  void Ask(const Method& method, grpc::ServerCompletionQueue* cq);

  // A Call's end (it was deleted).
  void Ended();

  std::vector<std::unique_ptr<Method>> methods_;  // added before the server starts
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int live_calls_ ABSL_GUARDED_BY(mu_) = 0;  // asked for and not yet deleted
  std::atomic<int64_t> ends_seen_{0};
};

// Implemented by a service whose unary methods are UnaryMethods: runtime::GrpcServer serves
// them for it. Such a service can be given to one server in its life (gRPC's rule for async
// services, which it asserts; and Stop is for good), even if that server failed to start.
class ServesUnaryMethods {
 public:
  virtual UnaryMethods& unary_methods() = 0;

 protected:
  ~ServesUnaryMethods() = default;
};

template <typename Request, typename Response, typename Handler>
void UnaryMethods::Add(RequestFn request_fn, HandlerPool* pool, bool inline_first,
                       Handler handler) {
  auto method = std::make_unique<Method>();
  method->request = std::move(request_fn);
  method->pool = pool;
  method->inline_first = inline_first || pool == nullptr;
  method->exchange = [handler = std::move(handler)](
                         const grpc::ServerContext& context, const grpc::ByteBuffer& request_bytes,
                         grpc::ByteBuffer* response_bytes,
                         bool may_wait) mutable -> std::optional<grpc::Status> {
    // Both messages live on an arena whose first block is on this stack: no allocation per
    // message (a string longer than 15 bytes still has its own), and one step frees them all.
    alignas(std::max_align_t) char first_block[kArenaFirstBlockBytes];
    google::protobuf::Arena arena(first_block, sizeof(first_block));
    auto* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
    if (absl::Status parsed = api::ParseRequest(request_bytes, request); !parsed.ok()) {
      return errors::ToGrpcStatus(parsed);
    }
    auto* response = google::protobuf::Arena::CreateMessage<Response>(&arena);
    auto run = [&]() -> std::optional<grpc::Status> {
      return handler(context, *request, response, may_wait);
    };
    std::optional<grpc::Status> status = RunCatching(run);
    if (!status.has_value() || !status->ok()) return status;
    return api::SerializeResponse(*response, response_bytes);
  };
  methods_.push_back(std::move(method));
}

template <typename Request, typename Response, typename Handler>
void UnaryMethods::AddAnsweringLater(HandlerPool* pool, RequestFn request_fn, Handler handler) {
  auto method = std::make_unique<Method>();
  method->request = std::move(request_fn);
  method->pool = pool;
  method->inline_first = false;
  method->answer_later = [handler = std::move(handler)](const grpc::ServerContext& context,
                                                        const grpc::ByteBuffer& request_bytes,
                                                        AnswerSink& sink) mutable {
    Request request;
    if (absl::Status parsed = api::ParseRequest(request_bytes, &request); !parsed.ok()) {
      sink.AnswerWith(errors::ToGrpcStatus(parsed), nullptr);
      return;
    }
    try {
      handler(context, request, PendingAnswer<Response>(sink));
    } catch (...) {  // answered by a copy still held, or by the last one's going (PendingAnswer)
    }
  };
  methods_.push_back(std::move(method));
}

}  // namespace hermes::interceptor
