// UserServices for chain tests: GetUser does what each test says (by default it echoes the
// id); WatchUsers sends three events. ScriptedUserService runs GetUser on the sync API;
// ScriptedCallbackUserService on the callback API, answered inline (AnswerInline) or, given a
// HandlerPool, on the pool (AnswerOn), as the services answer their methods. The chain must
// treat them all alike.
#pragma once

#include <functional>

#include "libs/interceptor/unary_answer.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {

using GetUserFn = std::function<grpc::Status(
    grpc::ServerContextBase*, const ::user::v1::GetUserRequest&, ::user::v1::GetUserResponse*)>;

inline grpc::Status EchoId(grpc::ServerContextBase*, const ::user::v1::GetUserRequest& request,
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

class ScriptedCallbackUserService final
    : public ::user::v1::UserService::WithCallbackMethod_GetUser<::user::v1::UserService::Service> {
 public:
  GetUserFn get_user = EchoId;
  interceptor::HandlerPool* pool = nullptr;  // null: answered inline

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const ::user::v1::GetUserRequest* request,
                                    ::user::v1::GetUserResponse* response) override {
    auto handler = [this, context, request, response] {
      return get_user(context, *request, response);
    };
    if (pool != nullptr) return interceptor::AnswerOn(*pool, context, handler);
    return interceptor::AnswerInline(context, handler);
  }
  grpc::Status WatchUsers(grpc::ServerContext*, const ::user::v1::WatchUsersRequest*,
                          grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer) override {
    WriteThreeEvents(writer);
    return grpc::Status::OK;
  }
};

}  // namespace hermes::testing
