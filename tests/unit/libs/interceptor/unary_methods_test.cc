// UnaryMethods over a real server (runtime::GrpcServer serves them on its queues): a call whose
// client gave up while it waited in the pool's queue is answered without running its handler
// (no commit nobody waits for), one that finds the queue full is refused at once, a handler
// sees its client go (IsCancelled); a request is parsed, a response serialized, a request that
// does not parse answered INVALID_ARGUMENT naming the field, an exception answered as gRPC
// answers one; a call running at shutdown gets its grace period, and is answered.
#include "libs/interceptor/unary_methods.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"
#include "libs/runtime/grpc_server.h"
#include "tests/support/loopback_server.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"

namespace hermes::interceptor {
namespace {

using ::hermes::testing::ScriptedAsyncUserService;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;
using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;

grpc::Status GetUser(::user::v1::UserService::Stub& stub, const std::string& id,
                     std::chrono::milliseconds timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  GetUserRequest request;
  request.set_id(id);
  GetUserResponse response;
  return stub.GetUser(&context, request, &response);
}

// GetUser answered on a pool: the call "blocker" holds one of the pool's threads until
// Unblock(); the calls of every other id are counted.
class OnPoolTest : public ::testing::Test {
 protected:
  void Serve(int threads, size_t max_waiting) {
    ServeWith(
        threads, max_waiting,
        [this](const grpc::ServerContextBase*, const GetUserRequest& request, GetUserResponse*) {
          if (request.id() == "blocker") {
            blocker_started_.Notify();
            release_blocker_.WaitForNotificationWithTimeout(absl::Seconds(10));
          } else {
            absl::MutexLock lock(&mu_);
            ++ran_[request.id()];
          }
          return grpc::Status::OK;
        });
  }
  // GetUser answered by `get_user` instead.
  void ServeWith(int threads, size_t max_waiting, testing::GetUserFn get_user) {
    pool_.emplace(threads, max_waiting);
    service_.pool = &*pool_;
    service_.get_user = std::move(get_user);
    server_ = StartLoopbackServer(&service_, "user.v1.UserService");
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }

  // A GetUser that its client cancels once `started` (the handler notifies it); returns, when
  // the client has its CANCELLED, whether the handler started.
  bool CallThenCancel(absl::Notification& started) {
    grpc::ClientContext context;
    std::thread caller([&] {
      GetUserRequest request;
      GetUserResponse response;
      EXPECT_EQ(stub_->GetUser(&context, request, &response).error_code(),
                grpc::StatusCode::CANCELLED);
    });
    const bool handler_started = started.WaitForNotificationWithTimeout(absl::Seconds(10));
    context.TryCancel();
    caller.join();
    return handler_started;
  }

