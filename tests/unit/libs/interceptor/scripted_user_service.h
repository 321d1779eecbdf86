// UserServices for chain tests: GetUser does what each test says (by default it echoes the
// id); WatchUsers sends three events. ScriptedUserService runs GetUser on the sync API;
// ScriptedAsyncUserService on the async API (interceptor::UnaryMethods), answered on its
// queue's thread or, given a HandlerPool, on the pool, as the services answer their methods.
// The chain must treat them all alike.
#pragma once

#include <functional>

#include "libs/interceptor/unary_methods.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {

using GetUserFn =
    std::function<grpc::Status(const grpc::ServerContextBase*, const ::user::v1::GetUserRequest&,
                               ::user::v1::GetUserResponse*)>;

inline grpc::Status EchoId(const grpc::ServerContextBase*,
                           const ::user::v1::GetUserRequest& request,
                           ::user::v1::GetUserResponse* response) {
  response->mutable_user()->set_id(request.id());
  return grpc::Status::OK;
}

inline void WriteThreeEvents(grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer) {
  for (int i = 1; i <= 3; ++i) {
    ::user::v1::WatchUsersResponse event;
    event.set_sequence(i);
    writer->Write(event);
  }
}

class ScriptedUserService final : public ::user::v1::UserService::Service {
 public:
  using GetUserFn = testing::GetUserFn;
  GetUserFn get_user = EchoId;

  grpc::Status GetUser(grpc::ServerContext* context, const ::user::v1::GetUserRequest* request,
                       ::user::v1::GetUserResponse* response) override {
    return get_user(context, *request, response);
  }
  grpc::Status WatchUsers(grpc::ServerContext*, const ::user::v1::WatchUsersRequest*,
                          grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer) override {
    WriteThreeEvents(writer);
    return grpc::Status::OK;
  }
};

class ScriptedAsyncUserService final
    : public ::user::v1::UserService::WithRawMethod_GetUser<::user::v1::UserService::Service>,
      public interceptor::ServesUnaryMethods {
 public:
  GetUserFn get_user = EchoId;
  interceptor::HandlerPool* pool = nullptr;  // null: answered on the queue's thread

  // GrpcServer asks for it when the service is registered: `pool` is read then.
  interceptor::UnaryMethods& unary_methods() override {
    if (!added_) {
      added_ = true;
      auto ask = [this](auto... call) { RequestGetUser(call...); };
      auto handler = [this](const grpc::ServerContext& context,
                            const ::user::v1::GetUserRequest& request,
                            ::user::v1::GetUserResponse* response) {
        return get_user(&context, request, response);
      };
      if (pool != nullptr) {
        methods_.AddOnPool<::user::v1::GetUserRequest, ::user::v1::GetUserResponse>(*pool, ask,
                                                                                    handler);
      } else {
        methods_.AddInline<::user::v1::GetUserRequest, ::user::v1::GetUserResponse>(ask, handler);
      }
    }
    return methods_;
  }
  grpc::Status WatchUsers(grpc::ServerContext*, const ::user::v1::WatchUsersRequest*,
                          grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer) override {
    WriteThreeEvents(writer);
    return grpc::Status::OK;
  }

 private:
  interceptor::UnaryMethods methods_;
  bool added_ = false;
};

}  // namespace hermes::testing
