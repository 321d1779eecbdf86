#include "services/user/watch_users.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "services/user/user_proto.h"
#include "services/user/user_validation.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::user {
namespace {

grpc::Status ResumeHint(grpc::StatusCode code, absl::string_view why, int64_t last_sequence) {
  return errors::GrpcError(code, absl::StrCat(why, "; resume with after_sequence=", last_sequence));
}

}  // namespace

const std::string& WatchUsersPath() {
  static const std::string* const path = new std::string(
      absl::StrCat("/", ::user::v1::UserService::service_full_name(), "/WatchUsers"));
  return *path;
}

WatchUsersReactor* WatchUsersReactor::Start(
    UserStore& store, UserEventFanout& fanout, streams::DeliveryThread& delivery,
    const WatchOptions& options, streams::StreamSlots& watchers,
    grpc::CallbackServerContext* context, const grpc::ByteBuffer& request,
    const std::shared_ptr<const interceptor::ServerChain>& chain) {
  auto* reactor = new WatchUsersReactor(store, fanout, delivery, options, watchers, context);
  reactor->BeginChain(chain, WatchUsersPath());
  grpc::Status status;
  try {
    // No message: the client cancelled before sending it (the chain then reports CANCELLED),
    // or half-closed without one.
    if (request.Valid()) reactor->ChainReceived();
    ::user::v1::WatchUsersRequest parsed;
    if (absl::Status ok = api::ParseRequest(request, &parsed); !ok.ok()) {
      status = errors::ToGrpcStatus(ok);
    } else {
      status = reactor->Begin(parsed);
    }
  } catch (...) {
    status = errors::HandlerThrew();  // as a handler that throws; recovery makes it INTERNAL
  }
  if (!status.ok()) {
    reactor->FinishOnce(status);
    return reactor;
  }
  // 2. The subscription is live: tell the client.
  reactor->StartSendInitialMetadata();
  reactor->MarkStarted();
  // On the delivery thread: the replay reads the store, and this is a gRPC callback thread
  // (one of the two or so that serve every stream's reactions).
  try {
    reactor->SchedulePump();
  } catch (...) {
    // Not posted (an allocation failed). Escaping, the exception would have gRPC answer the
    // call itself and never run this reactor's OnDone: it, its watcher slot and its
    // subscription would stay for good. Ended here instead, as a throwing handler's call.
    reactor->Abort(errors::HandlerThrew());
  }
  return reactor;
}

WatchUsersReactor::WatchUsersReactor(UserStore& store, UserEventFanout& fanout,
                                     streams::DeliveryThread& delivery, const WatchOptions& options,
                                     streams::StreamSlots& watchers,
                                     grpc::CallbackServerContext* context)
    : StreamPump(delivery, context, options.stuck_write_grace),
      store_(store),
      fanout_(fanout),
      options_(options),
      watchers_(watchers) {}

absl::StatusOr<UserStore::EventRange> WatchUsersReactor::Follow() {
  // Subscribed first: every event committed after the range read next reaches the
  // subscription, and the ones up to it are read from the log (what both cover is sent once:
  // see Next).
  Subscribe(fanout_, options_.buffer_events);
  return store_.RetainedEvents();
}

grpc::Status WatchUsersReactor::Begin(const ::user::v1::WatchUsersRequest& request) {
  if (request.after_sequence() < 0) {
    return errors::GrpcError(grpc::StatusCode::INVALID_ARGUMENT,
                             "after_sequence must not be negative", "after_sequence");
  }
  absl::StatusOr<std::optional<UserStatus>> filter =
      StatusFilter(request.status_filter(), "status_filter");
  if (!filter.ok()) return errors::ToGrpcStatus(filter.status());
  filter_ = *filter;
  slot_ = watchers_.TryTake();
  if (!slot_.has_value()) {
    return errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "too many concurrent watchers on this instance; retry later");
  }

  // 1. Subscribe, then read where the log stands.
  absl::StatusOr<UserStore::EventRange> range = Follow();
  if (!range.ok()) return errors::ToGrpcStatus(range.status());

  absl::MutexLock lock(&mutex_);
  const int64_t after = request.after_sequence();
  if (after > 0) {
    if (after > range->newest) {
      return errors::GrpcError(grpc::StatusCode::OUT_OF_RANGE,
                               absl::StrCat("after_sequence is ahead of the newest event (",
                                            range->newest, "); re-list with ListUsers"),
                               "after_sequence");
    }
    if (range->oldest > 0 && after < range->oldest - 1) {
      return errors::GrpcError(
          grpc::StatusCode::OUT_OF_RANGE,
          absl::StrCat("events after ", after, " were pruned (the oldest retained is ",
                       range->oldest, "); re-list with ListUsers"),
          "after_sequence");
    }
    last_ = after;
    replay_to_ = range->newest;  // 3. replayed from the log first
  } else {
    last_ = range->newest;  // only what is committed from now on
    replay_to_ = last_;
  }
  return grpc::Status::OK;
}

grpc::Status WatchUsersReactor::CatchUp() {
  absl::StatusOr<UserStore::EventRange> range = Follow();  // a new subscription, as in Begin
  if (!range.ok()) return errors::ToGrpcStatus(range.status());
  replay_to_ = std::max(replay_to_, range->newest);
  ++catch_ups_;
  return grpc::Status::OK;
}

