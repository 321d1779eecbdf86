// UserServiceImpl: user.v1.UserService. Translates between the protos and the domain:
// validates requests (user_validation.h), calls the store, maps results and errors
// (libs/errors: one mapping, AppError details). No SQL here.
//
// WatchUsers follows the durable event log: it subscribes to the live fan-out first, sends the
// response headers (the subscription is live: nothing committed from now on is missed), replays
// retained events after `after_sequence` from the store, then follows live events, skipping
// any the replay already sent — no gap, no duplicate. Each watcher has a bounded buffer; one
// that falls behind ends with RESOURCE_EXHAUSTED and resumes by sequence. Beyond
// `max_watchers` concurrent watchers a new one gets RESOURCE_EXHAUSTED at once: the sync API
// holds a thread per open stream, and unary calls must keep theirs.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "libs/streams/event_fanout.h"
#include "services/user/user_store.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::user {

using UserEventFanout = streams::EventFanout<UserEvent>;

struct WatchOptions {
  int max_watchers = 256;
  size_t buffer_events = 1024;  // per watcher
  int replay_batch = 500;       // events read from the log at a time
  // How often a waiting watcher checks whether its client went away (the sync API has no
  // cancellation callback).
  absl::Duration poll_interval = absl::Milliseconds(200);
};

class UserServiceImpl final : public ::user::v1::UserService::Service {
 public:
  // `store` and `fanout` must outlive the service; the fanout is fed by the store's listener.
  UserServiceImpl(UserStore& store, UserEventFanout& fanout, WatchOptions options = {});

  grpc::Status GetUser(grpc::ServerContext* context, const ::user::v1::GetUserRequest* request,
                       ::user::v1::GetUserResponse* response) override;
  grpc::Status ListUsers(grpc::ServerContext* context, const ::user::v1::ListUsersRequest* request,
                         ::user::v1::ListUsersResponse* response) override;
  grpc::Status CreateUser(grpc::ServerContext* context,
                          const ::user::v1::CreateUserRequest* request,
                          ::user::v1::CreateUserResponse* response) override;
  grpc::Status UpdateUser(grpc::ServerContext* context,
                          const ::user::v1::UpdateUserRequest* request,
                          ::user::v1::UpdateUserResponse* response) override;
  grpc::Status DeleteUser(grpc::ServerContext* context,
                          const ::user::v1::DeleteUserRequest* request,
                          ::user::v1::DeleteUserResponse* response) override;
  grpc::Status WatchUsers(grpc::ServerContext* context,
                          const ::user::v1::WatchUsersRequest* request,
                          grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer) override;

 private:
  grpc::Status Follow(grpc::ServerContext* context, const ::user::v1::WatchUsersRequest& request,
                      grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer);

  UserStore& store_;
  UserEventFanout& fanout_;
  const WatchOptions options_;
  std::atomic<int> watchers_{0};
};

}  // namespace hermes::user
