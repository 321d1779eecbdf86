#include "services/user/user_service.h"

#include "libs/api/release_request.h"
#include "libs/errors/app_error.h"
#include "services/user/user_proto.h"
#include "services/user/user_validation.h"

namespace hermes::user {

using ::user::v1::CreateUserRequest;
using ::user::v1::CreateUserResponse;
using ::user::v1::DeleteUserRequest;
using ::user::v1::DeleteUserResponse;
using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;
using ::user::v1::ListUsersRequest;
using ::user::v1::ListUsersResponse;
using ::user::v1::UpdateUserRequest;
using ::user::v1::UpdateUserResponse;

UserServiceImpl::UserServiceImpl(UserStore& store, UserEventFanout& fanout, WatchOptions options,
                                 int max_writes_waiting)
    : writes_(max_writes_waiting),
      store_(store),
      fanout_(fanout),
      options_(options),
      watchers_(options.max_watchers),
      wakes_(fanout, delivery_, options_.overflow_check) {
  unary_.AddInlineOrOnPool<GetUserRequest, GetUserResponse>(
      handlers_, [this](auto... call) { RequestGetUser(call...); },
      [this](const grpc::ServerContext&, const GetUserRequest& request, GetUserResponse* response,
             bool may_wait) { return Get(request, response, may_wait); });
  unary_.AddOnPool<ListUsersRequest, ListUsersResponse>(
      handlers_, [this](auto... call) { RequestListUsers(call...); },
      [this](const grpc::ServerContext&, const ListUsersRequest& request,
             ListUsersResponse* response) { return List(request, response); });
  unary_.AddInlineAnsweringLater<CreateUserRequest, CreateUserResponse>(
      [this](auto... call) { RequestCreateUser(call...); },
      [this](const grpc::ServerContext& context, const CreateUserRequest& request,
             interceptor::PendingAnswer<CreateUserResponse> answer) {
        Create(context, request, std::move(answer));
      });
  unary_.AddInlineAnsweringLater<UpdateUserRequest, UpdateUserResponse>(
      [this](auto... call) { RequestUpdateUser(call...); },
      [this](const grpc::ServerContext& context, const UpdateUserRequest& request,
             interceptor::PendingAnswer<UpdateUserResponse> answer) {
        Update(context, request, std::move(answer));
      });
  unary_.AddInlineAnsweringLater<DeleteUserRequest, DeleteUserResponse>(
      [this](auto... call) { RequestDeleteUser(call...); },
      [this](const grpc::ServerContext& context, const DeleteUserRequest& request,
             interceptor::PendingAnswer<DeleteUserResponse> answer) {
        Delete(context, request, std::move(answer));
      });
}

std::optional<grpc::Status> UserServiceImpl::Get(const ::user::v1::GetUserRequest& request,
                                                 ::user::v1::GetUserResponse* response,
                                                 bool may_wait) {
  if (absl::Status status = ValidateId(request.id()); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  std::optional<absl::StatusOr<User>> user =
      may_wait ? store_.Get(request.id()) : store_.TryGet(request.id());
  if (!user.has_value()) return std::nullopt;
  if (!user->ok()) return errors::ToGrpcStatus(user->status());
  ToProto(**user, response->mutable_user());
  return grpc::Status::OK;
}

grpc::Status UserServiceImpl::List(const ::user::v1::ListUsersRequest& request,
                                   ::user::v1::ListUsersResponse* response) {
  api::Page page;
  absl::StatusOr<ListUsersQuery> query = ValidateList(request, &page);
  if (!query.ok()) return errors::ToGrpcStatus(query.status());
  absl::StatusOr<UserPage> result = store_.List(*query);
  if (!result.ok()) return errors::ToGrpcStatus(result.status());
  for (const User& user : result->users) ToProto(user, response->add_users());
  *response->mutable_page() = api::PageResponseFor(page, result->total);
  return grpc::Status::OK;
}

namespace {

using Place = std::shared_ptr<interceptor::WaitingBound::Place>;

using interceptor::CallerGone;

// Answers a write that returns the user: OK with it, or the store's error; its place is given
// back first.
template <typename Response>
UserStore::UserDone AnswerWithUser(interceptor::PendingAnswer<Response> answer, Place place) {
  return [answer = std::move(answer), place = std::move(place)](absl::StatusOr<User> user) {
    place->Release();
    if (!user.ok()) return answer.Send(errors::ToGrpcStatus(user.status()));
    ToProto(*user, answer.response()->mutable_user());
    answer.Send(grpc::Status::OK);
  };
}

}  // namespace

void UserServiceImpl::Create(const grpc::ServerContext& context,
                             const ::user::v1::CreateUserRequest& request,
                             interceptor::PendingAnswer<::user::v1::CreateUserResponse> answer) {
  absl::StatusOr<NewUser> user = ValidateCreate(request);
  if (!user.ok()) return answer.Send(errors::ToGrpcStatus(user.status()));
  Place place = writes_.Admit();
  if (place == nullptr) return answer.Send(interceptor::WaitingBound::Overloaded());
  store_.CreateThen(*user, CallerGone(context), AnswerWithUser(std::move(answer), place));
}

void UserServiceImpl::Update(const grpc::ServerContext& context,
                             const ::user::v1::UpdateUserRequest& request,
                             interceptor::PendingAnswer<::user::v1::UpdateUserResponse> answer) {
  absl::StatusOr<UserUpdate> update = ValidateUpdate(request);
  if (!update.ok()) return answer.Send(errors::ToGrpcStatus(update.status()));
  Place place = writes_.Admit();
  if (place == nullptr) return answer.Send(interceptor::WaitingBound::Overloaded());
  store_.UpdateThen(*update, CallerGone(context), AnswerWithUser(std::move(answer), place));
}

void UserServiceImpl::Delete(const grpc::ServerContext& context,
                             const ::user::v1::DeleteUserRequest& request,
                             interceptor::PendingAnswer<::user::v1::DeleteUserResponse> answer) {
  if (absl::Status status = ValidateId(request.id()); !status.ok()) {
    return answer.Send(errors::ToGrpcStatus(status));
  }
  Place place = writes_.Admit();
  if (place == nullptr) return answer.Send(interceptor::WaitingBound::Overloaded());
  store_.DeleteThen(request.id(), CallerGone(context),
                    [answer = std::move(answer), place](absl::Status status) {
                      place->Release();
                      answer.Send(errors::ToGrpcStatus(status));
                    });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* UserServiceImpl::WatchUsers(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  WatchUsersReactor* reactor = WatchUsersReactor::Start(store_, fanout_, delivery_, options_,
                                                        watchers_, context, *request, chain_);
  // Start read what it needs; gRPC would keep the request's bytes (up to the message limit)
  // until the stream ends. (The reactor is not yet gRPC's: the call cannot end before this
  // returns.)
  api::ReleaseRequest(request);
  return reactor;
}

}  // namespace hermes::user