grpc::Status WatchUsersReactor::ReadReplayBatch() {
  read_log_since_live_ = true;
  const int limit = std::max(1, options_.replay_batch);
  const int64_t through =
      filter_.has_value() ? std::min(replay_to_, last_ + std::max<int64_t>(1, options_.replay_scan))
                          : replay_to_;
  absl::StatusOr<UserStore::EventPage> page = store_.ReadEvents(
      {.after_sequence = last_, .through_sequence = through, .status = filter_, .limit = limit});
  if (!page.ok()) return errors::ToGrpcStatus(page.status());
  // Events after last_ pruned meanwhile: the client must re-list rather than silently skip
  // them. The log is pruned from its oldest end, so the oldest event retained in the snapshot
  // the events were read from says whether any the read covered was gone (a filtered read skips
  // sequences, so the first event read cannot tell). An unfiltered read also checks that it
  // holds exactly last_ + 1 .. last_ + n (its sequences increase, so its first and last tell):
  // sequences are contiguous unless the log was changed by hand, and a hole is then reported
  // the same way rather than skipped. And it holds as many as it asked for, or every one up to
  // `through`: a short read that stops before it lost the log's newest events.
  std::vector<UserEvent>& events = page->events;
  const bool pruned = page->oldest_retained == 0 || page->oldest_retained > last_ + 1;
  const int64_t expected = std::min<int64_t>(limit, through - last_);
  const bool hole =
      !filter_.has_value() && (static_cast<int64_t>(events.size()) != expected ||
                               (!events.empty() && (events.front().sequence != last_ + 1 ||
                                                    events.back().sequence != last_ + expected)));
  if (pruned || hole) {
    return errors::GrpcError(grpc::StatusCode::OUT_OF_RANGE,
                             absl::StrCat("events after ", last_,
                                          " were pruned while replaying; re-list with ListUsers"),
                             "after_sequence");
  }
  // A full batch covers the log up to its last event; a short one, all of it up to `through`.
  replay_read_to_ = static_cast<int>(events.size()) < limit ? through : events.back().sequence;
  replay_.assign(std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
  return grpc::Status::OK;
}

WatchUsersReactor::Step WatchUsersReactor::Next(::user::v1::WatchUsersResponse* out,
                                                bool looking_ahead) {
  bool read_a_batch = false;
  while (true) {
    // Once the events read are sent, the position moves past the stretch the read covered: a
    // filtered read skipped the events that do not match.
    if (replay_.empty() && last_ < replay_read_to_) last_ = replay_read_to_;
    // A shutdown ends a replay too, rather than after up to --event_retention more events (the
    // live events below learn it from the fan-out).
    if ((!replay_.empty() || last_ < replay_to_) && subscription_->Closed()) {
      finish_status_ =
          ResumeHint(grpc::StatusCode::UNAVAILABLE, "the server is shutting down", last_);
      return Step::kFinish;
    }
    // 3. The log, up to replay_to_: at the start when resuming, and whenever a live event
    // shows that events were committed but not seen here.
    if (replay_.empty() && last_ < replay_to_) {
      // One batch a call: a call would otherwise read up to --event_retention events under the
      // stream's lock, holding the delivery thread from every other stream. And never on a
      // gRPC thread (a pump from a write's completion): the pump is posted to the delivery
      // thread, which reads.
      if (read_a_batch || !OnDeliveryThread()) return Step::kYield;
      read_a_batch = true;
      if (grpc::Status status = ReadReplayBatch(); !status.ok()) {
        finish_status_ = std::move(status);
        return Step::kFinish;
      }
      continue;
    }
    std::shared_ptr<const UserEvent> live;
    UserEvent replayed;
    const UserEvent* event = nullptr;
    if (!replay_.empty()) {
      replayed = std::move(replay_.front());
      replay_.pop_front();
      event = &replayed;
    } else {
      // 4. Live events.
      live = std::move(held_);
      if (live == nullptr) {
        switch (TryPopNext(looking_ahead, &live)) {
          case UserEventFanout::Next::kTimeout:
            return Step::kIdle;
          case UserEventFanout::Next::kOverflow:
            // Behind since it last read the log: the live events piled up while it replayed,
            // and they are in the log too. Behind while following live events: a slow reader.
            if (read_log_since_live_ && catch_ups_ < kMaxCatchUps) {
              // The overflow is final: the delivery thread's TryPop finds it again, and reads.
              if (!OnDeliveryThread()) return Step::kYield;
              if (grpc::Status status = CatchUp(); !status.ok()) {
                finish_status_ = std::move(status);
                return Step::kFinish;
              }
              continue;
            }
            finish_status_ = ResumeHint(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                        "this watcher fell too far behind", last_);
            return Step::kFinish;
          case UserEventFanout::Next::kClosed:
            finish_status_ =
                ResumeHint(grpc::StatusCode::UNAVAILABLE, "the server is shutting down", last_);
            return Step::kFinish;
          case UserEventFanout::Next::kEvent:
            break;
        }
      }
      if (live->sequence > last_ + 1) {  // read the ones in between from the log first
        replay_to_ = live->sequence - 1;
        held_ = std::move(live);
        continue;
      }
      event = live.get();
    }
    if (event->sequence <= last_) continue;  // already sent by the replay
    if (live != nullptr) {
      read_log_since_live_ = false;
      catch_ups_ = 0;
    }
    last_ = event->sequence;
    if (filter_.has_value() && event->user.status != *filter_) continue;
    ToProto(*event, out);
    return Step::kWrite;
  }
}

}  // namespace hermes::user
