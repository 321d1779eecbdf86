#include "libs/runtime/grpc_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/interceptor/handler_pool.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::runtime {
namespace {

using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::ScriptedAsyncUserService;
using ::hermes::testing::ScriptedUserService;
using ::hermes::testing::TestChannel;
using ::hermes::testing::WaitForServing;

class GrpcServerTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<GrpcServer>> StartOn(const std::string& address) {
    return GrpcServer::Start({.listen_address = address,
                              .credentials = grpc::InsecureServerCredentials(),
                              .services = {{&service_, "user.v1.UserService"}}});
  }
  std::shared_ptr<grpc::Channel> ChannelTo(int port) { return TestChannel(LoopbackAddress(port)); }

  user::v1::UserService::Service service_;
};

grpc::health::v1::HealthCheckResponse::ServingStatus Check(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& name,
    grpc::StatusCode* code) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(name);
  grpc::health::v1::HealthCheckResponse response;
  *code =
      grpc::health::v1::Health::NewStub(channel)->Check(&context, request, &response).error_code();
  return response.status();
}

TEST_F(GrpcServerTest, Start_PortZero_BindsARealPortAndServesHealth) {
  auto server = StartOn("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto channel = ChannelTo((*server)->port());

  grpc::StatusCode code;
  EXPECT_EQ(Check(channel, "", &code), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(code, grpc::StatusCode::OK);
  EXPECT_EQ(Check(channel, "user.v1.UserService", &code),
            grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(code, grpc::StatusCode::OK);
  Check(channel, "order.v1.OrderService", &code);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, Start_PortTaken_FailsInsteadOfSharingIt) {
  auto first = StartOn("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = StartOn(LoopbackAddress((*first)->port()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot listen on"), std::string::npos);
}

// Past its maximum age a connection is told to go (GOAWAY), and the client's next call opens a
// new one: a new handshake, against the certificates in force then.
TEST_F(GrpcServerTest, MaxConnectionAge_ClientsReconnect) {
  auto server = GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                   .credentials = grpc::InsecureServerCredentials(),
                                   .services = {{&service_, "user.v1.UserService"}},
                                   .max_connection_age = absl::Seconds(2),
                                   .max_connection_age_grace = absl::Seconds(1)});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = ChannelTo((*server)->port());
  grpc::StatusCode code;
  Check(channel, "", &code);
  ASSERT_EQ(code, grpc::StatusCode::OK);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (channel->GetState(false) == GRPC_CHANNEL_READY && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY) << "the connection was never ended";
  EXPECT_EQ(Check(channel, "", &code), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(code, grpc::StatusCode::OK);  // on a new connection
}

TEST_F(GrpcServerTest, Start_MalformedAddress_Fails) {
  EXPECT_FALSE(StartOn("not an address").ok());
}

TEST_F(GrpcServerTest, RegisteredService_UnimplementedMethodsAnswerUnimplemented) {
  auto server = StartOn("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  user::v1::GetUserResponse response;
  const grpc::Status status = user::v1::UserService::NewStub(ChannelTo((*server)->port()))
                                  ->GetUser(&context, user::v1::GetUserRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(GrpcServerTest, Shutdown_StopsAcceptingCalls) {
  auto server = StartOn("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_TRUE(WaitForServing(ChannelTo(port), "", absl::Seconds(5)).ok());
  (*server)->Shutdown(absl::Seconds(1));

  grpc::StatusCode code;
  Check(ChannelTo(port), "", &code);
  EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE);
}

// GetUser takes as long as its id says (in ms), or, for "until-cancelled", until the call is
// cancelled (at most 10 s).
struct SlowGetUser {
  grpc::Status operator()(const grpc::ServerContextBase& context,
                          const user::v1::GetUserRequest& request) {
    started.Notify();
    if (request.id() == "until-cancelled") {
      const absl::Time limit = absl::Now() + absl::Seconds(10);
      while (!context.IsCancelled() && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(5));
      saw_cancellation = context.IsCancelled();
      return grpc::Status::OK;
    }
    int ms = 0;
    (void)absl::SimpleAtoi(request.id(), &ms);
    absl::SleepFor(absl::Milliseconds(ms));  // the work being drained
    return grpc::Status::OK;
  }
  absl::Notification started;
  std::atomic<bool> saw_cancellation{false};
};

void CallInBackground(int port, const std::string& id, std::thread* thread, grpc::Status* result) {
  *thread = std::thread([port, id, result] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    user::v1::GetUserRequest request;
    request.set_id(id);
    user::v1::GetUserResponse response;
    *result = user::v1::UserService::NewStub(TestChannel(LoopbackAddress(port)))
                  ->GetUser(&context, request, &response);
  });
}

// SlowGetUser on the sync API, as gRPC's own services run, or on the async API on a
// HandlerPool, as the services run theirs.
class GrpcServerShutdownTest : public ::testing::TestWithParam<bool> {  // async API?
 protected:
  void SetUp() override {
    auto get_user = [this](const grpc::ServerContextBase* context,
                           const user::v1::GetUserRequest& request,
                           user::v1::GetUserResponse*) { return slow_(*context, request); };
    sync_service_.get_user = get_user;
    async_service_.get_user = get_user;
    async_service_.pool = &pool_;
    grpc::Service* service = &sync_service_;
    if (GetParam()) service = &async_service_;
    auto started = GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                      .credentials = grpc::InsecureServerCredentials(),
                                      .services = {{service, "user.v1.UserService"}}});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }

  SlowGetUser slow_;
  interceptor::HandlerPool pool_{4};  // outlives the server, which posts to it
  ScriptedUserService sync_service_;
  ScriptedAsyncUserService async_service_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_P(GrpcServerShutdownTest, CallInFlight_FinishesWithinGrace) {
  std::thread caller;
  grpc::Status result(grpc::StatusCode::UNKNOWN, "not finished");
  CallInBackground(server_->port(), "300", &caller, &result);
  ASSERT_TRUE(slow_.started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  server_->Shutdown(absl::Seconds(10));
  caller.join();
  EXPECT_TRUE(result.ok()) << result.error_message();
}

TEST_P(GrpcServerShutdownTest, CallBeyondGrace_IsCancelledSoShutdownIsBounded) {
  std::thread caller;
  grpc::Status result;
  CallInBackground(server_->port(), "until-cancelled", &caller, &result);
  ASSERT_TRUE(slow_.started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(200));
  caller.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(slow_.saw_cancellation);
  EXPECT_FALSE(result.ok());
}

INSTANTIATE_TEST_SUITE_P(Api, GrpcServerShutdownTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return std::string(param.param ? "Async" : "Sync");
                         });

// A server whose unary methods are on the async API, started on a port that is taken: its
// completion queues are shut down and drained without a thread ever serving them.
TEST(GrpcServerAsyncTest, Start_PortTaken_FailsAndCleansUp) {
  ScriptedAsyncUserService first_service;  // GetUser echoes, on the queue's thread
  auto first = GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                  .credentials = grpc::InsecureServerCredentials(),
                                  .services = {{&first_service, "user.v1.UserService"}}});
  ASSERT_TRUE(first.ok()) << first.status();
  ScriptedAsyncUserService second_service;
  auto second = GrpcServer::Start({.listen_address = LoopbackAddress((*first)->port()),
                                   .credentials = grpc::InsecureServerCredentials(),
                                   .services = {{&second_service, "user.v1.UserService"}}});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  // The first still serves its async method.
  std::thread caller;
  grpc::Status result(grpc::StatusCode::UNKNOWN, "not finished");
  CallInBackground((*first)->port(), "0", &caller, &result);
  caller.join();
  EXPECT_TRUE(result.ok()) << result.error_message();
}

}  // namespace
}  // namespace hermes::runtime
