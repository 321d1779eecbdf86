// What StreamOrderUpdates streams carry: the status changes the store's listener publishes,
// and each stream's own replies, through one fan-out (libs/streams).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "libs/streams/event_fanout.h"
#include "order/v1/order.pb.h"
#include "services/order/order.h"

namespace hermes::order {

// One item of a StreamOrderUpdates stream's queue.
struct OrderUpdate {
  // kSubscribed marks where in the stream's queue a subscription began (nothing is sent for
  // it): the changes queued before it are older than the current status its reply will carry.
  enum class Kind { kChange, kReply, kSubscribed, kEnd };
  Kind kind = Kind::kChange;
  ::order::v1::StreamOrderUpdatesResponse response;  // kChange, kReply; kSubscribed: order_id
  OrderStatus status = OrderStatus::kPending;        // kChange: for per-order dedup
  // kReply to a subscription of an order the stream already tracked (a refresh): sent even if
  // a message with the same status went out before, never if a newer one did.
  bool refresh = false;
  uint64_t subscription = 0;  // kSubscribed: which subscription of the stream's
};

using OrderUpdateFanout = streams::EventFanout<OrderUpdate>;

// The update that the store's listener publishes for a committed event.
OrderUpdate ChangeFor(const OrderEvent& event);

// The reply to a subscription: the order's current status.
::order::v1::StreamOrderUpdatesResponse CurrentStatus(const Order& order);

struct StreamOptions {
  int max_streams = 256;
  size_t buffer_updates = 1024;
  size_t max_rejections_listed = 1000;  // UploadOrderEvents: the counts stay exact
  // UploadOrderEvents: messages one stream may carry (its counts are int32); more end it
  // RESOURCE_EXHAUSTED, saying how many were applied.
  int32_t max_messages_per_upload = std::numeric_limits<int32_t>::max();
  size_t max_orders_per_stream = 10000;  // StreamOrderUpdates: more get an `error` reply
  // StreamOrderUpdates: a stream whose write has been held up this long while it is more than
  // buffer_updates behind is cancelled (its client stopped reading:
  // libs/streams/stream_pump.h); how often that is checked.
  absl::Duration stuck_write_grace = absl::Seconds(30);
  absl::Duration overflow_check = absl::Seconds(1);
};

}  // namespace hermes::order
