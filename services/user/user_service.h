// UserServiceImpl: user.v1.UserService. Translates between the protos and the domain:
// validates requests (user_validation.h), calls the store, maps results and errors
// (libs/errors: one mapping, AppError details). No SQL here.
//
// GetUser, a read by id that never waits, runs on the callback API and is answered inline
// (libs/interceptor/answer_inline.h); the other unary methods wait for a commit, and run on the
// sync API. WatchUsers runs on the callback API (watch_users.h):
// an open stream holds no thread, so one instance keeps thousands of watchers. It follows the
// durable event log — no gap, no duplicate — with a bounded buffer per watcher; beyond
// `max_watchers` concurrent watchers a new one gets RESOURCE_EXHAUSTED at once.
#pragma once

#include <cstdint>

#include "libs/streams/delivery_thread.h"
#include "libs/streams/stream_slots.h"
#include "services/user/user_store.h"
#include "services/user/watch_users.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::user {

class UserServiceImpl final : public ::user::v1::UserService::WithCallbackMethod_GetUser<
                                  ::user::v1::UserService::WithCallbackMethod_WatchUsers<
                                      ::user::v1::UserService::Service>> {
 public:
  // `store` and `fanout` must outlive the service; the fanout is fed by the store's listener.
  UserServiceImpl(UserStore& store, UserEventFanout& fanout, WatchOptions options = {});

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const ::user::v1::GetUserRequest* request,
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
  grpc::ServerWriteReactor<::user::v1::WatchUsersResponse>* WatchUsers(
      grpc::CallbackServerContext* context, const ::user::v1::WatchUsersRequest* request) override;

 private:
  UserStore& store_;
  UserEventFanout& fanout_;
  const WatchOptions options_;
  streams::StreamSlots watchers_;  // open WatchUsers streams, against options_.max_watchers
  // Runs the watchers' deliveries. Destroyed right after wakes_, running what is still posted
  // (each task may hold the last reference to a reactor).
  streams::DeliveryThread delivery_;
  // Publishing wakes idle watchers on delivery_, not on the committing writer's thread.
  streams::WakesOnDeliveryThread<UserEventFanout> wakes_;

  grpc::Status Get(const ::user::v1::GetUserRequest& request,
                   ::user::v1::GetUserResponse* response);
};

}  // namespace hermes::user
