#include "services/user/user_service.h"

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "services/user/user_proto.h"
#include "services/user/user_validation.h"

namespace hermes::user {
namespace {

using ::user::v1::WatchUsersResponse;

// Sends one event unless the watcher's status filter excludes it. False: the client is gone.
bool Send(const UserEvent& event, const std::optional<UserStatus>& filter,
          grpc::ServerWriter<WatchUsersResponse>* writer) {
  if (filter.has_value() && event.user.status != *filter) return true;
  WatchUsersResponse response;
  ToProto(event, &response);
  return writer->Write(response);
}

grpc::Status ResumeHint(grpc::StatusCode code, absl::string_view why, int64_t last_sequence) {
  return errors::GrpcError(code, absl::StrCat(why, "; resume with after_sequence=", last_sequence));
}

}  // namespace

UserServiceImpl::UserServiceImpl(UserStore& store, UserEventFanout& fanout, WatchOptions options)
    : store_(store), fanout_(fanout), options_(options) {}

grpc::Status UserServiceImpl::GetUser(grpc::ServerContext*,
                                      const ::user::v1::GetUserRequest* request,
                                      ::user::v1::GetUserResponse* response) {
  if (absl::Status status = ValidateId(request->id()); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  absl::StatusOr<User> user = store_.Get(request->id());
  if (!user.ok()) return errors::ToGrpcStatus(user.status());
  ToProto(*user, response->mutable_user());
  return grpc::Status::OK;
}

grpc::Status UserServiceImpl::ListUsers(grpc::ServerContext*,
                                        const ::user::v1::ListUsersRequest* request,
                                        ::user::v1::ListUsersResponse* response) {
  api::Page page;
  absl::StatusOr<ListUsersQuery> query = ValidateList(*request, &page);
  if (!query.ok()) return errors::ToGrpcStatus(query.status());
  absl::StatusOr<UserPage> result = store_.List(*query);
  if (!result.ok()) return errors::ToGrpcStatus(result.status());
  for (const User& user : result->users) ToProto(user, response->add_users());
  *response->mutable_page() = api::PageResponseFor(page, result->total);
  return grpc::Status::OK;
}

grpc::Status UserServiceImpl::CreateUser(grpc::ServerContext*,
                                         const ::user::v1::CreateUserRequest* request,
                                         ::user::v1::CreateUserResponse* response) {
  absl::StatusOr<NewUser> user = ValidateCreate(*request);
  if (!user.ok()) return errors::ToGrpcStatus(user.status());
  absl::StatusOr<User> created = store_.Create(*user);
  if (!created.ok()) return errors::ToGrpcStatus(created.status());
  ToProto(*created, response->mutable_user());
  return grpc::Status::OK;
}

grpc::Status UserServiceImpl::UpdateUser(grpc::ServerContext*,
                                         const ::user::v1::UpdateUserRequest* request,
                                         ::user::v1::UpdateUserResponse* response) {
  absl::StatusOr<UserUpdate> update = ValidateUpdate(*request);
  if (!update.ok()) return errors::ToGrpcStatus(update.status());
  absl::StatusOr<User> updated = store_.Update(*update);
  if (!updated.ok()) return errors::ToGrpcStatus(updated.status());
  ToProto(*updated, response->mutable_user());
  return grpc::Status::OK;
}

grpc::Status UserServiceImpl::DeleteUser(grpc::ServerContext*,
                                         const ::user::v1::DeleteUserRequest* request,
                                         ::user::v1::DeleteUserResponse*) {
  if (absl::Status status = ValidateId(request->id()); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  return errors::ToGrpcStatus(store_.Delete(request->id()));
}

grpc::Status UserServiceImpl::WatchUsers(grpc::ServerContext* context,
                                         const ::user::v1::WatchUsersRequest* request,
                                         grpc::ServerWriter<WatchUsersResponse>* writer) {
  if (request->after_sequence() < 0) {
    return errors::GrpcError(grpc::StatusCode::INVALID_ARGUMENT,
                             "after_sequence must not be negative", "after_sequence");
  }
  if (watchers_.fetch_add(1) >= options_.max_watchers) {
    watchers_.fetch_sub(1);
    return errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "too many concurrent watchers on this instance; retry later");
  }
  grpc::Status status = Follow(context, *request, writer);
  watchers_.fetch_sub(1);
  return status;
}

grpc::Status UserServiceImpl::Follow(grpc::ServerContext* context,
                                     const ::user::v1::WatchUsersRequest& request,
                                     grpc::ServerWriter<WatchUsersResponse>* writer) {
  absl::StatusOr<std::optional<UserStatus>> filter =
      StatusFilter(request.status_filter(), "status_filter");
  if (!filter.ok()) return errors::ToGrpcStatus(filter.status());

  // 1. Subscribe, then read where the log stands: every event after `range->newest` reaches
  // the subscription; older ones are replayed from the log. The subscription starts here.
  UserEventFanout::Handle subscription = fanout_.Subscribe(options_.buffer_events);
  absl::StatusOr<UserStore::EventRange> range = store_.RetainedEvents();
  if (!range.ok()) return errors::ToGrpcStatus(range.status());

  int64_t last = request.after_sequence();  // the newest sequence this watcher has seen
  if (last > 0) {
    if (last > range->newest) {
      return errors::GrpcError(grpc::StatusCode::OUT_OF_RANGE,
                               absl::StrCat("after_sequence is ahead of the newest event (",
                                            range->newest, "); re-list with ListUsers"),
                               "after_sequence");
    }
    if (range->oldest > 0 && last < range->oldest - 1) {
      return errors::GrpcError(
          grpc::StatusCode::OUT_OF_RANGE,
          absl::StrCat("events after ", last, " were pruned (the oldest retained is ",
                       range->oldest, "); re-list with ListUsers"),
          "after_sequence");
    }
  } else {
    last = range->newest;  // only what is committed from now on
  }
  // 2. The subscription is live: tell the client.
  writer->SendInitialMetadata();

  // 3. Replay what the log holds after `last`, then 4. follow the subscription. A live event
  // the replay already sent is skipped; one beyond `last + 1` means events were committed
  // but not yet seen here, so they are read from the log first.
  // Sequences are contiguous, so an event missing from the log was pruned meanwhile: the
  // client must re-list rather than silently skip it.
  auto pruned = [&] {
    return errors::GrpcError(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("events after ", last, " were pruned while replaying; re-list with ListUsers"),
        "after_sequence");
  };
  auto catch_up = [&](int64_t up_to) -> std::optional<grpc::Status> {
    while (last < up_to) {
      absl::StatusOr<std::vector<UserEvent>> events =
          store_.EventsAfter(last, options_.replay_batch);
      if (!events.ok()) return errors::ToGrpcStatus(events.status());
      if (events->empty() || events->front().sequence != last + 1) return pruned();
      for (const UserEvent& event : *events) {
        if (!Send(event, *filter, writer)) return grpc::Status::CANCELLED;
        last = event.sequence;
      }
    }
    return std::nullopt;
  };
  if (request.after_sequence() > 0) {
    if (auto done = catch_up(range->newest)) return *done;
  }
  while (true) {
    std::shared_ptr<const UserEvent> event;
    switch (subscription.Pop(options_.poll_interval, &event)) {
      case UserEventFanout::Next::kTimeout:
        if (context->IsCancelled()) return grpc::Status::CANCELLED;
        continue;
      case UserEventFanout::Next::kOverflow:
        return ResumeHint(grpc::StatusCode::RESOURCE_EXHAUSTED, "this watcher fell too far behind",
                          last);
      case UserEventFanout::Next::kClosed:
        return ResumeHint(grpc::StatusCode::UNAVAILABLE, "the server is shutting down", last);
      case UserEventFanout::Next::kEvent:
        break;
    }
    if (event->sequence <= last) continue;  // already sent by the replay
    if (event->sequence > last + 1) {
      if (auto done = catch_up(event->sequence - 1)) return *done;
      if (event->sequence <= last) continue;  // the catch-up read this one too
    }
    if (!Send(*event, *filter, writer)) return grpc::Status::CANCELLED;
    last = event->sequence;
  }
}

}  // namespace hermes::user
