#include "services/order/upload_order_events.h"

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "order/v1/order.grpc.pb.h"
#include "services/order/order_validation.h"

namespace hermes::order {
namespace {

// What is wrong with the message itself (it does not parse, names no known order, asks for a
// step the order cannot take): the message is rejected and the stream goes on. Any other
// error (the store busy, full or failing; UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL) is not
// the message's fault: counting it as a rejection would tell the client not to send it again,
// and the stream ends with it instead, as a unary call would.
bool RejectsTheMessage(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

}  // namespace

const std::string& UploadOrderEventsPath() {
  static const std::string* const path = new std::string(
      absl::StrCat("/", ::order::v1::OrderService::service_full_name(), "/UploadOrderEvents"));
  return *path;
}

void UploadStreams::Drain() {
  std::vector<UploadOrderEventsReactor*> open;
  {
    absl::MutexLock lock(&mutex_);
    draining_ = true;
    for (UploadOrderEventsReactor* upload : open_) {
      upload->references_.fetch_add(1, std::memory_order_relaxed);  // kept past its OnDone
      open.push_back(upload);
    }
  }
  // Unlocked: a Finish may run OnDone, which removes the upload from open_.
  for (UploadOrderEventsReactor* upload : open) {
    upload->Drain();
    upload->Unref();
  }
}

bool UploadStreams::Add(UploadOrderEventsReactor* upload) {
  absl::MutexLock lock(&mutex_);
  if (draining_) return false;
  open_.insert(upload);
  return true;
}

void UploadStreams::Remove(UploadOrderEventsReactor* upload) {
  absl::MutexLock lock(&mutex_);
  open_.erase(upload);
}

UploadOrderEventsReactor* UploadOrderEventsReactor::Start(
    OrderStore& store, interceptor::HandlerPool& pool, interceptor::WaitingBound& writes,
    UploadStreams& streams, const StreamOptions& options, grpc::CallbackServerContext* context,
    std::shared_ptr<const interceptor::ServerChain> chain, grpc::ByteBuffer* response) {
  auto* reactor =
      new UploadOrderEventsReactor(store, pool, writes, streams, options, context, response);
  interceptor::ChainedCall::BeginIfDriven(reactor->chained_, std::move(chain),
                                          UploadOrderEventsPath(), context);
  absl::MutexLock lock(&reactor->mutex_);
  if (!streams.Add(reactor)) {
    reactor->draining_ = true;
    reactor->FinishOnce(reactor->ShuttingDown());
    return reactor;
  }
  reactor->reading_ = true;
  reactor->StartRead(&reactor->received_);
  return reactor;
}

void UploadOrderEventsReactor::OnReadDone(bool ok) {
  {
    absl::MutexLock lock(&mutex_);
    reading_ = false;
    if (ok && chained_.has_value()) chained_->MessageReceived();
    if (finished_) return;  // drained while the read was pending
    // Not ok: the client half-closed (or the call is over: cancelled, deadline): nothing more
    // will be read, and the summary is the answer (a cancelled call's is not sent).
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    if (draining_) {  // this message arrived as the drain began: not applied
      FinishOnce(ShuttingDown());
      return;
    }
    if (index_ >= max_messages_) {  // not applied either
      FinishOnce(TooManyMessages());
      return;
    }
  }
  // Posted unlocked: a pool that cannot start a thread runs the task here. A drain from now on
  // finds no read pending and leaves the end to the task. The task holds a reference: once it
  // has finished the stream, OnDone may run on another thread before the task lets go of
  // mutex_.
  references_.fetch_add(1, std::memory_order_relaxed);
  auto apply = [this] {
    ApplyThenReadNext();
    Unref();
  };
  // The first message is the call's admission, refused as a unary call's is when too many calls
  // wait (nothing applied yet); the stream's later ones are never dropped half-way.
  if (index_ > 0) {
    pool_.Post(std::move(apply));
  } else if (!pool_.TryPost(std::move(apply))) {
    {
      absl::MutexLock lock(&mutex_);
      FinishOnce(errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED, interceptor::kOverloaded));
    }
    Unref();  // the task's, never run (gRPC's is held until this reaction returns)
  }
}

void UploadOrderEventsReactor::ApplyThenReadNext() {
  OrderStatus target{};
  absl::Status invalid;
  try {
    invalid = Validate(&target);
  } catch (...) {
    // As gRPC's sync handlers answer an exception: the recovery stage makes it INTERNAL.
    absl::MutexLock lock(&mutex_);
    FinishOnce(errors::HandlerThrew());
    return;
  }
  received_.Clear();  // parsed into event_: not kept while the commit waits (up to 4 MiB)
  if (!invalid.ok()) return Applied(invalid);
  // A place among the service's writes waiting for their commit. Without one, the stream's first
  // message is refused as a unary write is (nothing applied yet); a later one goes on without
  // (a stream is never cut half-way; each stream has at most one message waiting).
  std::shared_ptr<interceptor::WaitingBound::Place> place = writes_.Admit();
  if (place == nullptr && index_ == 0) {
    absl::MutexLock lock(&mutex_);
    FinishOnce(interceptor::WaitingBound::Overloaded());
    return;
  }
  // The change goes to the store's commit thread, which ends the message once it is durable:
  // this pool thread does not wait for it. The callback holds a reference, let go with its last
  // copy (run or not).
  try {
    references_.fetch_add(1, std::memory_order_relaxed);
    const std::shared_ptr<UploadOrderEventsReactor> reference(
        this, [](UploadOrderEventsReactor* reactor) { reactor->Unref(); });
    store_.TransitionThen(
        event_.order_id(), target, event_.note(), "order_id", "new_status",
        // Asked before the write, so while the call lives (it ends only through FinishOnce).
        interceptor::CallerGone(*context_), [this, reference, place](absl::StatusOr<Order> order) {
          if (place != nullptr) place->Release();  // before the message's end may answer
          try {
            Applied(order.status());
          } catch (...) {
            // Only an allocation can fail here (Applied catches what counting throws): a stream
            // left neither finished nor reading would hold up the server's shutdown for good,
            // so this ends the process, as an exception on the pool does.
            std::terminate();
          }
        });
  } catch (...) {  // not queued (no memory): nothing was written
    absl::MutexLock lock(&mutex_);
    FinishOnce(errors::HandlerThrew());
  }
}

void UploadOrderEventsReactor::Applied(const absl::Status& outcome) {
  absl::Status failure;
  try {
    failure = Count(outcome);
    event_.Clear();  // not kept while the stream waits for its next message
  } catch (...) {
    absl::MutexLock lock(&mutex_);
    FinishOnce(errors::HandlerThrew());
    return;
  }
  absl::MutexLock lock(&mutex_);
  if (!failure.ok()) {
    FinishOnce(StoreFailed(failure));
    return;
  }
  ++index_;
  if (draining_) {
    FinishOnce(ShuttingDown());
    return;
  }
  reading_ = true;
  StartRead(&received_);
}

void UploadOrderEventsReactor::Drain() {
  absl::MutexLock lock(&mutex_);
  draining_ = true;
  if (reading_) FinishOnce(ShuttingDown());  // else the message being applied ends it
}

// Finish and StartRead are called under mutex_ (so that a drain cannot come between deciding and
// doing): gRPC runs neither OnReadDone nor OnDone on the calling thread (its read tags are not
// inlined, and a finish's inlined completion only schedules OnDone).
void UploadOrderEventsReactor::FinishOnce(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  grpc::Status answer = status;
  if (answer.ok()) {
    try {
      answer = api::SerializeResponse(summary_, response_);
    } catch (...) {  // an allocation failed: the stream ends as a handler that throws does
      answer = errors::HandlerThrew();
    }
  }
  if (chained_.has_value()) {
    try {
      if (answer.ok()) chained_->MessageSent();
      chained_->Finish(answer);  // may rewrite an error (recovery does), never make one OK
    } catch (...) {
      // The stages catch what they throw; should anything escape, the stream must still end
      // rather than hang with finished_ set and Finish never called.
    }
  }
  Finish(answer);
}

std::string UploadOrderEventsReactor::AppliedSoFar() const {
  return absl::StrCat("the first ", index_, " messages of this stream were applied (",
                      summary_.accepted(), " accepted, ", summary_.rejected(), " rejected)");
}

grpc::Status UploadOrderEventsReactor::ShuttingDown() const {
  return errors::GrpcError(grpc::StatusCode::UNAVAILABLE,
                           absl::StrCat("the server is shutting down: ", AppliedSoFar(),
                                        "; send the rest to another instance"));
}

grpc::Status UploadOrderEventsReactor::StoreFailed(const absl::Status& failure) const {
  // INTERNAL's message (and so this context) is hidden from the client, as for any call.
  return errors::ToGrpcStatus(
      errors::Annotate(failure, absl::StrCat(AppliedSoFar(), " and message ", index_,
                                             " failed; send it and the rest again")));
}

grpc::Status UploadOrderEventsReactor::TooManyMessages() const {
  return errors::GrpcError(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("a stream carries at most ", max_messages_, " messages: the first ", index_,
                   " were applied (", summary_.accepted(), " accepted, ", summary_.rejected(),
                   " rejected); send the rest on another stream"));
}

void UploadOrderEventsReactor::OnDone() {
  // Every end passes through FinishOnce, and gRPC runs OnDone only after a Finish: a safety net.
  if (chained_.has_value()) chained_->EndIfUnfinished();
  streams_.Remove(this);
  Unref();
}

void UploadOrderEventsReactor::Unref() {
  if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

absl::Status UploadOrderEventsReactor::Count(const absl::Status& outcome) {
  // Each message on its own, in stream order: a rejection does not stop the others.
  if (outcome.ok()) {
    summary_.set_accepted(summary_.accepted() + 1);
    return absl::OkStatus();
  }
  if (!RejectsTheMessage(outcome.code())) return outcome;
  summary_.set_rejected(summary_.rejected() + 1);
  if (static_cast<size_t>(summary_.rejections_size()) < max_rejections_listed_) {
    ::order::v1::OrderEventRejection* rejection = summary_.add_rejections();
    rejection->set_index(index_);
    *rejection->mutable_error() = errors::ToAppError(outcome);
  }
  return absl::OkStatus();
}

absl::Status UploadOrderEventsReactor::Validate(OrderStatus* target) {
  if (absl::Status parsed = api::ParseRequest(received_, &event_); !parsed.ok()) {
    return parsed;
  }
  if (absl::Status id = ValidateId(event_.order_id(), "order_id"); !id.ok()) return id;
  absl::StatusOr<OrderStatus> status = TargetStatus(event_.new_status(), "new_status");
  if (!status.ok()) return status.status();
  if (*status == OrderStatus::kCancelled) {
    if (absl::Status reason = ValidateReason(event_.note(), "note"); !reason.ok()) return reason;
  }
  *target = *status;
  return absl::OkStatus();
}

}  // namespace hermes::order
