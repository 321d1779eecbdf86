#include "services/order/order_service.h"

#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/api/timestamps.h"
#include "libs/errors/app_error.h"
#include "services/order/order_proto.h"
#include "services/order/order_validation.h"

namespace hermes::order {
namespace {

using ::order::v1::StreamOrderUpdatesResponse;

StreamOrderUpdatesResponse CurrentStatus(const Order& order) {
  StreamOrderUpdatesResponse response;
  response.set_order_id(order.id);
  response.set_status(ToProto(order.status));
  *response.mutable_updated_at() = api::ToTimestamp(order.updated_at);
  return response;
}

}  // namespace

OrderUpdate ChangeFor(const OrderEvent& event) {
  OrderUpdate update{.kind = OrderUpdate::Kind::kChange, .status = event.status};
  update.response.set_order_id(event.order_id);
  update.response.set_status(ToProto(event.status));
  *update.response.mutable_updated_at() = api::ToTimestamp(event.updated_at);
  return update;
}

OrderServiceImpl::OrderServiceImpl(OrderStore& store, UserDirectory& users,
                                   OrderUpdateFanout& fanout, StreamOptions options)
    : store_(store), users_(users), fanout_(fanout), options_(options) {}

grpc::Status OrderServiceImpl::GetOrder(grpc::ServerContext*,
                                        const ::order::v1::GetOrderRequest* request,
                                        ::order::v1::GetOrderResponse* response) {
  if (absl::Status status = ValidateId(request->id(), "id"); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  absl::StatusOr<Order> order = store_.Get(request->id());
  if (!order.ok()) return errors::ToGrpcStatus(order.status());
  ToProto(*order, response->mutable_order());
  return grpc::Status::OK;
}

grpc::Status OrderServiceImpl::ListOrders(grpc::ServerContext*,
                                          const ::order::v1::ListOrdersRequest* request,
                                          ::order::v1::ListOrdersResponse* response) {
  api::Page page;
  absl::StatusOr<ListOrdersQuery> query = ValidateList(*request, &page);
  if (!query.ok()) return errors::ToGrpcStatus(query.status());
  absl::StatusOr<OrderPage> result = store_.List(*query);
  if (!result.ok()) return errors::ToGrpcStatus(result.status());
  for (const Order& order : result->orders) ToProto(order, response->add_orders());
  *response->mutable_page() = api::PageResponseFor(page, result->total);
  return grpc::Status::OK;
}

grpc::Status OrderServiceImpl::CreateOrder(grpc::ServerContext* context,
                                           const ::order::v1::CreateOrderRequest* request,
                                           ::order::v1::CreateOrderResponse* response) {
  absl::StatusOr<NewOrder> order = ValidateCreate(*request);
  if (!order.ok()) return errors::ToGrpcStatus(order.status());
  // A retry of a create that already happened (its reply was lost) is answered first, even
  // while the user service is down or after the user changed: it creates nothing.
  if (!order->request_id.empty()) {
    absl::StatusOr<std::optional<Order>> existing =
        store_.FindByRequestId(order->user_id, order->request_id);
    if (!existing.ok()) return errors::ToGrpcStatus(existing.status());
    if (existing->has_value()) {
      ToProto(**existing, response->mutable_order());
      return grpc::Status::OK;
    }
  }
  if (absl::Status user = users_.CheckCanOrder(*context, order->user_id); !user.ok()) {
    return errors::ToGrpcStatus(user);
  }
  absl::StatusOr<Order> created = store_.Create(*order);
  if (!created.ok()) return errors::ToGrpcStatus(created.status());
  ToProto(*created, response->mutable_order());
  return grpc::Status::OK;
}

grpc::Status OrderServiceImpl::CancelOrder(grpc::ServerContext*,
                                           const ::order::v1::CancelOrderRequest* request,
                                           ::order::v1::CancelOrderResponse* response) {
  if (absl::Status status = ValidateId(request->id(), "id"); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  if (absl::Status status = ValidateReason(request->reason(), "reason"); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  absl::StatusOr<Order> cancelled =
      store_.Transition(request->id(), OrderStatus::kCancelled, request->reason(), "id", "id");
  if (!cancelled.ok()) return errors::ToGrpcStatus(cancelled.status());
  ToProto(*cancelled, response->mutable_order());
  return grpc::Status::OK;
}

grpc::Status OrderServiceImpl::UploadOrderEvents(
    grpc::ServerContext*, grpc::ServerReader<::order::v1::UploadOrderEventsRequest>* reader,
    ::order::v1::UploadOrderEventsResponse* response) {
  ::order::v1::UploadOrderEventsRequest event;
  for (int32_t index = 0; reader->Read(&event); ++index) {
    // Each message on its own, in stream order: a rejection does not stop the others.
    absl::Status outcome = ValidateId(event.order_id(), "order_id");
    absl::StatusOr<OrderStatus> target = TargetStatus(event.new_status(), "new_status");
    if (outcome.ok()) outcome = target.status();
    if (outcome.ok() && *target == OrderStatus::kCancelled) {
      outcome = ValidateReason(event.note(), "note");
    }
    if (outcome.ok()) {
      outcome = store_.Transition(event.order_id(), *target, event.note(), "order_id", "new_status")
                    .status();
    }
    if (outcome.ok()) {
      response->set_accepted(response->accepted() + 1);
      continue;
    }
    response->set_rejected(response->rejected() + 1);
    if (static_cast<size_t>(response->rejections_size()) < options_.max_rejections_listed) {
      ::order::v1::OrderEventRejection* rejection = response->add_rejections();
      rejection->set_index(index);
      *rejection->mutable_error() = errors::ToAppError(outcome);
    }
  }
  return grpc::Status::OK;
}

grpc::Status OrderServiceImpl::StreamOrderUpdates(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<StreamOrderUpdatesResponse, ::order::v1::StreamOrderUpdatesRequest>*
        stream) {
  if (streams_.fetch_add(1) >= options_.max_streams) {
    streams_.fetch_sub(1);
    return errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "too many concurrent update streams on this instance; retry later");
  }
  OrderUpdateFanout::Handle queue = fanout_.Subscribe(options_.buffer_updates);
  stream->SendInitialMetadata();

  // Orders this stream tracks, and the newest status sent for each (0: none yet). Statuses
  // only move forward (every allowed transition increases the number), so anything not above
  // what was sent is stale: a change committed before the current status was read, or a
  // current status read before a change that was already sent.
  absl::Mutex mutex;
  absl::flat_hash_map<std::string, int> tracked;

  std::thread reader([&] {
    ::order::v1::StreamOrderUpdatesRequest request;
    while (stream->Read(&request)) {
      OrderUpdate reply{.kind = OrderUpdate::Kind::kReply};
      reply.response.set_order_id(request.order_id());
      {
        absl::MutexLock lock(&mutex);
        if (request.unsubscribe()) {
          tracked.erase(request.order_id());
          continue;
        }
        // Tracked before the read, so no change committed after the read is dropped.
        if (tracked.size() >= options_.max_orders_per_stream &&
            !tracked.contains(request.order_id())) {
          *reply.response.mutable_error() =
              errors::ToAppError(errors::Error(absl::StatusCode::kResourceExhausted,
                                               "this stream tracks too many orders", "order_id"));
          queue.Inject(std::move(reply));
          continue;
        }
        tracked.try_emplace(request.order_id(), 0);
      }
      absl::StatusOr<Order> order = store_.Get(request.order_id());
      if (order.ok()) {
        reply.response = CurrentStatus(*order);
        reply.status = order->status;
      } else {
        {
          absl::MutexLock lock(&mutex);
          tracked.erase(request.order_id());
        }
        absl::Status status = order.status();
        if (status.code() == absl::StatusCode::kNotFound) {
          status = errors::NotFound("order_id", "no order has this id");
        }
        *reply.response.mutable_error() = errors::ToAppError(status);
      }
      queue.Inject(std::move(reply));
    }
    queue.Inject({.kind = OrderUpdate::Kind::kEnd});  // half-close (or cancellation)
  });

  // Why the server ends the stream early, if it does. The sync API cannot end a stream while
  // the client may still be sending (a Read is pending) except by cancelling it, so the reason
  // travels as a last message whose `error` is set and `order_id` empty.
  std::optional<absl::Status> ended_early;
  bool client_done = false;
  while (!ended_early.has_value()) {
    std::shared_ptr<const OrderUpdate> update;
    const OrderUpdateFanout::Next next = queue.Pop(options_.poll_interval, &update);
    if (next == OrderUpdateFanout::Next::kTimeout) {
      if (context->IsCancelled()) break;
      continue;
    }
    if (next == OrderUpdateFanout::Next::kOverflow) {
      ended_early = absl::ResourceExhaustedError(
          "this stream fell too far behind; subscribe again for the current statuses");
      break;
    }
    if (next == OrderUpdateFanout::Next::kClosed) {
      ended_early =
          absl::UnavailableError("the server is shutting down; subscribe again elsewhere");
      break;
    }
    if (update->kind == OrderUpdate::Kind::kEnd) {
      client_done = true;  // half-close: every reply queued before it was sent
      break;
    }
    if (!update->response.has_error()) {  // a change or a current status
      absl::MutexLock lock(&mutex);
      auto it = tracked.find(update->response.order_id());
      const int status = static_cast<int>(update->status);
      if (it == tracked.end() || status <= it->second) continue;  // not ours, or stale
      it->second = status;
    }
    if (!stream->Write(update->response)) break;  // the client went away
  }
  if (ended_early.has_value()) {
    StreamOrderUpdatesResponse last;
    *last.mutable_error() = errors::ToAppError(*ended_early);
    stream->Write(last);
  }
  if (!client_done) context->TryCancel();  // unblocks the reader's pending Read
  reader.join();
  streams_.fetch_sub(1);
  if (ended_early.has_value()) return errors::ToGrpcStatus(*ended_early);
  // After TryCancel the call is over for the client: gRPC requires CANCELLED here.
  return client_done ? grpc::Status::OK : grpc::Status::CANCELLED;
}

}  // namespace hermes::order
