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
                                 int max_creates_waiting)
    : max_creates_waiting_(max_creates_waiting),
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
  unary_.AddOnPool<UpdateUserRequest, UpdateUserResponse>(
      handlers_, [this](auto... call) { RequestUpdateUser(call...); },
      [this](const grpc::ServerContext&, const UpdateUserRequest& request,
             UpdateUserResponse* response) { return Update(request, response); });
  unary_.AddOnPool<DeleteUserRequest, DeleteUserResponse>(
      handlers_, [this](auto... call) { RequestDeleteUser(call...); },
      [this](const grpc::ServerContext&, const DeleteUserRequest& request, DeleteUserResponse*) {
        return Delete(request);
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

void UserServiceImpl::Create(const grpc::ServerContext& context,
                             const ::user::v1::CreateUserRequest& request,
                             interceptor::PendingAnswer<::user::v1::CreateUserResponse> answer) {
  absl::StatusOr<NewUser> user = ValidateCreate(request);
  if (!user.ok()) return answer.Send(errors::ToGrpcStatus(user.status()));
  // Admitted as the pool admitted a create when it held one of its threads for the commit.
  if (creates_waiting_.fetch_add(1, std::memory_order_relaxed) >= max_creates_waiting_) {
    creates_waiting_.fetch_sub(1, std::memory_order_relaxed);
    return answer.Send(
        errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED, interceptor::kOverloaded));
  }
  // The place is given back when the last copy of the callback goes: after its answer, or
  // unrun if queuing the write failed (an exception).
  class Place {
   public:
    explicit Place(std::atomic<int>& waiting) : waiting_(waiting) {}
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() { waiting_.fetch_sub(1, std::memory_order_relaxed); }

   private:
    std::atomic<int>& waiting_;
  };
  auto place = std::make_shared<Place>(creates_waiting_);
  store_.CreateThen(
      *user,
      // Asked on the commit thread, before the answer (so while the context lives): a caller
      // that has gone while the create waited for its batch is not committed for.
      [&context] { return context.IsCancelled(); },
      [answer, place](absl::StatusOr<User> created) {
        if (!created.ok()) return answer.Send(errors::ToGrpcStatus(created.status()));
        ToProto(*created, answer.response()->mutable_user());
        answer.Send(grpc::Status::OK);
      });
}

grpc::Status UserServiceImpl::Update(const ::user::v1::UpdateUserRequest& request,
                                     ::user::v1::UpdateUserResponse* response) {
  absl::StatusOr<UserUpdate> update = ValidateUpdate(request);
  if (!update.ok()) return errors::ToGrpcStatus(update.status());
  absl::StatusOr<User> updated = store_.Update(*update);
  if (!updated.ok()) return errors::ToGrpcStatus(updated.status());
  ToProto(*updated, response->mutable_user());
  return grpc::Status::OK;
}

grpc::Status UserServiceImpl::Delete(const ::user::v1::DeleteUserRequest& request) {
  if (absl::Status status = ValidateId(request.id()); !status.ok()) {
    return errors::ToGrpcStatus(status);
  }
  return errors::ToGrpcStatus(store_.Delete(request.id()));
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
