// AnswerOn over a real server: a call whose client gave up while it waited in the pool's queue
// is answered without running its handler (no commit nobody waits for).
#include "libs/interceptor/unary_answer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/runtime/grpc_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"

namespace hermes::interceptor {
namespace {

using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::ScriptedCallbackUserService;
using ::hermes::testing::TestChannel;
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

TEST(AnswerOnTest, CallWhoseClientGaveUpWhileQueued_IsNotRun) {
  absl::Notification blocker_started;
  absl::Notification release_blocker;
  std::atomic<bool> abandoned_ran{false};
  HandlerPool pool(1);  // one thread: the second call queues behind the first
  ScriptedCallbackUserService service;
  service.pool = &pool;
  service.get_user = [&](grpc::ServerContextBase*, const GetUserRequest& request,
                         GetUserResponse*) {
    if (request.id() == "blocker") {
      blocker_started.Notify();
      release_blocker.WaitForNotificationWithTimeout(absl::Seconds(10));
    } else if (request.id() == "abandoned") {
      abandoned_ran = true;
    }
    return grpc::Status::OK;
  };
  auto server = runtime::GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                            .credentials = grpc::InsecureServerCredentials(),
                                            .services = {{&service, "user.v1.UserService"}}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = ::user::v1::UserService::NewStub(TestChannel(LoopbackAddress((*server)->port())));

  std::thread blocker(
      [&] { EXPECT_TRUE(GetUser(*stub, "blocker", std::chrono::seconds(20)).ok()); });
  ASSERT_TRUE(blocker_started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // Queued behind the blocker, it runs out of time before the pool's only thread is free.
  EXPECT_EQ(GetUser(*stub, "abandoned", std::chrono::milliseconds(200)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server enforces the same deadline, from when the request reached it, with a timer of
  // its own: there is nothing to await but time, so give that timer a generous second.
  absl::SleepFor(absl::Seconds(1));
  release_blocker.Notify();
  blocker.join();
  // Posted after the abandoned call, so answered after its task has been taken off the queue.
  EXPECT_TRUE(GetUser(*stub, "after", std::chrono::seconds(10)).ok());
  EXPECT_FALSE(abandoned_ran.load());
}

}  // namespace
}  // namespace hermes::interceptor
