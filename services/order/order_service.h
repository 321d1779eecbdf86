// OrderServiceImpl: order.v1.OrderService. Translates between the protos and the domain:
// validates requests (order_validation.h), checks users through the UserDirectory, calls the
// store, maps results and errors (libs/errors). No SQL here.
//
// GetOrder, a read by id that never waits, runs on the callback API and is answered inline
// (libs/interceptor/answer_inline.h). The other unary methods and the client-streaming one wait
// for a commit or for the user service, and run on the sync API. StreamOrderUpdates runs on the
// callback API (stream_order_updates.h), so an open stream holds no thread.
#pragma once

#include "libs/streams/delivery_thread.h"
#include "libs/streams/stream_slots.h"
#include "order/v1/order.grpc.pb.h"
#include "services/order/order_store.h"
#include "services/order/order_updates.h"
#include "services/order/stream_order_updates.h"
#include "services/order/user_directory.h"

namespace hermes::order {

class OrderServiceImpl final : public ::order::v1::OrderService::WithCallbackMethod_GetOrder<
                                   ::order::v1::OrderService::WithCallbackMethod_StreamOrderUpdates<
                                       ::order::v1::OrderService::Service>> {
 public:
  OrderServiceImpl(OrderStore& store, UserDirectory& users, OrderUpdateFanout& fanout,
                   StreamOptions options = {});

  grpc::ServerUnaryReactor* GetOrder(grpc::CallbackServerContext* context,
                                     const ::order::v1::GetOrderRequest* request,
                                     ::order::v1::GetOrderResponse* response) override;
  grpc::Status ListOrders(grpc::ServerContext* context,
                          const ::order::v1::ListOrdersRequest* request,
                          ::order::v1::ListOrdersResponse* response) override;
  grpc::Status CreateOrder(grpc::ServerContext* context,
                           const ::order::v1::CreateOrderRequest* request,
                           ::order::v1::CreateOrderResponse* response) override;
  grpc::Status CancelOrder(grpc::ServerContext* context,
                           const ::order::v1::CancelOrderRequest* request,
                           ::order::v1::CancelOrderResponse* response) override;
  grpc::Status UploadOrderEvents(grpc::ServerContext* context,
                                 grpc::ServerReader<::order::v1::UploadOrderEventsRequest>* reader,
                                 ::order::v1::UploadOrderEventsResponse* response) override;
  grpc::ServerBidiReactor<::order::v1::StreamOrderUpdatesRequest,
                          ::order::v1::StreamOrderUpdatesResponse>*
  StreamOrderUpdates(grpc::CallbackServerContext* context) override;

 private:
  OrderStore& store_;
  UserDirectory& users_;
  OrderUpdateFanout& fanout_;
  const StreamOptions options_;
  streams::StreamSlots streams_;  // open StreamOrderUpdates streams, against max_streams
  // Runs the update streams' deliveries. Destroyed right after wakes_, running what is still
  // posted (each task may hold the last reference to a reactor).
  streams::DeliveryThread delivery_;
  // Publishing wakes idle streams on delivery_, not on the committing writer's thread.
  streams::WakesOnDeliveryThread<OrderUpdateFanout> wakes_;

  grpc::Status Get(const ::order::v1::GetOrderRequest& request,
                   ::order::v1::GetOrderResponse* response);
};

}  // namespace hermes::order
