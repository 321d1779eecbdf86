// AnswerInline/AnswerOn over a real server: a call whose client gave up while it waited in the
// pool's queue is answered without running its handler (no commit nobody waits for); a method
// registered raw gets its request parsed, its response serialized, a request that does not
// parse answered INVALID_ARGUMENT naming the field, and an exception answered as gRPC answers
// one.
#include "libs/interceptor/unary_answer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"
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

// GetUser registered raw, answered inline or on a pool as the services answer theirs.
class RawGetUserService final : public ::user::v1::UserService::WithRawCallbackMethod_GetUser<
                                    ::user::v1::UserService::Service> {
 public:
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request_bytes,
                                    grpc::ByteBuffer* response_bytes) override {
    auto handler = [](const GetUserRequest& request, GetUserResponse* response) {
      if (request.id() == "throws") throw std::runtime_error("handler bug");
      if (request.id() == "missing") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no user");
      response->mutable_user()->set_id(request.id());
      response->mutable_user()->set_display_name("Found");
      return grpc::Status::OK;
    };
    if (pool != nullptr) {
      return AnswerOn<GetUserRequest, GetUserResponse>(*pool, context, request_bytes,
                                                       response_bytes, handler);
    }
    return AnswerInline<GetUserRequest, GetUserResponse>(context, request_bytes, response_bytes,
                                                         handler);
  }
  HandlerPool* pool = nullptr;
};

class RawMethodTest : public ::testing::TestWithParam<bool> {  // on a pool?
 protected:
  void SetUp() override {
    if (GetParam()) service_.pool = &pool_;
    auto server = runtime::GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                              .credentials = grpc::InsecureServerCredentials(),
                                              .services = {{&service_, "user.v1.UserService"}}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = ::user::v1::UserService::NewStub(TestChannel(LoopbackAddress(server_->port())));
  }

  grpc::Status Get(const std::string& id, GetUserResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    GetUserRequest request;
    request.set_id(id);
    return stub_->GetUser(&context, request, response);
  }

  HandlerPool pool_{2};
  RawGetUserService service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
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
  GetUserResponse response;
  const grpc::Status status = Get("throws", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), errors::kHandlerThrew);
  EXPECT_TRUE(Get("u-2", &response).ok());
}

INSTANTIATE_TEST_SUITE_P(Answer, RawMethodTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return std::string(param.param ? "OnPool" : "Inline");
                         });

}  // namespace
}  // namespace hermes::interceptor
