// UserDirectory between two real in-process servers, as CreateOrder uses it: an upstream whose
// GetUser asks the directory (on behalf of its caller, with the caller's deadline, on a
// HandlerPool of the async API as CreateOrder runs), and a scripted user service behind it. What a
// failure of the user service is, for the breaker, and what the caller is told.
#include "services/order/user_directory.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"
#include "libs/runtime/grpc_server.h"
#include "tests/support/http.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"

namespace hermes::order {
namespace {

using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::ScriptedAsyncUserService;
using ::hermes::testing::ScriptedUserService;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::TestChannel;
using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;

constexpr int kThreshold = 3;

class UserDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_service_ = Start(&user_);
    directory_ = std::make_unique<UserDirectory>(
        UserDirectoryOptions{
            .target = LoopbackAddress(user_service_->port()),
            .credentials = grpc::InsecureChannelCredentials(),
            // Far beyond any test's wait: a check here ends by its caller's deadline or cancel.
            .max_deadline = absl::Seconds(30),
            .breaker = {.failure_threshold = kThreshold, .cooldown = absl::Seconds(60)}},
        std::make_shared<interceptor::ClientChain>(registry_, nullptr), registry_);
    // The order service's side: CreateOrder's user check, for its caller.
    caller_side_.get_user_later = [this](const grpc::ServerContextBase* context,
                                         const GetUserRequest& request,
                                         interceptor::PendingAnswer<GetUserResponse> answer) {
      directory_->CheckCanOrder(*context, request.id(), pool_, [this, answer](absl::Status user) {
        const grpc::Status status = errors::ToGrpcStatus(user);
        {
          absl::MutexLock lock(&mu_);
          answered_.push_back(status);
        }
        answer.Send(status);
      });
    };
    caller_side_.pool = &pool_;
    order_service_ = Start(&caller_side_);
    stub_ = ::user::v1::UserService::NewStub(TestChannel(LoopbackAddress(order_service_->port())));
  }

  static std::unique_ptr<runtime::GrpcServer> Start(grpc::Service* service) {
    return StartLoopbackServer(service, "user.v1.UserService");
  }

  // A CreateOrder-like call by a caller allowing `deadline`.
  grpc::Status Check(absl::Duration deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    GetUserRequest request;
    request.set_id("u1");
    GetUserResponse response;
    return stub_->GetUser(&context, request, &response);
  }

