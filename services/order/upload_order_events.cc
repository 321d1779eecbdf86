#include "services/order/upload_order_events.h"

#include "libs/errors/app_error.h"
#include "libs/interceptor/recovery.h"
#include "services/order/order_validation.h"

namespace hermes::order {

UploadOrderEventsReactor* UploadOrderEventsReactor::Start(
    OrderStore& store, interceptor::HandlerPool& pool, size_t max_rejections_listed,
    ::order::v1::UploadOrderEventsResponse* response) {
  auto* reactor = new UploadOrderEventsReactor(store, pool, max_rejections_listed, response);
  reactor->StartRead(&reactor->event_);
  return reactor;
}

void UploadOrderEventsReactor::OnReadDone(bool ok) {
  // Not ok: the client half-closed (or the call is over: cancelled, deadline): nothing more
  // will be read, and the summary is the answer (a cancelled call's is not sent).
  if (!ok) {
    Finish(grpc::Status::OK);
    return;
  }
  pool_.Post([this] {
    try {
      Apply();
    } catch (...) {
      // As gRPC's sync handlers answer an exception: the recovery stage makes it INTERNAL.
      Finish(grpc::Status(grpc::StatusCode::UNKNOWN, interceptor::kHandlerThrew));
      return;
    }
    ++index_;
    StartRead(&event_);
  });
}

void UploadOrderEventsReactor::Apply() {
  // Each message on its own, in stream order: a rejection does not stop the others.
  absl::Status outcome = ValidateId(event_.order_id(), "order_id");
  absl::StatusOr<OrderStatus> target = TargetStatus(event_.new_status(), "new_status");
  if (outcome.ok()) outcome = target.status();
  if (outcome.ok() && *target == OrderStatus::kCancelled) {
    outcome = ValidateReason(event_.note(), "note");
  }
  if (outcome.ok()) {
    outcome = store_.Transition(event_.order_id(), *target, event_.note(), "order_id", "new_status")
                  .status();
  }
  if (outcome.ok()) {
    response_->set_accepted(response_->accepted() + 1);
    return;
  }
  response_->set_rejected(response_->rejected() + 1);
  if (static_cast<size_t>(response_->rejections_size()) < max_rejections_listed_) {
    ::order::v1::OrderEventRejection* rejection = response_->add_rejections();
    rejection->set_index(index_);
    *rejection->mutable_error() = errors::ToAppError(outcome);
  }
}

}  // namespace hermes::order
