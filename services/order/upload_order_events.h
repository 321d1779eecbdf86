// UploadOrderEventsReactor: one UploadOrderEvents stream (client-streaming), on gRPC's
// callback API, so that the order service has no method left on the sync API (see
// libs/interceptor/unary_answer.h for why that matters).
//
// It reads one message at a time, as the bytes that came (the method is registered raw: see
// OrderServiceBase in order_service.h). Each is parsed, validated and committed on the service's
// HandlerPool (a commit waits for its fsync, which gRPC's callback threads must not do), and
// only then is the next one read: messages apply in stream order, one stream holds at most one
// message, and a slow commit slows only its own stream's reads (HTTP/2 flow control holds the
// client back). When the client half-closes, the stream ends OK with the counts and the first
// `max_rejections_listed` rejections; a rejection does not stop the messages after it.
//
// Parsing here rather than letting gRPC parse is what lets a message that does not parse (a
// `note` that is not valid UTF-8) be one more rejection, INVALID_ARGUMENT naming its field, as
// API.md wants: gRPC 1.51 reports a message it cannot parse exactly as it reports the end of the
// stream (the read completes "not ok"), so the stream would end OK, the messages after it unread
// and the bad one in no count.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "libs/interceptor/handler_pool.h"
#include "order/v1/order.pb.h"
#include "services/order/order_store.h"

namespace hermes::order {

class UploadOrderEventsReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  // `response` (gRPC's, valid until OnDone) receives the serialized summary. Deletes itself
  // after OnDone.
  static UploadOrderEventsReactor* Start(OrderStore& store, interceptor::HandlerPool& pool,
                                         size_t max_rejections_listed, grpc::ByteBuffer* response);

  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  UploadOrderEventsReactor(OrderStore& store, interceptor::HandlerPool& pool,
                           size_t max_rejections_listed, grpc::ByteBuffer* response)
      : store_(store),
        pool_(pool),
        max_rejections_listed_(max_rejections_listed),
        response_(response) {}

  // Parses and applies received_ (message number index_) and counts the outcome in summary_.
  // On the pool.
  void Apply();
  // The outcome of received_: OK, or why it was rejected.
  absl::Status Outcome();
  // Ends the stream with summary_ as the answer.
  void FinishWithSummary();

  OrderStore& store_;
  interceptor::HandlerPool& pool_;
  const size_t max_rejections_listed_;
  grpc::ByteBuffer* const response_;
  // Touched by one thread at a time: a read completes only after the task that started it
  // (the previous message's) has finished with them.
  grpc::ByteBuffer received_;
  ::order::v1::UploadOrderEventsRequest event_;
  ::order::v1::UploadOrderEventsResponse summary_;
  int32_t index_ = 0;
};

}  // namespace hermes::order
