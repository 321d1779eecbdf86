// UserServiceImpl: user.v1.UserService. Translates between the protos and the domain:
// validates requests (user_validation.h), calls the store, maps results and errors
// (libs/errors: one mapping, AppError details). No SQL here.
//
// The unary methods run on gRPC's async API (libs/interceptor/unary_methods.h): GetUser, a read
// by id, is answered on the thread that received it when that needs no wait (the read cache,
// or an idle reader connection), else on a HandlerPool; the writes (CreateUser, UpdateUser,
// DeleteUser) are validated on the thread that received them and answered from the store's
// commit thread once durable (no thread waits for a commit); ListUsers, which reads a page, on
// the pool. WatchUsers is a callback-API reactor (watch_users.h): an open stream holds no
// thread, so one instance keeps thousands of watchers. It follows the
// durable event log — no gap, no duplicate — with a bounded buffer per watcher; beyond
// `max_watchers` concurrent watchers a new one gets RESOURCE_EXHAUSTED at once.
#pragma once

#include <cstdint>

#include "libs/interceptor/handler_pool.h"
#include "libs/interceptor/unary_methods.h"
#include "libs/interceptor/waiting_bound.h"
#include "libs/streams/delivery_thread.h"
#include "libs/streams/stream_slots.h"
#include "services/user/user_store.h"
#include "services/user/watch_users.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::user {

// The unary methods raw on the async API, their requests parsed by interceptor::UnaryMethods
// (libs/interceptor/unary_methods.h says why); WatchUsers on the callback API, raw too: its
// reactor parses the request itself, after the chain has started, so a request that does not
// parse is answered INVALID_ARGUMENT naming why, and counted and logged like any call (gRPC
// answers one it cannot parse UNIMPLEMENTED, before any handler or chain runs).
using UserServiceBase =
    ::user::v1::UserService::WithRawMethod_GetUser<::user::v1::UserService::WithRawMethod_ListUsers<
        ::user::v1::UserService::WithRawMethod_CreateUser<
            ::user::v1::UserService::WithRawMethod_UpdateUser<
                ::user::v1::UserService::WithRawMethod_DeleteUser<
                    ::user::v1::UserService::WithRawCallbackMethod_WatchUsers<
                        ::user::v1::UserService::Service>>>>>>;

class UserServiceImpl final : public UserServiceBase,
                              public interceptor::ServesUnaryMethods,
                              public interceptor::DrivesChain {
 public:
  // `store` and `fanout` must outlive the service; the fanout is fed by the store's listener.
  // Beyond `max_writes_waiting` writes (creates, updates and deletes together) waiting for
  // their commit, a write is refused at once with RESOURCE_EXHAUSTED (interceptor::kOverloaded),
  // having written nothing.
  UserServiceImpl(UserStore& store, UserEventFanout& fanout, WatchOptions options = {},
                  int max_writes_waiting = interceptor::kMaxWritesWaiting);

  interceptor::UnaryMethods& unary_methods() override { return unary_; }
  // Writes admitted and not yet answered: for tests.
  int WritesWaitingForTesting() const { return writes_.Waiting(); }
  // WatchUsers runs the server's chain itself, with every write it starts.
  std::vector<std::string> ChainDrivenMethods() const override { return {WatchUsersPath()}; }
  void UseChain(std::shared_ptr<const interceptor::ServerChain> chain) override {
    chain_ = std::move(chain);
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchUsers(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request) override;

 private:
  interceptor::WaitingBound writes_;  // admitted writes whose commit has not answered
  UserStore& store_;
  UserEventFanout& fanout_;
  const WatchOptions options_;
  std::shared_ptr<const interceptor::ServerChain> chain_;  // set before the server starts
  streams::StreamSlots watchers_;  // open WatchUsers streams, against options_.max_watchers
  // Runs the watchers' deliveries. Destroyed right after wakes_, running what is still posted
  // (each task may hold the last reference to a reactor).
  streams::DeliveryThread delivery_;
  // Publishing wakes idle watchers on delivery_, not on the committing writer's thread; its
  // thread wakes, every options_.overflow_check, watchers stuck behind a client that stopped
  // reading.
  streams::WakesOnDeliveryThread<UserEventFanout> wakes_;

  interceptor::UnaryMethods unary_;  // GetUser inline unless it would wait, ListUsers on handlers_
  // Runs the handlers that wait. Declared last, so destroyed first, while everything its
  // tasks use is still there (by then the server has shut down and nothing is queued).
  interceptor::HandlerPool handlers_;

  // The handlers, whichever thread runs them.
  // std::nullopt when it would wait for a connection and may not (see AddInlineOrOnPool).
  std::optional<grpc::Status> Get(const ::user::v1::GetUserRequest& request,
                                  ::user::v1::GetUserResponse* response, bool may_wait);
  grpc::Status List(const ::user::v1::ListUsersRequest& request,
                    ::user::v1::ListUsersResponse* response);
  // The writes, answered from the store's commit thread once durable: no thread waits for them.
  void Create(const grpc::ServerContext& context, const ::user::v1::CreateUserRequest& request,
              interceptor::PendingAnswer<::user::v1::CreateUserResponse> answer);
  void Update(const grpc::ServerContext& context, const ::user::v1::UpdateUserRequest& request,
              interceptor::PendingAnswer<::user::v1::UpdateUserResponse> answer);
  void Delete(const grpc::ServerContext& context, const ::user::v1::DeleteUserRequest& request,
              interceptor::PendingAnswer<::user::v1::DeleteUserResponse> answer);
};

}  // namespace hermes::user
