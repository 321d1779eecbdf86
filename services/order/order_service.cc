#include "services/order/order_service.h"

#include <memory>
#include <string>
#include <utility>

#include "libs/errors/app_error.h"
#include "services/order/order_proto.h"
#include "services/order/order_validation.h"

namespace hermes::order {

using ::order::v1::CancelOrderRequest;
using ::order::v1::CancelOrderResponse;
using ::order::v1::CreateOrderRequest;
using ::order::v1::CreateOrderResponse;
using ::order::v1::GetOrderRequest;
using ::order::v1::GetOrderResponse;
using ::order::v1::ListOrdersRequest;
using ::order::v1::ListOrdersResponse;

OrderServiceImpl::OrderServiceImpl(OrderStore& store, UserDirectory& users,
                                   OrderUpdateFanout& fanout, StreamOptions options,
                                   int max_writes_waiting)
    : store_(store),
      users_(users),
      fanout_(fanout),
      options_(options),
      streams_(options.max_streams),
      writes_(max_writes_waiting),
      wakes_(fanout, delivery_, options_.overflow_check) {
  unary_.AddInlineOrOnPool<GetOrderRequest, GetOrderResponse>(
      handlers_, [this](auto... call) { RequestGetOrder(call...); },
      [this](const grpc::ServerContext&, const GetOrderRequest& request, GetOrderResponse* response,
             bool may_wait) { return Get(request, response, may_wait); });
  unary_.AddOnPool<ListOrdersRequest, ListOrdersResponse>(
      handlers_, [this](auto... call) { RequestListOrders(call...); },
      [this](const grpc::ServerContext&, const ListOrdersRequest& request,
             ListOrdersResponse* response) { return List(request, response); });
  unary_.AddOnPoolAnsweringLater<CreateOrderRequest, CreateOrderResponse>(
      handlers_, [this](auto... call) { RequestCreateOrder(call...); },
      [this](const grpc::ServerContext& context, const CreateOrderRequest& request,
             interceptor::PendingAnswer<CreateOrderResponse> answer) {
        Create(context, request, std::move(answer));
      });
  unary_.AddInlineAnsweringLater<CancelOrderRequest, CancelOrderResponse>(
      [this](auto... call) { RequestCancelOrder(call...); },
      [this](const grpc::ServerContext& context, const CancelOrderRequest& request,
             interceptor::PendingAnswer<CancelOrderResponse> answer) {
        Cancel(context, request, std::move(answer));
      });
}

std::optional<grpc::Status> OrderServiceImpl::Get(const ::order::v1::GetOrderRequest& request,
                                                  ::order::v1::GetOrderResponse* response,
                                                  bool may_wait) {
  if (absl::Status status = ValidateId(request.id(), "id"); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  std::optional<absl::StatusOr<Order>> order =
      may_wait ? store_.Get(request.id()) : store_.TryGet(request.id());
  if (!order.has_value()) return std::nullopt;
  if (!order->ok()) return errors::ToGrpcStatus(order->status());
  ToProto(**order, response->mutable_order());
  return grpc::Status::OK;
}

grpc::Status OrderServiceImpl::List(const ::order::v1::ListOrdersRequest& request,
                                    ::order::v1::ListOrdersResponse* response) {
  api::Page page;
  absl::StatusOr<ListOrdersQuery> query = ValidateList(request, &page);
  if (!query.ok()) return errors::ToGrpcStatus(query.status());
  absl::StatusOr<OrderPage> result = store_.List(*query);
  if (!result.ok()) return errors::ToGrpcStatus(result.status());
  for (const Order& order : result->orders) ToProto(order, response->add_orders());
  *response->mutable_page() = api::PageResponseFor(page, result->total);
  return grpc::Status::OK;
}

namespace {

using Place = std::shared_ptr<interceptor::WaitingBound::Place>;

using interceptor::CallerGone;

// Answers a write that returns the order: OK with it, or the store's error; its place is given
// back first.
template <typename Response>
OrderStore::OrderDone AnswerWithOrder(interceptor::PendingAnswer<Response> answer, Place place) {
  return [answer = std::move(answer), place = std::move(place)](absl::StatusOr<Order> order) {
    place->Release();
    if (!order.ok()) return answer.Send(errors::ToGrpcStatus(order.status()));
    ToProto(*order, answer.response()->mutable_order());
    answer.Send(grpc::Status::OK);
  };
}

}  // namespace

void OrderServiceImpl::Create(const grpc::ServerContextBase& context,
                              const ::order::v1::CreateOrderRequest& request,
                              interceptor::PendingAnswer<CreateOrderResponse> answer) {
  if (absl::Status key = ValidateCreateKey(request); !key.ok()) {
    return answer.Send(errors::ToGrpcStatus(key));
  }
  // A retry of a create that already happened (its reply was lost) is answered first, even
  // while the user service is down, after the user changed, or with a body that would now be
  // refused: it creates nothing, and returns the first order as it is now.
  if (!request.request_id().empty()) {
    absl::StatusOr<std::optional<Order>> existing =
        store_.FindByRequestId(request.user_id(), request.request_id());
    if (!existing.ok()) return answer.Send(errors::ToGrpcStatus(existing.status()));
    if (existing->has_value()) {
      ToProto(**existing, answer.response()->mutable_order());
      return answer.Send(grpc::Status::OK);
    }
  }
  absl::StatusOr<NewOrder> order = ValidateCreate(request);
  if (!order.ok()) return answer.Send(errors::ToGrpcStatus(order.status()));
  const std::string user_id = order->user_id;
  // This thread is free while the user service answers; the write is queued from the pool once
  // the user is known, and answered by the store's commit thread.
  users_.CheckCanOrder(
      context, user_id, handlers_,
      [this, &context, order = *std::move(order), answer](absl::Status user) {
        if (!user.ok()) return answer.Send(errors::ToGrpcStatus(user));
        // It may have waited for a pool thread since: nobody waits for the answer any more, so
        // nothing is created for nobody (a retry without a request_id would create it twice).
        if (context.IsCancelled()) {
          return answer.Send(
              errors::GrpcError(grpc::StatusCode::CANCELLED,
                                "the caller cancelled while its user was being checked"));
        }
        Place place = writes_.Admit();
        if (place == nullptr) {
          return answer.Send(interceptor::WaitingBound::Overloaded());
        }
        store_.CreateThen(order, CallerGone(context), AnswerWithOrder(answer, std::move(place)));
      });
}

void OrderServiceImpl::Cancel(const grpc::ServerContextBase& context,
                              const ::order::v1::CancelOrderRequest& request,
                              interceptor::PendingAnswer<CancelOrderResponse> answer) {
  if (absl::Status status = ValidateId(request.id(), "id"); !status.ok()) {
    return answer.Send(errors::ToGrpcStatus(status));
  }
  if (absl::Status status = ValidateReason(request.reason(), "reason"); !status.ok()) {
    return answer.Send(errors::ToGrpcStatus(status));
  }
  Place place = writes_.Admit();
  if (place == nullptr) return answer.Send(interceptor::WaitingBound::Overloaded());
  store_.TransitionThen(request.id(), OrderStatus::kCancelled, request.reason(), "id", "id",
                        CallerGone(context), AnswerWithOrder(std::move(answer), std::move(place)));
}

grpc::ServerReadReactor<grpc::ByteBuffer>* OrderServiceImpl::UploadOrderEvents(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return UploadOrderEventsReactor::Start(store_, handlers_, writes_, uploads_, options_, context,
                                         chain_, response);
}

void OrderServiceImpl::Drain() {
  fanout_.Close();
  uploads_.Drain();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* OrderServiceImpl::StreamOrderUpdates(
    grpc::CallbackServerContext* context) {
  return StreamOrderUpdatesReactor::Start(store_, fanout_, delivery_, handlers_, options_, streams_,
                                          context, chain_);
}

}  // namespace hermes::order