  // Returns once the blocker's call holds a pool thread; the call must end OK unless
  // `may_be_cancelled`.
  void Block(bool may_be_cancelled = false) {
    blocker_ = std::thread([this, may_be_cancelled] {
      const grpc::Status status = GetUser(*stub_, "blocker", std::chrono::seconds(20));
      EXPECT_TRUE(status.ok() || may_be_cancelled) << status.error_message();
    });
    ASSERT_TRUE(blocker_started_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  void Unblock() {
    if (!release_blocker_.HasBeenNotified()) release_blocker_.Notify();
    if (blocker_.joinable()) blocker_.join();
  }
  void TearDown() override { Unblock(); }

  // Whether the server has been told, within 10 s, that `count` calls ended.
  bool AwaitEndsSeen(int64_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (service_.unary_methods().EndsSeenForTesting() < count && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    return service_.unary_methods().EndsSeenForTesting() >= count;
  }

  int Ran(const std::string& id) {
    absl::MutexLock lock(&mu_);
    return ran_[id];
  }

  std::optional<HandlerPool> pool_;  // outlives the server, which posts to it
  ScriptedAsyncUserService service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;

 private:
  absl::Notification blocker_started_;
  absl::Notification release_blocker_;
  std::thread blocker_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> ran_ ABSL_GUARDED_BY(mu_);
};

TEST_F(OnPoolTest, CallWhoseClientGaveUpWhileQueued_IsNotRun) {
  Serve(1, kDefaultMaxWaiting);  // one thread: the second call queues behind the first
  Block();
  // Queued behind the blocker, it runs out of time before the pool's only thread is free.
  EXPECT_EQ(GetUser(*stub_, "abandoned", std::chrono::milliseconds(200)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server enforces the same deadline, from when the request reached it, with a timer of
  // its own: the abandoned call's task must not run before the server knows.
  ASSERT_TRUE(AwaitEndsSeen(1));
  Unblock();
  // Posted after the abandoned call, so answered after its task has been taken off the queue.
  EXPECT_TRUE(GetUser(*stub_, "after", std::chrono::seconds(10)).ok());
  EXPECT_EQ(Ran("abandoned"), 0);
}

TEST_F(OnPoolTest, PoolQueueFull_AnsweredResourceExhaustedAtOnce_WithoutRunning) {
  Serve(1, 1);  // one thread, one call may wait for it
  Block();
  // The one place in the queue: this call waits behind the blocker, and is answered after it.
  std::thread waiting(
      [this] { EXPECT_TRUE(GetUser(*stub_, "waiting", std::chrono::seconds(20)).ok()); });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pool_->waiting() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(pool_->waiting(), 1u);  // (no ASSERT: the thread must be joined)
  const grpc::Status refused = GetUser(*stub_, "refused", std::chrono::seconds(5));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), kOverloaded);
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(refused);
  EXPECT_EQ(error.has_value() ? error->message() : "no AppError", kOverloaded);
  Unblock();
  waiting.join();
  // The pool has room again.
  EXPECT_TRUE(GetUser(*stub_, "after", std::chrono::seconds(10)).ok());
  EXPECT_EQ(Ran("waiting"), 1);
  EXPECT_EQ(Ran("refused"), 0);  // a refused call never runs, not even later
}

// A handler on the pool sees its call's client go: the order service's check of a user relies
// on it to tell the caller's cancel from the user service's failure.
TEST_F(OnPoolTest, HandlerSeesTheClientCancel) {
  absl::Notification started;
  std::atomic<bool> saw_cancel{false};
  ASSERT_NO_FATAL_FAILURE(ServeWith(
      2, kDefaultMaxWaiting,
      [&](const grpc::ServerContextBase* context, const GetUserRequest&, GetUserResponse*) {
        started.Notify();
        const absl::Time limit = absl::Now() + absl::Seconds(10);
        while (!context->IsCancelled() && absl::Now() < limit)
          absl::SleepFor(absl::Milliseconds(5));
        saw_cancel = context->IsCancelled();
        return grpc::Status::OK;
      }));
  ASSERT_TRUE(CallThenCancel(started));
  server_->Shutdown(absl::Seconds(10));  // returns once the handler has answered
  EXPECT_TRUE(saw_cancel);
}

// Shutdown returns only once a handler still running for a call whose client cancelled it has
// answered: gRPC's own Shutdown does not wait for such a call, and the queue its answer
// completes on must outlive it.
TEST_F(OnPoolTest, Shutdown_WaitsForAHandlerWhoseClientCancelled) {
  absl::Notification started;
  absl::Notification release;
  ASSERT_NO_FATAL_FAILURE(
      ServeWith(2, kDefaultMaxWaiting,
                [&](const grpc::ServerContextBase*, const GetUserRequest&, GetUserResponse*) {
                  started.Notify();
                  release.WaitForNotificationWithTimeout(absl::Seconds(10));
                  return grpc::Status::OK;
                }));
  ASSERT_TRUE(CallThenCancel(started));
  std::atomic<bool> returned{false};
  std::thread stopper([&] {
    server_->Shutdown(absl::ZeroDuration());
    returned = true;
  });
  // Nothing to await here: what is checked is that Shutdown does not return while the handler
  // runs. Without the wait it returns within milliseconds.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(returned);
  release.Notify();
  stopper.join();
  EXPECT_TRUE(returned);
}

// A call still waiting for a pool thread when the shutdown's grace runs out is answered without
// running (no commit for nobody); Shutdown returns once the running handler has answered.
TEST_F(OnPoolTest, CallQueuedWhenTheGraceRunsOut_AnsweredWithoutRunning) {
  Serve(1, kDefaultMaxWaiting);  // one thread: the second call queues behind the first
  Block(/*may_be_cancelled=*/true);
  std::thread queued(
      [this] { EXPECT_FALSE(GetUser(*stub_, "queued", std::chrono::seconds(20)).ok()); });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pool_->waiting() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(pool_->waiting(), 1u);  // (no ASSERT: the threads must be joined)
  std::thread stopper([this] { server_->Shutdown(absl::Milliseconds(100)); });
  queued.join();  // its call was cancelled when the grace ran out
  // The server learns it on its own, a moment after the client: once it knows both calls ended
  // (the blocker's too), the blocker's release frees the pool's thread for the queued task.
  EXPECT_TRUE(AwaitEndsSeen(2));  // (no ASSERT: the threads must be joined)
  Unblock();  // the pool's thread is free: the queued call's task runs, and answers
  stopper.join();
  EXPECT_EQ(Ran("queued"), 0);
}

// Shutdown gives a running call its grace period, and the client gets the handler's answer.
TEST_F(OnPoolTest, CallRunningAtShutdown_AnsweredWithinTheGrace) {
  Serve(2, kDefaultMaxWaiting);
  Block();
  std::thread stopper([this] { server_->Shutdown(absl::Seconds(20)); });
  // New calls are refused once the shutdown began (UNAVAILABLE; CANCELLED for one that reached
  // the server as it began: gRPC drops it unrun); the blocker is still running meanwhile.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status refused;
  do {
    refused = GetUser(*stub_, "late", std::chrono::seconds(5));
  } while (refused.ok() && absl::Now() < deadline);
  EXPECT_TRUE(refused.error_code() == grpc::StatusCode::UNAVAILABLE ||
              refused.error_code() == grpc::StatusCode::CANCELLED)
      << refused.error_code() << " " << refused.error_message();
  Unblock();  // the blocker's caller checks that it was answered OK
  stopper.join();
}

// How GetUser is added: AddInline, AddOnPool or AddInlineOrOnPool.
enum class Answered { kInline, kOnPool, kInlineOrOnPool, kOnPoolAnsweredLater };

// GetUser answered as the services answer theirs: found, missing or a throw, by id.
grpc::Status ScriptedGet(const grpc::ServerContextBase*, const GetUserRequest& request,
                         GetUserResponse* response) {
  if (request.id() == "throws") throw std::runtime_error("handler bug");
  if (request.id() == "missing") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no user");
  response->mutable_user()->set_id(request.id());
  response->mutable_user()->set_display_name("Found");
  return grpc::Status::OK;
}

// ScriptedGet as an AddInlineOrOnPool handler: it declines on the queue's thread for an id that
// starts with "slow" (as a read with no idle connection does) and always for "declines" (a
// bug), and says in the user's email where it answered.
std::optional<grpc::Status> ScriptedGetOrDecline(const grpc::ServerContextBase* context,
                                                 const GetUserRequest& request,
                                                 GetUserResponse* response, bool may_wait) {
  const bool would_wait = absl::StartsWith(request.id(), "slow");
  if (request.id() == "declines" || (would_wait && !may_wait)) return std::nullopt;
  const grpc::Status status = ScriptedGet(context, request, response);
  response->mutable_user()->set_email(may_wait ? "answered@pool" : "answered@queue");
  return status;
}

class RawMethodFixture : public ::testing::Test {
 protected:
  void Start(Answered how) {
    service_.get_user = ScriptedGet;
    if (how != Answered::kInline) service_.pool = &pool_;
    if (how == Answered::kInlineOrOnPool) service_.get_user_or_decline = ScriptedGetOrDecline;
    service_.answer_later = how == Answered::kOnPoolAnsweredLater;
    server_ = StartLoopbackServer(&service_, "user.v1.UserService");
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }

  grpc::Status Get(const std::string& id, GetUserResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    GetUserRequest request;
    request.set_id(id);
    return stub_->GetUser(&context, request, response);
  }

  // GetUser of `id` is answered UNKNOWN kHandlerThrew, and the server goes on answering.
  void ExpectAnsweredAsAHandlerThatThrows(const std::string& id) {
    GetUserResponse response;
    const grpc::Status status = Get(id, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
    EXPECT_EQ(status.error_message(), errors::kHandlerThrew);
    EXPECT_TRUE(Get("u-2", &response).ok());
  }

  HandlerPool pool_{2};  // outlives the server, which posts to it
  ScriptedAsyncUserService service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
};

class RawMethodTest : public RawMethodFixture, public ::testing::WithParamInterface<Answered> {
 protected:
  void SetUp() override { Start(GetParam()); }
};

TEST_P(RawMethodTest, Ok_ResponseSerialized_Error_AsTheHandlerSaid) {
  GetUserResponse response;
  ASSERT_TRUE(Get("u-1", &response).ok());
  EXPECT_EQ(response.user().id(), "u-1");
  EXPECT_EQ(response.user().display_name(), "Found");

  const grpc::Status status = Get("missing", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no user");
}

TEST_P(RawMethodTest, RequestNotValidUtf8_InvalidArgumentNamingTheField) {
  GetUserResponse response;
  const grpc::Status status = Get("caf\xC3", &response);  // the client serializes it regardless
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "id is not valid UTF-8");
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field(), "id");
}

// As gRPC's sync handlers answer it, so that the recovery stage makes it INTERNAL + AppError.
TEST_P(RawMethodTest, HandlerThrows_AnsweredUnknownHandlerThrew_ServerKeepsServing) {
  ExpectAnsweredAsAHandlerThatThrows("throws");
}

INSTANTIATE_TEST_SUITE_P(Answer, RawMethodTest,
                         ::testing::Values(Answered::kInline, Answered::kOnPool,
                                           Answered::kInlineOrOnPool,
                                           Answered::kOnPoolAnsweredLater),
                         [](const ::testing::TestParamInfo<Answered>& param) {
                           switch (param.param) {
                             case Answered::kInline:
                               return std::string("Inline");
                             case Answered::kOnPool:
                               return std::string("OnPool");
                             case Answered::kInlineOrOnPool:
                               return std::string("InlineOrOnPool");
                             case Answered::kOnPoolAnsweredLater:
                               return std::string("OnPoolAnsweredLater");
                           }
                           return std::string("Unknown");
                         });

class InlineOrOnPoolTest : public RawMethodFixture {
 protected:
  void SetUp() override { Start(Answered::kInlineOrOnPool); }
};

// What needs no wait is answered on the queue's thread; a call whose handler would wait there
// goes to the pool and is answered there, from its request, as if it had been added OnPool.
TEST_F(InlineOrOnPoolTest, AnsweredOnTheQueueUnlessItWouldWait_ThenOnThePool) {
  GetUserResponse response;
  ASSERT_TRUE(Get("u-1", &response).ok());
  EXPECT_EQ(response.user().email(), "answered@queue");
  response.Clear();
  ASSERT_TRUE(Get("slow-1", &response).ok());
  EXPECT_EQ(response.user().id(), "slow-1");
  EXPECT_EQ(response.user().display_name(), "Found");
  EXPECT_EQ(response.user().email(), "answered@pool");
}

// A handler that declines on the pool too (a bug: there it may wait) gets the answer of one
// that throws, which the recovery stage makes INTERNAL; nothing hangs.
TEST_F(InlineOrOnPoolTest, HandlerDeclinesOnThePoolToo_AnsweredAsAHandlerThatThrows) {
  ExpectAnsweredAsAHandlerThatThrows("declines");
}

// GetUser added with AddOnPoolAnsweringLater on the fixture's pool (two threads). The handler
// of "held" keeps its answer for the test to send; "dropped" lets it go unsent; "twice" sends
// NOT_FOUND, then OK; any other id is answered before the handler returns.
class AnsweredLaterTest : public RawMethodFixture {
 protected:
  void SetUp() override {
    service_.get_user_later = [this](const grpc::ServerContextBase*, const GetUserRequest& request,
                                     PendingAnswer<GetUserResponse> answer) {
      answer.response()->mutable_user()->set_id(request.id());
      if (request.id() == "held") {
        absl::MutexLock lock(&mu_);
        held_.push_back(std::move(answer));
        return;
      }
      if (request.id() == "dropped") return;
      if (request.id() == "twice") answer.Send(grpc::Status(grpc::StatusCode::NOT_FOUND, "no"));
      answer.Send(grpc::Status::OK);
    };
    Start(Answered::kOnPool);
  }
  void TearDown() override {
    // A held answer must be sent before the server can stop (it waits for every call).
    SendHeld(grpc::Status(grpc::StatusCode::ABORTED, "test ended"));
    server_.reset();
  }

  bool WaitUntilHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  void SendHeld(const grpc::Status& status) {
    std::vector<PendingAnswer<GetUserResponse>> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (const PendingAnswer<GetUserResponse>& answer : held) answer.Send(status);
  }

  absl::Mutex mu_;
  std::vector<PendingAnswer<GetUserResponse>> held_ ABSL_GUARDED_BY(mu_);
};

// While answers are pending, the pool's threads are free: with both calls of "held" pending,
// another call is answered meanwhile. The pending ones are answered, each with its response,
// when their answers are sent.
TEST_F(AnsweredLaterTest, PendingAnswersHoldNoPoolThread_SentLaterWithTheirResponses) {
  GetUserResponse held_responses[2];
  grpc::Status held_statuses[2];
  std::vector<std::thread> held_calls;
  for (int i = 0; i < 2; ++i) {
    held_calls.emplace_back([&, i] { held_statuses[i] = Get("held", &held_responses[i]); });
  }
  const bool held = WaitUntilHeld(2);

  GetUserResponse response;
  const grpc::Status other = held ? Get("u-1", &response) : grpc::Status::CANCELLED;
  SendHeld(grpc::Status::OK);
  for (std::thread& call : held_calls) call.join();
  ASSERT_TRUE(held) << "the two calls of \"held\" did not both reach the handler";
  EXPECT_TRUE(other.ok()) << other.error_code() << " " << other.error_message();
  EXPECT_EQ(response.user().id(), "u-1");
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(held_statuses[i].ok()) << held_statuses[i].error_message();
    EXPECT_EQ(held_responses[i].user().id(), "held");
  }
}

// An answer dropped unsent is a bug in the handler: the call is answered as one that throws
// (which the recovery stage makes INTERNAL) instead of waiting for good.
TEST_F(AnsweredLaterTest, AnswerDroppedUnsent_AnsweredAsAHandlerThatThrows) {
  ExpectAnsweredAsAHandlerThatThrows("dropped");
}

// The first answer sent is the call's; a second does nothing.
TEST_F(AnsweredLaterTest, SentTwice_TheFirstAnswerCounts) {
  GetUserResponse response;
  const grpc::Status status = Get("twice", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no");
  EXPECT_TRUE(Get("u-3", &response).ok());
}

}  // namespace
}  // namespace hermes::interceptor
