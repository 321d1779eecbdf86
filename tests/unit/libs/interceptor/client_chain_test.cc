// The client chain between two real in-process servers: an upstream whose GetUser calls a
// downstream one, as the order service calls the user service.
#include "libs/interceptor/client_chain.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/chain.h"
#include "libs/runtime/grpc_server.h"
#include "tests/support/http.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"

namespace hermes::interceptor {
namespace {

using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::MetricValue;
using ::hermes::testing::ScriptedUserService;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::TestChannel;
using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;

constexpr absl::Duration kCap = absl::Seconds(2);

class ClientChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    downstream_ = Start(&downstream_service_);
    client_chain_ = std::make_shared<ClientChain>(*registry_);
    auto channel = CreateServiceChannel({.target = LoopbackAddress(downstream_->port()),
                                         .credentials = grpc::InsecureChannelCredentials(),
                                         .service = "user.v1.UserService"},
                                        client_chain_);
    downstream_stub_ = ::user::v1::UserService::NewStub(channel);
    // The upstream's GetUser asks the downstream, on behalf of its caller.
    upstream_service_.get_user = [this](const grpc::ServerContextBase* context,
                                        const GetUserRequest& request, GetUserResponse* response) {
      auto outgoing = OutgoingContext(*context, kCap);
      return downstream_stub_->GetUser(outgoing.get(), request, response);
    };
    upstream_ = Start(&upstream_service_);
    stub_ = ::user::v1::UserService::NewStub(TestChannel(LoopbackAddress(upstream_->port())));
  }

  std::unique_ptr<runtime::GrpcServer> Start(ScriptedUserService* service) {
    return StartLoopbackServer(service, "user.v1.UserService");
  }

  grpc::Status Call(absl::Duration deadline, const std::string& request_id = "") {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    if (!request_id.empty()) context.AddMetadata("x-request-id", request_id);
    GetUserRequest request;
    request.set_id("u1");
    GetUserResponse response;
    return stub_->GetUser(&context, request, &response);
  }
  std::string Metrics() const {
    return prometheus::TextSerializer().Serialize(registry_->Collect());
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  ScriptedUserService downstream_service_;
  ScriptedUserService upstream_service_;
  std::unique_ptr<runtime::GrpcServer> downstream_;
  std::unique_ptr<runtime::GrpcServer> upstream_;
  std::shared_ptr<ClientChain> client_chain_;
  std::unique_ptr<::user::v1::UserService::Stub> downstream_stub_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
};

TEST_F(ClientChainTest, OutgoingCall_CarriesRequestIdAndTheSoonerDeadline) {
  absl::Mutex mutex;
  std::string request_id;
  absl::Duration remaining;
  downstream_service_.get_user = [&](const grpc::ServerContextBase* context, const GetUserRequest&,
                                     GetUserResponse*) {
    absl::MutexLock lock(&mutex);
    auto it = context->client_metadata().find("x-request-id");
    if (it != context->client_metadata().end()) {
      request_id.assign(it->second.data(), it->second.size());
    }
    remaining = absl::FromChrono(context->deadline()) - absl::Now();
    return grpc::Status::OK;
  };

  // The caller allows 30 s: the cap (2 s) wins.
  ASSERT_TRUE(Call(absl::Seconds(30), "trace-me-1").ok());
  {
    absl::MutexLock lock(&mutex);
    EXPECT_EQ(request_id, "trace-me-1");
    EXPECT_LE(remaining, kCap);
    EXPECT_GT(remaining, absl::ZeroDuration());
  }
  // The caller allows 500 ms: the caller's deadline wins. Deadlines travel between hops as
  // timeouts re-anchored on receipt, so each hop may see a few ms more than its caller had.
  ASSERT_TRUE(Call(absl::Milliseconds(500)).ok());
  absl::MutexLock lock(&mutex);
  EXPECT_LE(remaining, absl::Milliseconds(550));
}

// What OutgoingContext passes on comes from the caller, so it passes on only what it checked:
// a traceparent as parsed, a tracestate by W3C's grammar without its whitespace, an x-request-id
// only if valid (the client chain makes another). A value gRPC refuses to send would abort the
// process at the call (order_service_test sends ones a gRPC client cannot).
TEST_F(ClientChainTest, OutgoingCall_PassesOnOnlyCheckedHeadersOfTheCaller) {
  absl::Mutex mutex;
  std::multimap<std::string, std::string> seen;
  downstream_service_.get_user = [&](const grpc::ServerContextBase* context, const GetUserRequest&,
                                     GetUserResponse*) {
    absl::MutexLock lock(&mutex);
    seen.clear();
    for (const auto& [key, value] : context->client_metadata()) {
      const std::string name(key.data(), key.size());
      if (name == "x-request-id" || name == "traceparent" || name == "tracestate") {
        seen.emplace(name, std::string(value.data(), value.size()));
      }
    }
    return grpc::Status::OK;
  };
  const auto call = [&](const std::vector<std::pair<std::string, std::string>>& headers) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    for (const auto& [key, value] : headers) context.AddMetadata(key, value);
    GetUserRequest request;
    GetUserResponse response;
    EXPECT_TRUE(stub_->GetUser(&context, request, &response).ok());
    absl::MutexLock lock(&mutex);
    return seen;
  };
  const std::string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  std::multimap<std::string, std::string> got = call(
      {{"traceparent", " " + traceparent}, {"tracestate", "a=b , c=d"}, {"x-request-id", "r-1"}});
  EXPECT_EQ(got,
            (std::multimap<std::string, std::string>{
                {"traceparent", traceparent}, {"tracestate", "a=b,c=d"}, {"x-request-id", "r-1"}}));

