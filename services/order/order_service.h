// OrderServiceImpl: order.v1.OrderService. Translates between the protos and the domain:
// validates requests (order_validation.h), checks users through the UserDirectory, calls the
// store, maps results and errors (libs/errors). No SQL here.
//
// StreamOrderUpdates runs a reader (its own thread: subscribe/unsubscribe requests, current
// status lookups) and a writer (the handler thread) over one per-stream FIFO: the live
// status changes from the fan-out and the stream's own replies (current status, errors, the
// end marker on half-close) are queued in order, so a current status always precedes the
// changes that follow it and half-close ends the stream after every reply was sent. Changes
// and current statuses are deduplicated per order by status (every allowed transition
// increases the status number), so neither a stale current status nor a stale change is sent. A
// slow reader's queue overflows (RESOURCE_EXHAUSTED) instead of blocking writers.
#pragma once

#include <atomic>
#include <optional>

#include "libs/streams/event_fanout.h"
#include "order/v1/order.grpc.pb.h"
#include "services/order/order_store.h"
#include "services/order/user_directory.h"

namespace hermes::order {

// One item of a StreamOrderUpdates stream's queue.
struct OrderUpdate {
  enum class Kind { kChange, kReply, kEnd };
  Kind kind = Kind::kChange;
  ::order::v1::StreamOrderUpdatesResponse response;  // kChange and kReply
  OrderStatus status = OrderStatus::kPending;        // kChange: for per-order dedup
};

using OrderUpdateFanout = streams::EventFanout<OrderUpdate>;

// The update that the store's listener publishes for a committed event.
OrderUpdate ChangeFor(const OrderEvent& event);

struct StreamOptions {
  int max_streams = 256;
  size_t buffer_updates = 1024;
  absl::Duration poll_interval = absl::Milliseconds(200);
  size_t max_rejections_listed = 1000;   // UploadOrderEvents: the counts stay exact
  size_t max_orders_per_stream = 10000;  // StreamOrderUpdates: more get an `error` reply
};

class OrderServiceImpl final : public ::order::v1::OrderService::Service {
 public:
  OrderServiceImpl(OrderStore& store, UserDirectory& users, OrderUpdateFanout& fanout,
                   StreamOptions options = {});

  grpc::Status GetOrder(grpc::ServerContext* context, const ::order::v1::GetOrderRequest* request,
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
  grpc::Status StreamOrderUpdates(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<::order::v1::StreamOrderUpdatesResponse,
                               ::order::v1::StreamOrderUpdatesRequest>* stream) override;

 private:
  OrderStore& store_;
  UserDirectory& users_;
  OrderUpdateFanout& fanout_;
  const StreamOptions options_;
  std::atomic<int> streams_{0};
};

}  // namespace hermes::order
