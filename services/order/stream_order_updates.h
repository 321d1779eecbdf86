// StreamOrderUpdatesReactor: one StreamOrderUpdates stream, on gRPC's callback API.
//
// The sync version held two threads per open stream (the handler writing, a reader thread
// reading) and woke each every poll interval; a reactor holds none while it waits. gRPC runs
// it when a request arrives (OnReadDone), a write completes or the client cancels; the
// fan-out's waker, when a status change is queued for it. Its writes are never started on the
// thread that published the change (the committing writer): on the service's DeliveryThread
// when the waker finds it idle, and in gRPC's write completion when more is ready
// (libs/streams/stream_pump.h, libs/streams/delivery_thread.h). Choosing the next message
// never blocks: it takes what the fan-out queued.
//
// The method is registered raw and the reactor parses each request itself
// (libs/api/parse_request.h): gRPC 1.51 reports a request it cannot parse exactly as it reports
// the client's half-close, so one subscription whose order_id is not valid UTF-8 would end the
// stream OK. Here it gets a reply whose `error` is INVALID_ARGUMENT naming the field (and no
// `order_id`), and the stream goes on.
//
// One FIFO per stream carries the live status changes from the fan-out and the stream's own
// replies (current status, errors, the end marker on half-close), so a current status always
// precedes the changes that follow it and half-close ends the stream (OK) after every reply
// was sent. A subscription on a stream that lags behind the fan-out first queues a marker,
// then reads the current status: the changes the stream has not read yet when it subscribes
// are older than that status and are skipped up to the marker, so the first message about an
// order is its current status (or a newer change). (One window is left: a change is published
// just after its commit, so two changes committed before the read but published after the
// marker, microseconds apart, both go out, in order, ending at the current status.) Changes and
// current statuses are deduplicated per order by status (every allowed transition increases the
// status number), so neither a stale current status nor a stale change is sent; the reply to a
// re-subscribe goes out even if that status was sent before.
// A slow reader's queue overflows (RESOURCE_EXHAUSTED) instead of blocking writers; on
// shutdown the stream ends UNAVAILABLE. Either way a last message whose `error` is set and
// `order_id` empty says why, then the status does.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/interceptor/handler_pool.h"
#include "libs/streams/delivery_thread.h"
#include "libs/streams/stream_pump.h"
#include "libs/streams/stream_slots.h"
#include "order/v1/order.pb.h"
#include "services/order/order_store.h"
#include "services/order/order_updates.h"

namespace hermes::order {

// "/order.v1.OrderService/StreamOrderUpdates": the method the chain knows it by.
const std::string& StreamOrderUpdatesPath();

class StreamOrderUpdatesReactor final
    : public streams::StreamPump<grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                                 ::order::v1::StreamOrderUpdatesResponse, OrderUpdate> {
 public:
  // Starts the stream (or finishes it at once when there are too many). The reactor is
  // deleted after OnDone, once no task posted to `delivery` or `pool` holds it. The stream
  // holds one of `streams` (the service's, limited to options.max_streams) from its start
  // until OnDone. A request whose store read would wait for a connection is answered on
  // `pool` (gRPC's callback threads, which run OnReadDone, must not wait).
  static StreamOrderUpdatesReactor* Start(
      OrderStore& store, OrderUpdateFanout& fanout, streams::DeliveryThread& delivery,
      interceptor::HandlerPool& pool, const StreamOptions& options, streams::StreamSlots& streams,
      grpc::CallbackServerContext* context,
      const std::shared_ptr<const interceptor::ServerChain>& chain);

  void OnReadDone(bool ok) override;

 private:
  StreamOrderUpdatesReactor(OrderStore& store, streams::DeliveryThread& delivery,
                            interceptor::HandlerPool& pool, const StreamOptions& options,
                            grpc::CallbackServerContext* context);
  // Runs after OnDone, which released the subscription and the stream slot.
  ~StreamOrderUpdatesReactor() override = default;

  // The answer to one request, in two halves. Begin, under the stream's lock: an unsubscribe,
  // or an order too many, is answered (std::nullopt, and *replying false when the reply was
  // dropped because the stream's queue overflowed or the server is closing it); a subscribe is
  // tracked (and marked in the queue) and its reply returned, still without the current status.
  std::optional<OrderUpdate> Begin(const ::order::v1::StreamOrderUpdatesRequest& request,
                                   bool* replying);
  // Complete: the order's current status (or the error reading it) into `reply`, which is
  // queued; false as for Begin. std::nullopt, with nothing done, when the read would wait for a
  // store connection and `may_wait` is false.
  std::optional<bool> Complete(const ::order::v1::StreamOrderUpdatesRequest& request,
                               OrderUpdate& reply, bool may_wait);
  // The reply to a request that did not parse: `why`, with no order_id. False as for Begin.
  bool Refuse(const absl::Status& why);
  // Once a request is answered: reads the next one, unless the reply was dropped or the
  // stream has finished.
  void ReadNext(bool replying);
  // StreamPump: the next reply or tracked change to send, nothing yet, or the end.
  Step Next(::order::v1::StreamOrderUpdatesResponse* out, bool looking_ahead) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // StreamPump: a status looked ahead at is sent only if its order is still tracked and the
  // status still newer than the last one sent for it (an unsubscribe or a re-subscribe may have
  // been read while the write before it was in flight).
  bool StillToSend(const ::order::v1::StreamOrderUpdatesResponse& looked_ahead) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  OrderStore& store_;
  interceptor::HandlerPool& pool_;
  const StreamOptions& options_;

  grpc::ByteBuffer received_;                       // the read in flight owns it
  ::order::v1::StreamOrderUpdatesRequest request_;  // received_, parsed (in OnReadDone)

  // An order this stream tracks.
  struct Tracked {
    int sent = 0;               // the newest status sent for it (0: none yet)
    uint64_t subscription = 0;  // the subscription that began the tracking (see kSubscribed)
    // Whether the stream has read past the point in its queue where that subscription began:
    // until then, a change it reads for the order was committed before the subscription (its
    // status is no newer than the reply's current status) and is not sent.
    bool caught_up = false;
  };
  absl::flat_hash_map<std::string, Tracked> tracked_ ABSL_GUARDED_BY(mutex_);
  uint64_t subscriptions_ ABSL_GUARDED_BY(mutex_) = 0;
  // Why the server ends the stream early: sent as a last message, then as the status.
  std::optional<absl::Status> ended_early_ ABSL_GUARDED_BY(mutex_);
  bool last_message_sent_ ABSL_GUARDED_BY(mutex_) = false;
  // Whether a status is worth sending for a tracked order: none from before its subscription
  // (see Tracked); then a status newer than the newest sent, always; the same one again only
  // as the reply to a refresh (a re-subscribe).
  static bool IsNews(int status, const Tracked& order, bool refresh) {
    return order.caught_up && (status > order.sent || (refresh && status == order.sent));
  }

  // The response looked ahead at (none for an error reply): tracked_ is updated when it goes
  // out (StillToSend), not when it is looked at.
  struct LookedAhead {
    int status = 0;
    bool refresh = false;
  };
  std::optional<LookedAhead> looked_ahead_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace hermes::order