  got = call({{"traceparent", "00-not-a-traceparent"},
              {"tracestate", "a=b"},
              {"x-request-id", "has space"}});
  EXPECT_EQ(got.count("traceparent"), 0u);
  EXPECT_EQ(got.count("tracestate"), 0u);
  ASSERT_EQ(got.count("x-request-id"), 1u);
  EXPECT_EQ(got.find("x-request-id")->second.size(), 36u);  // the client chain's own

  got = call({{"traceparent", traceparent}, {"tracestate", "Bad=key"}});
  EXPECT_EQ(got.count("traceparent"), 1u);
  EXPECT_EQ(got.count("tracestate"), 0u);
}

TEST_F(ClientChainTest, FailedCall_CountedWithGoCodeInClientMetrics) {
  downstream_service_.get_user = [](const grpc::ServerContextBase*, const GetUserRequest&,
                                    GetUserResponse*) {
    return errors::ToGrpcStatus(errors::NotFound("id", "no such user"));
  };
  EXPECT_EQ(Call(absl::Seconds(5)).error_code(), grpc::StatusCode::NOT_FOUND);
  const std::vector<std::pair<std::string, std::string>> labels = {
      {"grpc_service", "user.v1.UserService"},
      {"grpc_method", "GetUser"},
      {"grpc_type", "unary"},
      {"grpc_code", "NotFound"}};
  EXPECT_EQ(MetricValue(Metrics(), "grpc_client_handled_total", labels), 1);
  EXPECT_EQ(MetricValue(Metrics(), "grpc_client_started_total", {{"grpc_method", "GetUser"}}), 1);
  EXPECT_EQ(MetricValue(Metrics(), "grpc_client_in_flight", {{"grpc_method", "GetUser"}}), 0);
}

TEST_F(ClientChainTest, Unavailable_IsRetriedByServiceConfig_OtherCodesAreNot) {
  std::atomic<int> attempts{0};
  downstream_service_.get_user = [&](const grpc::ServerContextBase*, const GetUserRequest&,
                                     GetUserResponse*) {
    return ++attempts == 1 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "warming up")
                           : grpc::Status::OK;
  };
  EXPECT_TRUE(Call(absl::Seconds(5)).ok());
  EXPECT_EQ(attempts.load(), 2);

  attempts = 0;
  downstream_service_.get_user = [&](const grpc::ServerContextBase*, const GetUserRequest&,
                                     GetUserResponse*) {
    ++attempts;
    return grpc::Status(grpc::StatusCode::INTERNAL, "broken");
  };
  EXPECT_EQ(Call(absl::Seconds(5)).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(attempts.load(), 1);
}

