#include "libs/interceptor/unary_methods.h"

#include <atomic>
#include <optional>
#include <utility>

namespace hermes::interceptor {

// One call of a method, from the moment it is asked for until gRPC is done with it. Its tag
// comes back twice: when the call arrives (or, not ok, never will) and when its answer was
// sent. It also asks to be told when the call ends (done_): so that a call whose client went
// away while it waited for a pool thread is not run, and so that a handler may ask
// ServerContext::IsCancelled() (on the async API that is safe only with this notification; it
// plucks the completion queue otherwise). The call is deleted by whichever of the two ends
// comes last.
class UnaryMethods::Call final : public AsyncTag, public AnswerSink {
 public:
  Call(UnaryMethods& methods, const Method& method, grpc::ServerCompletionQueue* cq)
      : methods_(methods), method_(method), cq_(cq) {
    // Tags go out as AsyncTag*, which is what the queue threads cast them back to.
    context_.AsyncNotifyWhenDone(static_cast<AsyncTag*>(&done_));
    method_.request(&context_, &request_, &responder_, cq_, cq_, static_cast<AsyncTag*>(this));
  }

  void Proceed(bool ok) override {
    // The answer went out (or the call had ended by then).
    if (answered_.load(std::memory_order_acquire)) {
      Unref();
      return;
    }
    if (!ok) {  // asked for while the server shuts down: no call, and no done_ either
      Delete();
      return;
    }
    if (ChainedCall* chained = context_.chained_call()) {
      chained->StartOnContext();
      chained->MessageReceived();
    }
    methods_.Ask(method_, cq_);
    if (method_.answer_later && method_.pool == nullptr) {  // AddInlineAnsweringLater
      method_.answer_later(context_, request_, *this);
      return;
    }
    if (method_.inline_first) {
      // With no pool to go to, the handler answers whatever it takes (AddInline).
      const bool may_wait = method_.pool == nullptr;
      if (std::optional<grpc::Status> status =
              method_.exchange(context_, request_, &response_, may_wait)) {
        Answer(*status);
        return;
      }
    }
    const bool admitted = method_.pool->TryPost([this] {
      // Nobody waits for the answer any more: do not commit for nobody.
      if (done_.ended.load(std::memory_order_acquire)) {
        Answer(grpc::Status::CANCELLED);
        return;
      }
      if (method_.answer_later) {  // the call lives on until its answer (refs_)
        method_.answer_later(context_, request_, *this);
        return;
      }
      std::optional<grpc::Status> status =
          method_.exchange(context_, request_, &response_, /*may_wait=*/true);
      // A handler that declines though it may wait is a bug: answered as one that throws.
      Answer(status.value_or(errors::HandlerThrew()));
    });
    if (!admitted) {
      Answer(errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED, kOverloaded));
    }
  }

  // A later answer (AddOnPoolAnsweringLater), from any thread.
  void AnswerWith(grpc::Status status, const google::protobuf::Message* response) override {
    if (status.ok()) {
      status = response != nullptr ? api::SerializeResponse(*response, &response_)
                                   : errors::HandlerThrew();
    }
    Answer(std::move(status));
  }

 private:
  // The AsyncNotifyWhenDone tag: the call ended, answered or not (cancelled, past its deadline).
  struct Done final : AsyncTag {
    explicit Done(Call* owner) : call(owner) {}
    void Proceed(bool /*ok*/) override {
      ended.store(true, std::memory_order_release);
      call->methods_.ends_seen_.fetch_add(1, std::memory_order_release);
      call->Unref();
    }
    Call* call;
    std::atomic<bool> ended{false};
  };

  void Answer(grpc::Status status) {
    const bool handler_ok = status.ok();  // the response is sent, and counted, only then
    // The chain's end of the call, before anything is sent, as its interceptor's would be.
    if (ChainedCall* chained = context_.chained_call()) {
      if (handler_ok) chained->MessageSent();
      chained->Finish(status);  // may rewrite an error (recovery does), never make one OK
    }
    // Set first: the completion may come back on the queue's thread before Finish returns.
    answered_.store(true, std::memory_order_release);
    // Held until Finish has returned: its completion may otherwise delete the call (on the
    // queue's thread) while Finish is still unwinding through it.
    refs_.fetch_add(1, std::memory_order_relaxed);
    if (handler_ok) {  // gRPC's Finish leaves the response out if a stage made it an error
      responder_.Finish(response_, status, static_cast<AsyncTag*>(this));
    } else {
      responder_.FinishWithError(status, static_cast<AsyncTag*>(this));
    }
    Unref();
  }

  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Delete();
  }
  // Counted as ended only once its context (which releases gRPC's call) is gone.
  void Delete() {
    UnaryMethods& methods = methods_;
    delete this;
    methods.Ended();
  }

  UnaryMethods& methods_;
  const Method& method_;
  grpc::ServerCompletionQueue* const cq_;
  ChainedServerContext context_;  // runs the server's chain, if it has one (chain.h)
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_{&context_};
  Done done_{this};
  std::atomic<int> refs_{2};  // the answer's completion, and done_ (and Answer, while it runs)
  std::atomic<bool> answered_{false};
};

void ServeQueue(grpc::ServerCompletionQueue& queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) static_cast<AsyncTag*>(tag)->Proceed(ok);
}

void UnaryMethods::RequestCalls(grpc::ServerCompletionQueue* cq) {
  for (const std::unique_ptr<Method>& method : methods_) {
    for (int i = 0; i < kRequestsPerMethod; ++i) Ask(*method, cq);
  }
}

void UnaryMethods::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  mu_.Await(absl::Condition(
      +[](int* live_calls) { return *live_calls == 0; }, &live_calls_));
}

void UnaryMethods::Ask(const Method& method, grpc::ServerCompletionQueue* cq) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  new Call(*this, method, cq);  // owned by gRPC's events from here: see Call
  ++live_calls_;  // after: a Call that failed to be made is not waited for (Ended needs mu_)
}

void UnaryMethods::Ended() {
  absl::MutexLock lock(&mu_);
  --live_calls_;
}

}  // namespace hermes::interceptor
