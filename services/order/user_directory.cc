#include "services/order/user_directory.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"

namespace hermes::order {

UserDirectory::UserDirectory(const UserDirectoryOptions& options,
                             const std::shared_ptr<interceptor::ClientChain>& chain,
                             prometheus::Registry& registry)
    : options_(options),
      stub_(::user::v1::UserService::NewStub(interceptor::CreateServiceChannel(
          {.target = options.target,
           .credentials = options.credentials,
           .service = ::user::v1::UserService::service_full_name()},
          chain))),
      breaker_(::user::v1::UserService::service_full_name(), options.breaker, registry) {}

absl::Status UserDirectory::CheckCanOrder(const grpc::ServerContextBase& incoming,
                                          const std::string& user_id) {
  if (!breaker_.Allow()) {
    return absl::UnavailableError(
        "the user service keeps failing; not asking it for a moment (circuit open), retry later");
  }
  std::unique_ptr<grpc::ClientContext> context =
      interceptor::OutgoingContext(incoming, options_.max_deadline);
  ::user::v1::GetUserRequest request;
  request.set_id(user_id);
  ::user::v1::GetUserResponse response;
  const grpc::Status status = stub_->GetUser(context.get(), request, &response);
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      breaker_.RecordSuccess();
      if (response.user().status() != ::user::v1::USER_STATUS_ACTIVE) {
        return errors::FailedPrecondition("user_id", "the user is not ACTIVE");
      }
      return absl::OkStatus();
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::INVALID_ARGUMENT:
      breaker_.RecordSuccess();
      return errors::NotFound("user_id", "no user has this id");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // Only our own cap running out says the user service is slow; the caller's tight
      // deadline says nothing about it.
      if (incoming.IsCancelled() || incoming.deadline() <= std::chrono::system_clock::now()) {
        breaker_.RecordNeutral();
        return absl::DeadlineExceededError("the deadline passed while checking the user");
      }
      breaker_.RecordFailure();
      return absl::DeadlineExceededError("the user service did not answer in time");
    case grpc::StatusCode::CANCELLED:
      breaker_.RecordNeutral();
      return absl::CancelledError("the call was cancelled");
    default:
      // UNAVAILABLE, and anything that means we cannot ask (refused, misconfigured): the
      // dependency is the problem, not the order.
      breaker_.RecordFailure();
      return absl::UnavailableError(absl::StrCat("the user service is unavailable (",
                                                 errors::GoCodeName(status.error_code()),
                                                 "); retry later"));
  }
}

}  // namespace hermes::order