// W3C trace context: tracestate may arrive split over several headers, which are one list.
// With no tracing stage on the upstream (tracing off), the outgoing call carries all of it, with
// the traceparent it belongs to (without one, W3C has a tracestate dropped).
TEST_F(ClientChainTest, TracestateInSeveralHeaders_PassedOnAsOneList) {
  absl::Mutex mutex;
  std::vector<std::string> seen;
  downstream_service_.get_user = [&](const grpc::ServerContextBase* context, const GetUserRequest&,
                                     GetUserResponse*) {
    absl::MutexLock lock(&mutex);
    for (auto [it, end] = context->client_metadata().equal_range("tracestate"); it != end; ++it) {
      seen.emplace_back(it->second.data(), it->second.size());
    }
    return grpc::Status::OK;
  };
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  context.AddMetadata("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  context.AddMetadata("tracestate", "rojo=00f067aa0ba902b7");
  context.AddMetadata("tracestate", "congo=t61rcWkgMzE");
  GetUserRequest request;
  request.set_id("u1");
  GetUserResponse response;
  ASSERT_TRUE(stub_->GetUser(&context, request, &response).ok());
  absl::MutexLock lock(&mutex);
  EXPECT_EQ(seen, std::vector<std::string>{"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"});
}

// An upstream that was down for a while is used again soon after it is back: the reconnect
// backoff is capped (max_reconnect_backoff). gRPC's own schedule (1 s, x1.6, +-20 %, up to
// 120 s) has its attempts about 16 and 26 s into an outage, so after 18 s of it a call would
// wait some 6 s more for the next attempt; after a minute, up to two minutes.
TEST_F(ClientChainTest, UpstreamBackAfterAnOutage_UsedWithinTheReconnectBackoffCap) {
  const testing::PortReservation reserved;  // nobody else's during the 18 s
  const int port = reserved.port();
  auto channel = CreateServiceChannel({.target = LoopbackAddress(port),
                                       .credentials = grpc::InsecureChannelCredentials(),
                                       .service = "user.v1.UserService",
                                       .max_reconnect_backoff = absl::Seconds(1)},
                                      client_chain_);
  auto stub = ::user::v1::UserService::NewStub(channel);
  const auto call = [&stub] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
    GetUserRequest request;
    request.set_id("u1");
    GetUserResponse response;
    return stub->GetUser(&context, request, &response);
  };
  EXPECT_EQ(call().error_code(), grpc::StatusCode::UNAVAILABLE);  // nothing listens: it retries
  // The outage itself: a time that has to pass, not a condition to wait for.
  absl::SleepFor(absl::Seconds(18));

  ScriptedUserService back;
  back.get_user = [](const grpc::ServerContextBase*, const GetUserRequest&, GetUserResponse*) {
    return grpc::Status::OK;
  };
  auto server = runtime::GrpcServer::Start({.listen_address = LoopbackAddress(port),
                                            .credentials = grpc::InsecureServerCredentials(),
                                            .services = {{&back, "user.v1.UserService"}}});
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Time back_at = absl::Now();
  bool answered = false;
  while (!answered && absl::Now() - back_at < absl::Seconds(15)) {
    answered = call().ok();
    if (!answered) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(answered) << "never reconnected";
  EXPECT_LT(absl::Now() - back_at, absl::Seconds(3));
}

TEST(ServiceConfigJsonTest, IsValidJsonWithRoundRobinAndUnavailableRetries) {
  const std::string json = ServiceConfigJson({.service = "user.v1.UserService"});
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_NE(json.find(R"("round_robin")"), std::string::npos);
  EXPECT_NE(json.find(R"("retryableStatusCodes":["UNAVAILABLE"])"), std::string::npos);
}

}  // namespace
}  // namespace hermes::interceptor