  // The user service hangs: it answers only when the call is cancelled (10 s at most). It
  // counts the checks that reached it, and those that have left.
  void Hang() {
    user_.get_user = [this](const grpc::ServerContextBase* context, const GetUserRequest&,
                            GetUserResponse*) {
      reached_.fetch_add(1);
      const absl::Time until = absl::Now() + absl::Seconds(10);
      while (!context->IsCancelled() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
      left_.fetch_add(1);
      return grpc::Status::OK;
    };
  }
  // Waits (10 s at most) until `n` checks have reached the user service.
  bool WaitUntilReached(int n) {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (reached_.load() < n && absl::Now() < until) absl::SleepFor(absl::Milliseconds(2));
    return reached_.load() >= n;
  }

  // `n` CreateOrder-like calls in the background, with 10 s to spare, until CancelBackground.
  void StartBackground(int n) {
    for (int i = 0; i < n; ++i) {
      auto context = std::make_unique<grpc::ClientContext>();
      context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      grpc::ClientContext* raw = context.get();
      background_contexts_.push_back(std::move(context));
      background_.emplace_back([this, raw] {
        GetUserRequest request;
        request.set_id("u1");
        GetUserResponse response;
        stub_->GetUser(raw, request, &response);
      });
    }
  }
  void CancelBackground() {
    for (const auto& context : background_contexts_) context->TryCancel();
    for (std::thread& call : background_) call.join();
    background_.clear();
    background_contexts_.clear();
  }
  void TearDown() override { CancelBackground(); }
  // Waits (5 s at most) until hermes_circuit_breaker_state is `state` (1: open).
  bool WaitForBreakerState(double state) {
    const absl::Time until = absl::Now() + absl::Seconds(5);
    while (absl::Now() < until) {
      if (testing::MetricValue(prometheus::TextSerializer().Serialize(registry_.Collect()),
                               "hermes_circuit_breaker_state", {}) == state) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  // Once every hanging call has left (10 s at most): the function they run is replaced.
  void AnswerActive() {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (left_.load() < reached_.load() && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    ASSERT_EQ(left_.load(), reached_.load()) << "hanging calls still running";
    user_.get_user = [](const grpc::ServerContextBase*, const GetUserRequest& request,
                        GetUserResponse* response) {
      response->mutable_user()->set_id(request.id());
      response->mutable_user()->set_status(::user::v1::USER_STATUS_ACTIVE);
      return grpc::Status::OK;
    };
  }

  // What the caller's side answered, in order (a caller that cancelled does not hear it),
  // once it has answered `index` + 1 checks (10 s at most).
  std::optional<grpc::Status> Answered(size_t index) {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    absl::MutexLock lock(&mu_);
    auto enough = [this, index]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answered_.size() > index; };
    mu_.AwaitWithDeadline(absl::Condition(&enough), until);
    if (answered_.size() <= index) return std::nullopt;
    return answered_[index];
  }

  prometheus::Registry registry_;
  ScriptedUserService user_;
  interceptor::HandlerPool pool_{4};
  ScriptedAsyncUserService caller_side_;
  absl::Mutex mu_;
  std::vector<grpc::Status> answered_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<runtime::GrpcServer> user_service_;
  std::unique_ptr<UserDirectory> directory_;
  std::unique_ptr<runtime::GrpcServer> order_service_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  std::atomic<int> reached_{0};
  std::atomic<int> left_{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> background_contexts_;
  std::vector<std::thread> background_;
};

// A check holds no thread of the pool while the user service answers: with the caller side's
// pool of 4 threads, 12 checks of a hanging user service are out at once. Each is answered
// CANCELLED when its caller cancels.
TEST_F(UserDirectoryTest, HangingUserService_ChecksHoldNoPoolThread) {
  Hang();
  StartBackground(12);
  EXPECT_TRUE(WaitUntilReached(12)) << reached_.load() << " checks reached the user service";
  CancelBackground();
  ASSERT_TRUE(Answered(11).has_value()) << "not every check ended";
  for (size_t i = 0; i < 12; ++i) {
    const grpc::Status status = *Answered(i);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
  }
}

// Beyond max_waiting_checks waiting at once, a check is refused at once, without asking (and
// without counting against the user service: the breaker stays closed).
TEST_F(UserDirectoryTest, TooManyChecksWaiting_RefusedAtOnce_ResourceExhausted) {
  directory_ = std::make_unique<UserDirectory>(
      UserDirectoryOptions{
          .target = LoopbackAddress(user_service_->port()),
          .credentials = grpc::InsecureChannelCredentials(),
          .max_deadline = absl::Seconds(30),
          // The two cancelled below may count as failures (each waited 500 ms or more on a slow
          // machine); a third, the refused one's, would open it.
          .breaker = {.failure_threshold = kThreshold, .cooldown = absl::Seconds(60)},
          .max_waiting_checks = 2},
      std::make_shared<interceptor::ClientChain>(registry_, nullptr), registry_);
  Hang();
  StartBackground(2);
  ASSERT_TRUE(WaitUntilReached(2));
  const absl::Time start = absl::Now();
  const grpc::Status refused = Check(absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_EQ(refused.error_message(), kTooManyChecks);
  EXPECT_EQ(reached_.load(), 2) << "the refused check was asked anyway";
  CancelBackground();  // the callers' cancels
  // Both checks have ended, and given their places back, before the next one.
  ASSERT_TRUE(Answered(2).has_value()) << "the cancelled checks did not end";
  AnswerActive();
  const grpc::Status status = Check(absl::Seconds(5));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

// A user service that hangs opens the breaker even for callers whose deadlines (700 ms) are
// under the cap (30 s here): each check waited more than slow_call (500 ms) for nothing.
TEST_F(UserDirectoryTest, HangingUserService_CallersUnderTheCap_OpenTheBreaker) {
  Hang();
  for (int i = 0; i < kThreshold; ++i) {
    EXPECT_EQ(Check(absl::Milliseconds(700)).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // The caller hears of its deadline at once; the check records its outcome just after.
  EXPECT_TRUE(WaitForBreakerState(1)) << "the breaker did not open";
  AnswerActive();  // the breaker does not ask it any more
  const grpc::Status refused = Check(absl::Seconds(5));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(refused.error_message().find("circuit open"), std::string::npos)
      << refused.error_message();
}

// Tight deadlines (100 ms) that run out say nothing about the user service: the breaker stays
// closed however many there are.
TEST_F(UserDirectoryTest, TightCallerDeadlines_SayNothing_TheBreakerStaysClosed) {
  Hang();
  for (int i = 0; i < 2 * kThreshold; ++i) {
    EXPECT_EQ(Check(absl::Milliseconds(100)).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  AnswerActive();
  const grpc::Status status = Check(absl::Seconds(5));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

// The user service cancelling the check on its side (shutting down, say) is not the caller's
// cancel: the caller is told the user service is unavailable.
TEST_F(UserDirectoryTest, CancelledOnTheUserServiceSide_Unavailable) {
  user_.get_user = [](const grpc::ServerContextBase*, const GetUserRequest&, GetUserResponse*) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "shutting down");
  };
  const grpc::Status status = Check(absl::Seconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find("cancelled the check"), std::string::npos)
      << status.error_message();
}

// A caller that cancels while its user is being checked is not the user service's failure:
// gRPC cancels the check at once, before the incoming call is marked cancelled; the check must
// not answer "the user service cancelled the check" (an UNAVAILABLE on the server's metrics).
TEST_F(UserDirectoryTest, CallerCancelsDuringTheCheck_CancelledNotBlamedOnTheUserService) {
  absl::Notification checking;
  user_.get_user = [&checking](const grpc::ServerContextBase* context, const GetUserRequest&,
                               GetUserResponse*) {
    checking.Notify();
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (!context->IsCancelled() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
    return grpc::Status::OK;
  };
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  GetUserRequest request;
  request.set_id("u1");
  GetUserResponse response;
  std::thread caller([&] {
    EXPECT_EQ(stub_->GetUser(&context, request, &response).error_code(),
              grpc::StatusCode::CANCELLED);
  });
  ASSERT_TRUE(checking.WaitForNotificationWithTimeout(absl::Seconds(10)));
  context.TryCancel();
  caller.join();
  const std::optional<grpc::Status> answered = Answered(0);
  ASSERT_TRUE(answered.has_value()) << "the check did not end";
  EXPECT_EQ(answered->error_code(), grpc::StatusCode::CANCELLED) << answered->error_message();
}

}  // namespace
}  // namespace hermes::order
