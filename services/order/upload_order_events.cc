#include "services/order/upload_order_events.h"

#include <utility>

#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "services/order/order_validation.h"

namespace hermes::order {

UploadOrderEventsReactor* UploadOrderEventsReactor::Start(OrderStore& store,
                                                          interceptor::HandlerPool& pool,
                                                          size_t max_rejections_listed,
                                                          grpc::ByteBuffer* response) {
  auto* reactor = new UploadOrderEventsReactor(store, pool, max_rejections_listed, response);
  reactor->StartRead(&reactor->received_);
  return reactor;
}

void UploadOrderEventsReactor::OnReadDone(bool ok) {
  // Not ok: the client half-closed (or the call is over: cancelled, deadline): nothing more
  // will be read, and the summary is the answer (a cancelled call's is not sent).
  if (!ok) {
    FinishWithSummary();
    return;
  }
  auto apply = [this] {
    try {
      Apply();
    } catch (...) {
      // As gRPC's sync handlers answer an exception: the recovery stage makes it INTERNAL.
      Finish(errors::HandlerThrew());
      return;
    }
    ++index_;
    StartRead(&received_);
  };
  // The first message is the call's admission, refused as a unary call's is when too many calls
  // wait (nothing applied yet); the stream's later ones are never dropped half-way.
  if (index_ > 0) {
    pool_.Post(std::move(apply));
  } else if (!pool_.TryPost(std::move(apply))) {
    Finish(errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED, interceptor::kOverloaded));
  }
}

void UploadOrderEventsReactor::Apply() {
  // Each message on its own, in stream order: a rejection does not stop the others.
  const absl::Status outcome = Outcome();
  if (outcome.ok()) {
    summary_.set_accepted(summary_.accepted() + 1);
    return;
  }
  summary_.set_rejected(summary_.rejected() + 1);
  if (static_cast<size_t>(summary_.rejections_size()) < max_rejections_listed_) {
    ::order::v1::OrderEventRejection* rejection = summary_.add_rejections();
    rejection->set_index(index_);
    *rejection->mutable_error() = errors::ToAppError(outcome);
  }
}

absl::Status UploadOrderEventsReactor::Outcome() {
  if (absl::Status parsed = api::ParseRequest(received_, &event_); !parsed.ok()) {
    return parsed;
  }
  if (absl::Status id = ValidateId(event_.order_id(), "order_id"); !id.ok()) return id;
  absl::StatusOr<OrderStatus> target = TargetStatus(event_.new_status(), "new_status");
  if (!target.ok()) return target.status();
  if (*target == OrderStatus::kCancelled) {
    if (absl::Status reason = ValidateReason(event_.note(), "note"); !reason.ok()) return reason;
  }
  return store_.Transition(event_.order_id(), *target, event_.note(), "order_id", "new_status")
      .status();
}

void UploadOrderEventsReactor::FinishWithSummary() {
  Finish(api::SerializeResponse(summary_, response_));
}

}  // namespace hermes::order
