// A UserService for chain tests: GetUser does what each test says (by default it echoes the
// id); WatchUsers sends three events.
#pragma once

#include <functional>

#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {

class ScriptedUserService final : public ::user::v1::UserService::Service {
 public:
  using GetUserFn = std::function<grpc::Status(
      grpc::ServerContext*, const ::user::v1::GetUserRequest&, ::user::v1::GetUserResponse*)>;

  GetUserFn get_user = [](grpc::ServerContext*, const ::user::v1::GetUserRequest& request,
                          ::user::v1::GetUserResponse* response) {
    response->mutable_user()->set_id(request.id());
    return grpc::Status::OK;
  };

  grpc::Status GetUser(grpc::ServerContext* context, const ::user::v1::GetUserRequest* request,
                       ::user::v1::GetUserResponse* response) override {
    return get_user(context, *request, response);
  }

  grpc::Status WatchUsers(grpc::ServerContext*, const ::user::v1::WatchUsersRequest*,
                          grpc::ServerWriter<::user::v1::WatchUsersResponse>* writer) override {
    for (int i = 1; i <= 3; ++i) {
      ::user::v1::WatchUsersResponse event;
      event.set_sequence(i);
      writer->Write(event);
    }
    return grpc::Status::OK;
  }
};

}  // namespace hermes::testing
