// UploadOrderEventsReactor: one UploadOrderEvents stream (client-streaming), on gRPC's
// callback API, so that the order service has no method left on the sync API (see
// libs/interceptor/unary_methods.h for why that matters).
//
// It reads one message at a time, as the bytes that came (the method is registered raw: see
// OrderServiceBase in order_service.h). Each is parsed and validated on the service's
// HandlerPool (a message may be 4 MiB: not work for gRPC's callback threads, which serve every
// stream), handed to the store, and committed and ended by the store's commit thread
// (OrderStore::TransitionThen: no thread waits for the fsync); only then is the next one read:
// messages apply in stream order, one stream holds at most one message, and a slow commit slows
// only its own stream's reads (HTTP/2 flow control holds the client back). When the client
// half-closes, the stream ends OK with the counts and the first `max_rejections_listed` rejections;
// a rejection does not stop the messages after it.
//
// Parsing here rather than letting gRPC parse is what lets a message that does not parse (a
// `note` that is not valid UTF-8) be one more rejection, INVALID_ARGUMENT naming its field, as
// API.md wants: gRPC 1.51 reports a message it cannot parse exactly as it reports the end of the
// stream (the read completes "not ok"), so the stream would end OK, the messages after it unread
// and the bad one in no count.
//
// A shutdown (UploadStreams::Drain) ends every open upload with UNAVAILABLE, saying how many of
// its messages were applied, so the client sends the rest elsewhere: one waiting for its next
// message at once, one applying a message as soon as that message is applied (never half-way).
//
// The reactor runs the server's chain itself (interceptor::DrivesChain, as the update streams
// do): each message read is a message received, the summary a message sent, and every end
// passes through the stages before gRPC's Finish.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/interceptor/chain.h"
#include "libs/interceptor/handler_pool.h"
#include "libs/interceptor/waiting_bound.h"
#include "order/v1/order.pb.h"
#include "services/order/order_store.h"
#include "services/order/order_updates.h"

namespace hermes::order {

class UploadOrderEventsReactor;

// "/order.v1.OrderService/UploadOrderEvents", the method whose chain the reactor drives.
const std::string& UploadOrderEventsPath();

// The open UploadOrderEvents streams of a service, so that a shutdown can end them.
class UploadStreams {
 public:
  // Ends every open upload (see the top of this file), and every one started from now on.
  void Drain();

 private:
  friend class UploadOrderEventsReactor;
  bool Add(UploadOrderEventsReactor* upload);  // false once draining
  void Remove(UploadOrderEventsReactor* upload);

  absl::Mutex mutex_;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  absl::flat_hash_set<UploadOrderEventsReactor*> open_ ABSL_GUARDED_BY(mutex_);
};

class UploadOrderEventsReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  // `response` (gRPC's, valid until OnDone) receives the serialized summary. Deletes itself
  // after OnDone, once Drain is done with it. Open in `streams` until then. `chain`: the
  // server's, which this call then drives (null: none, as with --bench_no_chain).
  static UploadOrderEventsReactor* Start(OrderStore& store, interceptor::HandlerPool& pool,
                                         interceptor::WaitingBound& writes, UploadStreams& streams,
                                         const StreamOptions& options,
                                         grpc::CallbackServerContext* context,
                                         std::shared_ptr<const interceptor::ServerChain> chain,
                                         grpc::ByteBuffer* response);

  void OnReadDone(bool ok) override;
  void OnDone() override;

 private:
  friend class UploadStreams;

  UploadOrderEventsReactor(OrderStore& store, interceptor::HandlerPool& pool,
                           interceptor::WaitingBound& writes, UploadStreams& streams,
                           const StreamOptions& options, grpc::CallbackServerContext* context,
                           grpc::ByteBuffer* response)
      : store_(store),
        pool_(pool),
        writes_(writes),
        streams_(streams),
        max_rejections_listed_(options.max_rejections_listed),
        max_messages_(options.max_messages_per_upload),
        context_(context),
        response_(response) {}

  // On the pool: parses and validates received_ (message number index_); a message that passes
  // goes to the store (TransitionThen), whose answer, on its commit thread, ends it (Applied).
  // A message that does not is ended here.
  void ApplyThenReadNext();
  // Parses received_ into event_ and checks it: OK with the status it asks for, or why it is
  // rejected.
  absl::Status Validate(OrderStatus* target);
  // Message index_ is over with `outcome`: counts it, then reads the next message (or ends,
  // when draining, or when the store failed).
  void Applied(const absl::Status& outcome);
  // Counts `outcome` in summary_, accepted or rejected: OK. Not OK when the store failed (busy,
  // full, failing): that is not the message's fault, is not counted, and ends the stream
  // (StoreFailed).
  absl::Status Count(const absl::Status& outcome);
  // The shutdown's end: now if the stream waits for a message, else once the message being
  // applied is.
  void Drain();
  // Finishes the stream once, through the chain's stages; `status` is used unless it is OK,
  // then the summary is the answer.
  void FinishOnce(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // "the first N messages of this stream were applied (A accepted, R rejected)".
  std::string AppliedSoFar() const;
  // UNAVAILABLE, with what was applied.
  grpc::Status ShuttingDown() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // RESOURCE_EXHAUSTED: a message beyond max_messages_, with what was applied.
  grpc::Status TooManyMessages() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The store's `failure` on message index_, with what was applied before it.
  grpc::Status StoreFailed(const absl::Status& failure) const;
  void Unref();

  OrderStore& store_;
  interceptor::HandlerPool& pool_;
  interceptor::WaitingBound& writes_;  // the service's writes waiting for their commit
  UploadStreams& streams_;
  const size_t max_rejections_listed_;
  const int32_t max_messages_;
  grpc::CallbackServerContext* const context_;  // valid until OnDone
  grpc::ByteBuffer* const response_;
  // Touched by one thread at a time: a read completes only after the message before it has
  // ended (Applied, on the pool or the commit thread), and the pool task hands event_'s fields to
  // the store (which copies them) before the commit thread can end the message; Drain reads
  // summary_ and index_ only while a read is pending (reading_).
  grpc::ByteBuffer received_;
  ::order::v1::UploadOrderEventsRequest event_;
  ::order::v1::UploadOrderEventsResponse summary_;
  int32_t index_ = 0;

  // The chain's pass over this call. Begun in Start before the first read; then used under
  // mutex_ (OnReadDone, FinishOnce), and in OnDone, which gRPC runs after the Finish.
  std::optional<interceptor::ChainedCall> chained_;

  absl::Mutex mutex_;
  bool reading_ ABSL_GUARDED_BY(mutex_) = false;  // a read is pending, no message is applied
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  // gRPC's (until OnDone), one for each Drain that is using this reactor, and one for the
  // message being applied (its pool task, then its store callback).
  std::atomic<int> references_{1};
};

}  // namespace hermes::order
