// OrderServiceImpl: order.v1.OrderService. Translates between the protos and the domain:
// validates requests (order_validation.h), checks users through the UserDirectory, calls the
// store, maps results and errors (libs/errors). No SQL here.
//
// The unary methods run on gRPC's async API (libs/interceptor/unary_methods.h): GetOrder, a
// read by id, is answered on the thread that received it when an idle reader connection is
// there, else on a HandlerPool; ListOrders, which reads a page, on the pool; CancelOrder is
// validated on the thread that received it and answered by the store's commit thread once
// durable; CreateOrder starts on the pool (a retry's read), gives its thread back while it
// waits for the user service, and queues its write from the pool once the user is known, to be
// answered by the commit thread (no thread waits for a commit). UploadOrderEvents (a
// callback-API reactor, upload_order_events.h; registered raw, so that it parses its messages
// itself) applies its messages on the pool. StreamOrderUpdates is a callback-API
// reactor (stream_order_updates.h), so an open stream holds no thread.
#pragma once

#include "libs/interceptor/handler_pool.h"
#include "libs/interceptor/unary_methods.h"
#include "libs/interceptor/waiting_bound.h"
#include "libs/streams/delivery_thread.h"
#include "libs/streams/stream_slots.h"
#include "order/v1/order.grpc.pb.h"
#include "services/order/order_store.h"
#include "services/order/order_updates.h"
#include "services/order/stream_order_updates.h"
#include "services/order/upload_order_events.h"
#include "services/order/user_directory.h"

namespace hermes::order {

// The unary methods raw on the async API, their requests parsed by interceptor::UnaryMethods
// (libs/interceptor/unary_methods.h says why); both streams raw on the callback API, their
// messages parsed by their reactors (upload_order_events.h, stream_order_updates.h).
using OrderServiceBase = ::order::v1::OrderService::WithRawMethod_GetOrder<
    ::order::v1::OrderService::WithRawMethod_ListOrders<
        ::order::v1::OrderService::WithRawMethod_CreateOrder<
            ::order::v1::OrderService::WithRawMethod_CancelOrder<
                ::order::v1::OrderService::WithRawCallbackMethod_UploadOrderEvents<
                    ::order::v1::OrderService::WithRawCallbackMethod_StreamOrderUpdates<
                        ::order::v1::OrderService::Service>>>>>>;

class OrderServiceImpl final : public OrderServiceBase,
                               public interceptor::ServesUnaryMethods,
                               public interceptor::DrivesChain {
 public:
  // Beyond `max_writes_waiting` writes (creates, cancels and upload messages together) waiting
  // for their commit, a write is refused at once with RESOURCE_EXHAUSTED
  // (interceptor::kOverloaded), having written nothing; an upload only at its first message (a
  // stream is never cut half-way: its later messages go on beyond the bound, one at a time).
  OrderServiceImpl(OrderStore& store, UserDirectory& users, OrderUpdateFanout& fanout,
                   StreamOptions options = {},
                   int max_writes_waiting = interceptor::kMaxWritesWaiting);

  interceptor::UnaryMethods& unary_methods() override { return unary_; }
  // Both streams run the server's chain themselves (the unary methods' UnaryMethods does).
  std::vector<std::string> ChainDrivenMethods() const override {
    return {StreamOrderUpdatesPath(), UploadOrderEventsPath()};
  }
  void UseChain(std::shared_ptr<const interceptor::ServerChain> chain) override {
    chain_ = std::move(chain);
  }

  grpc::ServerReadReactor<grpc::ByteBuffer>* UploadOrderEvents(grpc::CallbackServerContext* context,
                                                               grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamOrderUpdates(
      grpc::CallbackServerContext* context) override;

  // On shutdown, before the server's grace period: ends every stream with UNAVAILABLE (the
  // update streams at their next delivery, uploads as upload_order_events.h says) and refuses
  // new ones, so that none waits for the grace period to run out.
  void Drain();

  // Writes admitted and not yet answered: for tests.
  int WritesWaitingForTesting() const { return writes_.Waiting(); }

 private:
  OrderStore& store_;
  UserDirectory& users_;
  OrderUpdateFanout& fanout_;
  const StreamOptions options_;
  std::shared_ptr<const interceptor::ServerChain> chain_;  // set before the server starts
  streams::StreamSlots streams_;      // open StreamOrderUpdates streams, against max_streams
  UploadStreams uploads_;             // open UploadOrderEvents streams, for Drain
  interceptor::WaitingBound writes_;  // admitted writes whose commit has not answered
  // Runs the update streams' deliveries. Destroyed right after wakes_, running what is still
  // posted (each task may hold the last reference to a reactor).
  streams::DeliveryThread delivery_;
  // Publishing wakes idle streams on delivery_, not on the committing writer's thread; its
  // thread wakes, every options_.overflow_check, streams stuck behind a client that stopped
  // reading.
  streams::WakesOnDeliveryThread<OrderUpdateFanout> wakes_;

  // GetOrder inline unless it would wait, CancelOrder inline, the others on handlers_.
  interceptor::UnaryMethods unary_;
  // Runs the handlers that wait. Declared last, so destroyed first, while everything its
  // tasks use is still there (by then the server has shut down and nothing is queued).
  interceptor::HandlerPool handlers_;

  // The handlers, whichever thread runs them.
  // std::nullopt when it would wait for a connection and may not (see AddInlineOrOnPool).
  std::optional<grpc::Status> Get(const ::order::v1::GetOrderRequest& request,
                                  ::order::v1::GetOrderResponse* response, bool may_wait);
  grpc::Status List(const ::order::v1::ListOrdersRequest& request,
                    ::order::v1::ListOrdersResponse* response);
  // Answer later: no thread is held while the user service is asked (UserDirectory) nor while
  // the write waits for its commit.
  void Create(const grpc::ServerContextBase& context,
              const ::order::v1::CreateOrderRequest& request,
              interceptor::PendingAnswer<::order::v1::CreateOrderResponse> answer);
  void Cancel(const grpc::ServerContextBase& context,
              const ::order::v1::CancelOrderRequest& request,
              interceptor::PendingAnswer<::order::v1::CancelOrderResponse> answer);
};

}  // namespace hermes::order
