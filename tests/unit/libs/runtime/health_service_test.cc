// HealthService through a real GrpcServer and a real client: what a probe, a load balancer or a
// client channel's health checking sees.
#include "libs/runtime/health_service.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/errors/app_error.h"
#include "libs/runtime/grpc_server.h"
#include "tests/support/held_request.h"
#include "tests/support/network.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::runtime {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::TestChannel;

// One Watch stream, read on the test's thread.
class WatchStream {
 public:
  WatchStream(const std::shared_ptr<grpc::Channel>& channel, const std::string& name,
              size_t unknown_bytes = 0) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    HealthCheckRequest request;
    request.set_service(name);
    if (unknown_bytes > 0) {  // a field of a later version of the message, or padding
      request.GetReflection()->MutableUnknownFields(&request)->AddLengthDelimited(
          99, std::string(unknown_bytes, 'x'));
    }
    reader_ = Health::NewStub(channel)->Watch(&context_, request);
  }

  // The next status sent, or nullopt when the stream ended.
  std::optional<HealthCheckResponse::ServingStatus> Next() {
    HealthCheckResponse response;
    if (!reader_->Read(&response)) return std::nullopt;
    return response.status();
  }

  // Reads to the end; the status the stream ended with.
  grpc::Status End() {
    while (Next().has_value()) {
    }
    return reader_->Finish();
  }

  void Cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader_;
};

class HealthServiceTest : public ::testing::Test {
 protected:
  void Start(int max_streams,
             std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
                 interceptors = {}) {
    auto started = GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                      .credentials = grpc::InsecureServerCredentials(),
                                      .services = {{&service_, "user.v1.UserService"}},
                                      .interceptors = std::move(interceptors),
                                      .max_streams = max_streams});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    channel_ = TestChannel(LoopbackAddress(server_->port()));
  }

  user::v1::UserService::Service service_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(HealthServiceTest, Watch_FollowsTheDrain_ThenEndsUnavailableWithoutHoldingShutdown) {
  Start(/*max_streams=*/4);
  WatchStream all(channel_, "");
  WatchStream user(channel_, "user.v1.UserService");
  EXPECT_EQ(all.Next(), HealthCheckResponse::SERVING);
  EXPECT_EQ(user.Next(), HealthCheckResponse::SERVING);

  server_->MarkNotServing();
  EXPECT_EQ(all.Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(user.Next(), HealthCheckResponse::NOT_SERVING);

  // gRPC's default health service held its Watch streams, and so the server's Shutdown, for
  // the whole grace period given.
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(60));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  for (WatchStream* stream : {&all, &user}) {
    const grpc::Status status = stream->End();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_TRUE(errors::AppErrorOf(status).has_value());
  }
}

TEST_F(HealthServiceTest, Watch_ShutdownWhileServing_SendsNotServingBeforeTheEnd) {
  Start(/*max_streams=*/4);
  WatchStream all(channel_, "");
  EXPECT_EQ(all.Next(), HealthCheckResponse::SERVING);
  server_->Shutdown(absl::Seconds(60));
  EXPECT_EQ(all.Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(all.End().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(HealthServiceTest, UnknownName_WatchSaysServiceUnknown_CheckSaysNotFound) {
  Start(/*max_streams=*/4);
  WatchStream unknown(channel_, "order.v1.OrderService");
  EXPECT_EQ(unknown.Next(), HealthCheckResponse::SERVICE_UNKNOWN);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest request;
  request.set_service(std::string(100'000, 'x'));
  HealthCheckResponse response;
  const grpc::Status status = Health::NewStub(channel_)->Check(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const auto error = errors::AppErrorOf(status);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field(), "service");
  EXPECT_LT(status.error_message().size(), 200u) << "the name is not echoed back";
}

TEST_F(HealthServiceTest, Watch_BeyondMaxStreams_IsRefusedUntilOneEnds) {
  Start(/*max_streams=*/2);
  auto first = std::make_unique<WatchStream>(channel_, "");
  WatchStream second(channel_, "user.v1.UserService");
  EXPECT_EQ(first->Next(), HealthCheckResponse::SERVING);
  EXPECT_EQ(second.Next(), HealthCheckResponse::SERVING);

  WatchStream refused(channel_, "");
  const grpc::Status status = refused.End();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(errors::AppErrorOf(status).has_value());

  // One ends: its place is given back (once gRPC is done with it, so retried for a while).
  first->Cancel();
  EXPECT_EQ(first->End().error_code(), grpc::StatusCode::CANCELLED);
  first.reset();
  std::optional<HealthCheckResponse::ServingStatus> got;
  const absl::Time limit = absl::Now() + absl::Seconds(10);
  for (int attempt = 0; attempt < 1000 && !got.has_value() && absl::Now() < limit; ++attempt) {
    WatchStream again(channel_, "");
    got = again.Next();
    if (!got.has_value()) {
      ASSERT_EQ(again.End().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  EXPECT_EQ(got, HealthCheckResponse::SERVING);
}

// A refused Watch that is also cancelled (a client resetting it, a deadline passing) must not
// be finished a second time: gRPC aborts the process on that.
TEST_F(HealthServiceTest, Watch_RefusedAndCancelled_LeavesTheServerServing) {
  Start(/*max_streams=*/1);
  WatchStream held(channel_, "");
  ASSERT_EQ(held.Next(), HealthCheckResponse::SERVING);
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::microseconds(200 * i));
    auto reader = Health::NewStub(channel_)->Watch(&context, HealthCheckRequest());
    if (i % 2 == 0) context.TryCancel();
    HealthCheckResponse response;
    while (reader->Read(&response)) {
    }
    const grpc::StatusCode code = reader->Finish().error_code();
    ASSERT_TRUE(code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << code;
  }
  server_->MarkNotServing();
  EXPECT_EQ(held.Next(), HealthCheckResponse::NOT_SERVING);
}

// gRPC keeps a stream's request until the stream ends: an idle Watch would hold what its
// request carried (up to the message limit) for hours.
TEST_F(HealthServiceTest, Watch_KeepsNoRequest) {
  ::hermes::testing::HeldRequestProbe<HealthCheckRequest> probe("/grpc.health.v1.Health/Watch");
  Start(/*max_streams=*/4, probe.Interceptors());
  WatchStream big(channel_, "user.v1.UserService", /*unknown_bytes=*/1 << 20);
  EXPECT_EQ(big.Next(), HealthCheckResponse::SERVING);
  EXPECT_EQ(probe.sizes(), std::vector<size_t>{0});
}

TEST_F(HealthServiceTest, Check_ReportsTheDrain) {
  Start(/*max_streams=*/0);
  auto check = [this](const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(name);
    HealthCheckResponse response;
    const grpc::Status status = Health::NewStub(channel_)->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  };
  EXPECT_EQ(check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(check("user.v1.UserService"), HealthCheckResponse::SERVING);
  server_->MarkNotServing();
  EXPECT_EQ(check(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("user.v1.UserService"), HealthCheckResponse::NOT_SERVING);
}

}  // namespace
}  // namespace hermes::runtime
