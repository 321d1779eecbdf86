#include "services/order/user_directory.h"

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"

namespace hermes::order {
namespace {

// Whether the incoming call has ended: its caller cancelled it, or its deadline passed. gRPC
// passes a caller's cancel on to our call to the user service before it marks the incoming
// call (on the async API, until the service's queue thread has taken the call-ended
// notification), so after a CANCELLED from the user service the mark is given a moment.
bool CallerGone(const grpc::ServerContextBase& incoming, bool after_cancelled) {
  const absl::Time until =
      absl::Now() + (after_cancelled ? absl::Milliseconds(100) : absl::ZeroDuration());
  while (true) {
    if (incoming.IsCancelled() || incoming.deadline() <= std::chrono::system_clock::now()) {
      return true;
    }
    if (absl::Now() >= until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

}  // namespace

UserDirectory::UserDirectory(const UserDirectoryOptions& options,
                             const std::shared_ptr<interceptor::ClientChain>& chain,
                             prometheus::Registry& registry)
    : options_(options),
      stub_(::user::v1::UserService::NewStub(interceptor::CreateServiceChannel(
          {.target = options.target,
           .credentials = options.credentials,
           .service = ::user::v1::UserService::service_full_name(),
           // Tries to reconnect twice or so per cool-down (gRPC adds up to 20 % jitter), so a
           // probe soon finds the channel connected again, instead of waiting out gRPC's
           // default backoff (up to 120 s after a long outage).
           .max_reconnect_backoff = options.breaker.cooldown / 2},
          chain))),
      breaker_(::user::v1::UserService::service_full_name(), options.breaker, registry) {}

struct UserDirectory::Check {
  Check(const grpc::ServerContextBase& incoming_call, CircuitBreaker::Permit breaker_permit,
        std::function<void(absl::Status)> answer_to)
      : incoming(incoming_call), done(std::move(answer_to)), permit(std::move(breaker_permit)) {}

  const grpc::ServerContextBase& incoming;
  std::function<void(absl::Status)> done;
  // After `done`, so destroyed before it: a `done` dropped unrun (an exception) answers the call,
  // after which a shutdown may destroy the directory that this permit reports to.
  CircuitBreaker::Permit permit;
  std::unique_ptr<grpc::ClientContext> context;
  ::user::v1::GetUserRequest request;
  ::user::v1::GetUserResponse response;
  absl::Time start;
  absl::Duration waited;  // for the user service's answer
};

void UserDirectory::CheckCanOrder(const grpc::ServerContextBase& incoming,
                                  const std::string& user_id, interceptor::HandlerPool& pool,
                                  std::function<void(absl::Status)> done) {
  // The check's place among those waiting: given back here unless the check goes out (refused,
  // or an exception on the way), else by its callback.
  const bool placed =
      waiting_checks_.fetch_add(1, std::memory_order_relaxed) < options_.max_waiting_checks;
  absl::Cleanup give_back = [this] { waiting_checks_.fetch_sub(1, std::memory_order_relaxed); };
  if (!placed) {
    done(absl::ResourceExhaustedError(kTooManyChecks));
    return;
  }
  std::optional<CircuitBreaker::Permit> permit = breaker_.Allow();
  if (!permit.has_value()) {
    done(absl::UnavailableError(
        "the user service keeps failing; not asking it for a moment (circuit open), retry later"));
    return;
  }
  auto check = std::make_shared<Check>(incoming, *std::move(permit), std::move(done));
  check->context = interceptor::OutgoingContext(incoming, options_.max_deadline);
  check->request.set_id(user_id);
  check->start = absl::Now();
  ::user::v1::GetUserRequest* request = &check->request;
  ::user::v1::GetUserResponse* response = &check->response;
  grpc::ClientContext* context = check->context.get();
  // On gRPC's callback thread, which must not wait (it runs other calls' callbacks): the answer
  // is read on the pool. (gRPC may hold a copy of this callback, and so `check`, a moment after
  // it ran: harmless, the call is over by then.)
  stub_->async()->GetUser(
      context, request, response,
      [this, &pool, check = std::move(check)](grpc::Status status) mutable {
        check->waited = absl::Now() - check->start;
        waiting_checks_.fetch_sub(1, std::memory_order_relaxed);
        pool.Post([this, check = std::move(check), status = std::move(status)] {
          try {
            check->done(Read(*check, status));
          } catch (...) {  // not on the pool's thread (done's own answer says what happened)
          }
        });
      });
  std::move(give_back).Cancel();  // the callback gives it back
}

absl::Status UserDirectory::Read(Check& check, const grpc::Status& status) {
  CircuitBreaker::Permit& permit = check.permit;
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      permit.Succeeded();
      if (check.response.user().status() != ::user::v1::USER_STATUS_ACTIVE) {
        return errors::FailedPrecondition(
            "user_id",
            absl::StrCat("the user is not ACTIVE (it is ",
                         ::user::v1::UserStatus_Name(check.response.user().status()), ")"));
      }
      return absl::OkStatus();
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::INVALID_ARGUMENT:
      permit.Succeeded();
      return errors::NotFound("user_id", "no user has this id");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED: {
      // Our cap running out is the user service's failure. But the caller's own deadline or
      // cancel ends our call too, as DEADLINE_EXCEEDED or CANCELLED (CallerGone): that says
      // nothing about the user service, unless the check had waited `slow_call` without an
      // answer. A user service that hangs would otherwise never open the breaker for callers
      // whose deadlines are under the cap.
      const bool caller_gone =
          CallerGone(check.incoming, status.error_code() == grpc::StatusCode::CANCELLED);
      const bool cap_ran_out =
          status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !caller_gone;
      if (cap_ran_out || check.waited >= options_.slow_call) {
        permit.Failed();
      } else {
        permit.Neutral();
      }
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return absl::DeadlineExceededError(caller_gone
                                               ? "the deadline passed while checking the user"
                                               : "the user service did not answer in time");
      }
      if (caller_gone) return absl::CancelledError("the call was cancelled");
      // Cancelled on the user service's side (it shut down, a proxy reset the stream): the
      // caller did not cancel, and must not be told it did.
      return absl::UnavailableError("the user service cancelled the check (Canceled); retry later");
    }
    default:
      // UNAVAILABLE, and anything that means we cannot ask (refused, misconfigured): the
      // dependency is the problem, not the order.
      permit.Failed();
      return absl::UnavailableError(absl::StrCat("the user service is unavailable (",
                                                 errors::GoCodeName(status.error_code()),
                                                 "); retry later"));
  }
}

}  // namespace hermes::order
