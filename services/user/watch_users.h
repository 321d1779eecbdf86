// WatchUsersReactor: one WatchUsers stream, on gRPC's callback API.
//
// The sync API holds a server thread for as long as a stream is open; ten thousand watchers
// meant ten thousand threads, their stacks, and a wake-up per watcher every poll interval to
// notice a client that went away. A reactor holds no thread while it waits: the fan-out's
// waker runs it when an event is queued for it, gRPC runs it when a write completes or the
// client cancels. Everything else is what the sync handler did:
//
//   1. subscribe to the live fan-out, then read where the durable log stands;
//   2. send the response headers: the subscription is live, nothing committed from now on is
//      missed;
//   3. replay retained events after `after_sequence` from the log (in batches), then
//   4. follow live events, skipping those the replay already sent; a live event beyond
//      `last + 1` means events were committed but not seen here: they are read from the log
//      first. No gap, no duplicate.
//
// One write is in flight at a time; events wait in the subscription's bounded queue, and a
// watcher that falls `buffer_events` behind ends with RESOURCE_EXHAUSTED (resume by sequence).
// Unless it fell behind while reading the log (a long replay under steady writes: the live
// events pile up meanwhile however fast the client reads): it then subscribes afresh and
// reads what it missed from the log, as a resume would, up to kMaxCatchUps times in a row
// before it sends a live event again.
// The reactor looks one event ahead: while more are ready, writes carry gRPC's buffer hint, so
// a watcher's backlog leaves in one transport write, not one per event
// (libs/streams/stream_pump.h). The reactor's work after the start (serializing the next event,
// starting its write) never runs on the thread that published the event (the committing writer):
// it runs on the service's DeliveryThread when the fan-out wakes an idle watcher, and in gRPC's
// write completion when more is ready (libs/streams/delivery_thread.h). After the start (which
// reads where the log stands), reads of the log run on the DeliveryThread only: Next yields to
// it rather than read on a gRPC thread. A task posted
// there holds a reference, so the reactor is deleted when gRPC is done with it (OnDone) and no
// posted task is left. The server's chain sees these calls like any other, run by the reactor
// itself (StreamPump::BeginChain; the service is a DrivesChain): they are logged, counted and
// traced. The method is registered raw: the reactor parses the request, after the chain started.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/streams/delivery_thread.h"
#include "libs/streams/event_fanout.h"
#include "libs/streams/stream_pump.h"
#include "libs/streams/stream_slots.h"
#include "services/user/user_store.h"
#include "user/v1/user.pb.h"

namespace hermes::user {

using UserEventFanout = streams::EventFanout<UserEvent>;

struct WatchOptions {
  int max_watchers = 256;
  size_t buffer_events = 1024;  // per watcher
  int replay_batch = 500;       // events read from the log at a time (matching ones, filtered)
  // With a status_filter, the most sequences of the log one read covers: a filter on ACTIVE
  // reads the log, and a stretch of it with no ACTIVE user is read in steps of this many.
  int64_t replay_scan = 10'000;
  // A watcher whose write has been held up this long while it is more than buffer_events
  // behind is cancelled (its client stopped reading: libs/streams/stream_pump.h); how often
  // that is checked.
  absl::Duration stuck_write_grace = absl::Seconds(30);
  absl::Duration overflow_check = absl::Seconds(1);
};

// Fresh subscriptions a watcher may take in a row, each after falling behind while it read the
// log, before it ends with RESOURCE_EXHAUSTED all the same (a reader slower than the writes).
inline constexpr int kMaxCatchUps = 3;

// "/user.v1.UserService/WatchUsers": the method the chain knows it by.
const std::string& WatchUsersPath();

class WatchUsersReactor final
    : public streams::StreamPump<grpc::ServerWriteReactor<grpc::ByteBuffer>,
                                 ::user::v1::WatchUsersResponse, UserEvent> {
 public:
  // Starts the stream (or finishes it at once with the error). The reactor is deleted after
  // OnDone, once no task posted to `delivery` holds it. The stream holds one of `watchers` (the
  // service's, limited to options.max_watchers) from its start until OnDone. `request` is the
  // request's bytes (the method is registered raw): a request that does not parse ends the
  // stream INVALID_ARGUMENT. Nothing of it is kept (what is needed is copied before Start
  // returns): the service then empties the request gRPC holds for the stream's life
  // (api::ReleaseRequest). With a `chain`, the stream runs it (StreamPump::BeginChain): the
  // service is a DrivesChain.
  static WatchUsersReactor* Start(UserStore& store, UserEventFanout& fanout,
                                  streams::DeliveryThread& delivery, const WatchOptions& options,
                                  streams::StreamSlots& watchers,
                                  grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer& request,
                                  const std::shared_ptr<const interceptor::ServerChain>& chain);

 private:
  WatchUsersReactor(UserStore& store, UserEventFanout& fanout, streams::DeliveryThread& delivery,
                    const WatchOptions& options, streams::StreamSlots& watchers,
                    grpc::CallbackServerContext* context);
  // Runs after OnDone, which released the subscription and the stream slot.
  ~WatchUsersReactor() override = default;

  grpc::Status Begin(const ::user::v1::WatchUsersRequest& request);
  // Subscribes to the fan-out (replacing any earlier subscription), then reads where the log
  // stands: what Begin and CatchUp both start from.
  absl::StatusOr<UserStore::EventRange> Follow();
  // StreamPump: the next event to send (replayed or live), nothing yet, or the end.
  Step Next(::user::v1::WatchUsersResponse* out, bool looking_ahead) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Reads the next batch of the log after last_ (up to replay_to_; with a filter, only what
  // matches, over at most options_.replay_scan sequences) into replay_. An error (pruned
  // meanwhile, or the store's) ends the stream.
  grpc::Status ReadReplayBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // After an overflow while reading the log: a new subscription, and the log read up to where
  // it stands now (what Begin does for a resume).
  grpc::Status CatchUp() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  UserStore& store_;
  UserEventFanout& fanout_;
  const WatchOptions& options_;
  streams::StreamSlots& watchers_;

  std::optional<UserStatus> filter_;
  // Newest sequence sent, filtered out, or looked ahead at (by the pump, sent next).
  int64_t last_ ABSL_GUARDED_BY(mutex_) = 0;
  int64_t replay_to_ ABSL_GUARDED_BY(mutex_) = 0;  // read the log up to here before going live
  // How far the log has been read: last_ moves here once replay_ (what matched) is sent.
  int64_t replay_read_to_ ABSL_GUARDED_BY(mutex_) = 0;
  std::deque<UserEvent> replay_ ABSL_GUARDED_BY(mutex_);
  std::shared_ptr<const UserEvent> held_ ABSL_GUARDED_BY(mutex_);  // live, waits for the log
  // The log was read since the last live event sent: an overflow now may be the replay's doing
  // rather than a slow reader's (a watcher that only ever followed live events never has it).
  bool read_log_since_live_ ABSL_GUARDED_BY(mutex_) = false;
  int catch_ups_ ABSL_GUARDED_BY(mutex_) = 0;  // in a row, since the last live event sent
};

}  // namespace hermes::user
