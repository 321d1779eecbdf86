// UploadOrderEventsReactor: one UploadOrderEvents stream (client-streaming), on gRPC's
// callback API, so that the order service has no method left on the sync API (see
// libs/interceptor/unary_answer.h for why that matters).
//
// It reads one message at a time. Each is validated and committed on the service's
// HandlerPool (a commit waits for its fsync, which gRPC's callback threads must not do), and
// only then is the next one read: messages apply in stream order, one stream holds at most one
// message, and a slow commit slows only its own stream's reads (HTTP/2 flow control holds the
// client back). When the client half-closes, the stream ends OK with the counts and the first
// `max_rejections_listed` rejections; a rejection does not stop the messages after it.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <cstddef>
#include <cstdint>

#include "libs/interceptor/handler_pool.h"
#include "order/v1/order.pb.h"
#include "services/order/order_store.h"

namespace hermes::order {

class UploadOrderEventsReactor final
    : public grpc::ServerReadReactor<::order::v1::UploadOrderEventsRequest> {
 public:
  // `response` (gRPC's, valid until OnDone) receives the summary. Deletes itself after OnDone.
  static UploadOrderEventsReactor* Start(OrderStore& store, interceptor::HandlerPool& pool,
                                         size_t max_rejections_listed,
                                         ::order::v1::UploadOrderEventsResponse* response);

  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  UploadOrderEventsReactor(OrderStore& store, interceptor::HandlerPool& pool,
                           size_t max_rejections_listed,
                           ::order::v1::UploadOrderEventsResponse* response)
      : store_(store),
        pool_(pool),
        max_rejections_listed_(max_rejections_listed),
        response_(response) {}

  // Applies event_ (message number index_) and counts the outcome in response_. On the pool.
  void Apply();

  OrderStore& store_;
  interceptor::HandlerPool& pool_;
  const size_t max_rejections_listed_;
  ::order::v1::UploadOrderEventsResponse* const response_;
  // Touched by one thread at a time: a read completes only after the task that started it
  // (the previous message's) has finished with them.
  ::order::v1::UploadOrderEventsRequest event_;
  int32_t index_ = 0;
};

}  // namespace hermes::order
