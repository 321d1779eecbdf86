// UserServices for chain tests: GetUser does what each test says (by default it echoes the
// id); WatchUsers sends three events. ScriptedUserService runs GetUser on the sync API;
// ScriptedAsyncUserService on the async API (interceptor::UnaryMethods), answered on its
// queue's thread or, given a HandlerPool, on the pool (or on the first unless that would wait,
// given get_user_or_decline too; or answered later, from another thread, given get_user_later or
// answer_later), as the services answer their methods.
// The chain must treat them all alike.
#pragma once

#include <functional>
#include <optional>
#include <utility>

#include "libs/interceptor/unary_methods.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {

using GetUserFn =
    std::function<grpc::Status(const grpc::ServerContextBase*, const ::user::v1::GetUserRequest&,
                               ::user::v1::GetUserResponse*)>;
// A GetUser for UnaryMethods::AddInlineOrOnPool: std::nullopt declines (it would wait) while
// `may_wait` is false.
using GetUserOrDeclineFn = std::function<std::optional<grpc::Status>(
    const grpc::ServerContextBase*, const ::user::v1::GetUserRequest&, ::user::v1::GetUserResponse*,
    bool may_wait)>;
// A GetUser for UnaryMethods::AddOnPoolAnsweringLater.
using GetUserLaterFn =
    std::function<void(const grpc::ServerContextBase*, const ::user::v1::GetUserRequest&,
                       interceptor::PendingAnswer<::user::v1::GetUserResponse>)>;

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
  // Set, with a pool: GetUser is added with AddInlineOrOnPool and answered by this instead.
  GetUserOrDeclineFn get_user_or_decline;
  // Set, with a pool: GetUser is added with AddOnPoolAnsweringLater, and answered by this
  // (which may keep the answer and send it later, from any thread).
  GetUserLaterFn get_user_later;
  // With a pool and neither function above: GetUser is added with AddOnPoolAnsweringLater,
  // runs get_user on the pool, and its answer is sent from another thread (answered_later_),
  // after the handler has returned.
  bool answer_later = false;

  // GrpcServer asks for it when the service is registered: `pool` and the functions' being set
  // are read then.
  interceptor::UnaryMethods& unary_methods() override {
    if (!added_) {
      added_ = true;
      auto ask = [this](auto... call) { RequestGetUser(call...); };
      auto handler = [this](const grpc::ServerContext& context,
                            const ::user::v1::GetUserRequest& request,
                            ::user::v1::GetUserResponse* response) {
        return get_user(&context, request, response);
      };
      if (pool != nullptr && (get_user_later || answer_later)) {
        methods_.AddOnPoolAnsweringLater<::user::v1::GetUserRequest, ::user::v1::GetUserResponse>(
            *pool, ask,
            [this](const grpc::ServerContext& context, const ::user::v1::GetUserRequest& request,
                   interceptor::PendingAnswer<::user::v1::GetUserResponse> answer) {
              if (get_user_later) return get_user_later(&context, request, std::move(answer));
              const grpc::Status status = get_user(&context, request, answer.response());
              answered_later_.Post([answer, status] { answer.Send(status); });
            });
      } else if (pool != nullptr && get_user_or_decline) {
        methods_.AddInlineOrOnPool<::user::v1::GetUserRequest, ::user::v1::GetUserResponse>(
            *pool, ask,
            [this](const grpc::ServerContext& context, const ::user::v1::GetUserRequest& request,
                   ::user::v1::GetUserResponse* response, bool may_wait) {
              return get_user_or_decline(&context, request, response, may_wait);
            });
      } else if (pool != nullptr) {
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
  interceptor::HandlerPool answered_later_{1};  // where answer_later's answers are sent from
};

}  // namespace hermes::testing
