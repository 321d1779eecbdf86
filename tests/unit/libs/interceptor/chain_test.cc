// The server chain on a real in-process server over loopback: order, recovery, request ids,
// metrics and log lines as a client and an operator see them. Every test runs three times:
// with GetUser on the sync API, and on the async API answered inline and on a HandlerPool,
// the two ways the services answer their unary methods.
#include "libs/interceptor/chain.h"

#include <google/protobuf/struct.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/auth.h"
#include "libs/interceptor/logging.h"
#include "libs/interceptor/metrics.h"
#include "libs/interceptor/recovery.h"
#include "libs/runtime/grpc_server.h"
#include "tests/support/captured_log.h"
#include "tests/support/http.h"
#include "tests/support/json_lines.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"

namespace hermes::interceptor {
namespace {

using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::MetricValue;
using ::hermes::testing::ScriptedAsyncUserService;
using ::hermes::testing::ScriptedUserService;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;
using ::hermes::testing::TestChannel;
using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;

enum class GetUserOn { kSyncApi, kAsyncApiInline, kAsyncApiPool, kAsyncApiPoolLater };

const char* NameOf(GetUserOn on) {
  switch (on) {
    case GetUserOn::kSyncApi:
      return "OnSyncApi";
    case GetUserOn::kAsyncApiInline:
      return "OnAsyncApiInline";
    case GetUserOn::kAsyncApiPool:
      return "OnAsyncApiPool";
    case GetUserOn::kAsyncApiPoolLater:
      return "OnAsyncApiPoolAnsweredLater";
  }
  return "";
}
void PrintTo(GetUserOn on, std::ostream* out) { *out << NameOf(on); }

class ServerChainTest : public ::testing::TestWithParam<GetUserOn> {
 protected:
  void SetUp() override {
    log_.emplace(spdlog::level::debug);
    auto chain =
        ServerChain::Create({.services = {"user.v1.UserService"}, .registry = registry_.get()});
    ASSERT_TRUE(chain.ok()) << chain.status();
    chain_ = *chain;
    server_ = StartLoopbackServer(service(), "user.v1.UserService", chain_->InterceptorFactories());
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }
  void TearDown() override {
    server_.reset();
    log_.reset();
  }

  grpc::Status GetUser(const std::string& id, grpc::ClientContext* context = nullptr) {
    grpc::ClientContext local;
    if (context == nullptr) context = &local;
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    GetUserRequest request;
    request.set_id(id);
    GetUserResponse response;
    return stub_->GetUser(context, request, &response);
  }
  std::string Metrics() const {
    return prometheus::TextSerializer().Serialize(registry_->Collect());
  }
  // Every log line written so far, parsed; fails the test if one is not JSON.
  testing::JsonLines Log() {
    testing::JsonLines log = testing::ParseJsonLines(log_->Text());
    EXPECT_TRUE(log.not_json.empty()) << "not JSON: " << log.not_json.front();
    return log;
  }
  std::vector<google::protobuf::Struct> RpcLines() {
    return Log().Where({{"msg", "rpc finished"}});
  }

  grpc::Service* service() {
    if (GetParam() == GetUserOn::kSyncApi) return &sync_service_;
    if (GetParam() == GetUserOn::kAsyncApiPool) async_service_.pool = &pool_;
    if (GetParam() == GetUserOn::kAsyncApiPoolLater) {
      async_service_.pool = &pool_;
      async_service_.answer_later = true;
    }
    return &async_service_;
  }
  testing::GetUserFn& get_user() {
    return GetParam() == GetUserOn::kSyncApi ? sync_service_.get_user : async_service_.get_user;
  }

  std::optional<testing::CapturedLog> log_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  ScriptedUserService sync_service_;
  ScriptedAsyncUserService async_service_;
  HandlerPool pool_{4};
  std::shared_ptr<ServerChain> chain_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
};

// A GetUser handler that records the x-request-id it sees in its request metadata.
testing::GetUserFn RecordRequestId(std::string* seen) {
  return [seen](const grpc::ServerContextBase* context, const GetUserRequest&, GetUserResponse*) {
    auto it = context->client_metadata().find("x-request-id");
    if (it != context->client_metadata().end()) seen->assign(it->second.data(), it->second.size());
    return grpc::Status::OK;
  };
}

const std::vector<std::pair<std::string, std::string>> kGetUser = {
    {"grpc_service", "user.v1.UserService"}, {"grpc_method", "GetUser"}, {"grpc_type", "unary"}};

std::vector<std::pair<std::string, std::string>> With(
    std::vector<std::pair<std::string, std::string>> labels, std::string key, std::string value) {
  labels.emplace_back(std::move(key), std::move(value));
  return labels;
}

TEST_P(ServerChainTest, Stages_RunInDocumentedOrder_RecoveryAuthLoggingMetrics) {
  const auto& stages = chain_->stages();
  ASSERT_EQ(stages.size(), 4u);
  EXPECT_NE(dynamic_cast<RecoveryStage*>(stages[0].get()), nullptr);
  EXPECT_NE(dynamic_cast<AuthStage*>(stages[1].get()), nullptr);
  EXPECT_NE(dynamic_cast<LoggingStage*>(stages[2].get()), nullptr);
  EXPECT_NE(dynamic_cast<MetricsStage*>(stages[3].get()), nullptr);
}

TEST_P(ServerChainTest, ThrowingHandler_AnswersInternalWithAppError_AndServerKeepsServing) {
  get_user() = [](const grpc::ServerContextBase*, const GetUserRequest& request,
                  GetUserResponse*) -> grpc::Status {
    if (request.id() == "boom") throw std::runtime_error("secret: SELECT * FROM users");
    return grpc::Status::OK;
  };
  const grpc::Status status = GetUser("boom");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message().find("SELECT"), std::string::npos);
  const auto app_error = errors::AppErrorOf(status);
  ASSERT_TRUE(app_error.has_value());
  EXPECT_EQ(app_error->code(), ::common::v1::ERROR_CODE_INTERNAL);

  EXPECT_TRUE(GetUser("fine").ok());
  EXPECT_EQ(MetricValue(Metrics(), "hermes_handler_panics_total",
                        {{"grpc_service", "user.v1.UserService"}, {"grpc_method", "GetUser"}}),
            1);
  // Recovery runs first, so logging and metrics report what the client saw: Internal.
  EXPECT_EQ(
      MetricValue(Metrics(), "grpc_server_handled_total", With(kGetUser, "grpc_code", "Internal")),
      1);
  const auto rpcs = RpcLines();
  ASSERT_EQ(rpcs.size(), 2u);
  EXPECT_EQ(rpcs[0].fields().at("code").string_value(), "Internal");
  EXPECT_EQ(rpcs[0].fields().at("level").string_value(), "error");
  bool logged_panic = false;
  for (const auto& line : Log().lines) {
    if (line.fields().at("msg").string_value().find("threw") != std::string::npos) {
      logged_panic = line.fields().at("method").string_value() == "/user.v1.UserService/GetUser";
    }
  }
  EXPECT_TRUE(logged_panic) << log_->Text();
}

TEST_P(ServerChainTest, RequestId_FromCaller_ReturnedInHeadersLoggedAndSeenByHandler) {
  std::string seen_by_handler;
  get_user() = RecordRequestId(&seen_by_handler);
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "req-42");
  ASSERT_TRUE(GetUser("u", &context).ok());
  auto header = context.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(header, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(header->second.data(), header->second.size()), "req-42");
  EXPECT_EQ(seen_by_handler, "req-42");
  ASSERT_EQ(RpcLines().size(), 1u);
  EXPECT_EQ(RpcLines()[0].fields().at("request_id").string_value(), "req-42");
}

// An error answer carries the request id as well, and its log line names it: what an operator
// looks for when a client reports the error.
TEST_P(ServerChainTest, RequestId_OnAnErrorAnswer_ReturnedInHeadersAndLogged) {
  get_user() = [](const grpc::ServerContextBase*, const GetUserRequest&, GetUserResponse*) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "user u not found");
  };
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "req-404");
  EXPECT_EQ(GetUser("u", &context).error_code(), grpc::StatusCode::NOT_FOUND);
  auto header = context.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(header, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(header->second.data(), header->second.size()), "req-404");
  const auto rpcs = RpcLines();
  ASSERT_EQ(rpcs.size(), 1u);
  EXPECT_EQ(rpcs[0].fields().at("request_id").string_value(), "req-404");
  EXPECT_EQ(rpcs[0].fields().at("code").string_value(), "NotFound");
}

TEST_P(ServerChainTest, RequestId_MissingOrInvalid_ServerGeneratesOneAndHandlerSeesIt) {
  std::string seen_by_handler;
  get_user() = RecordRequestId(&seen_by_handler);
  for (const char* sent : {"", "has space"}) {
    grpc::ClientContext context;
    if (*sent != '\0') context.AddMetadata("x-request-id", sent);
    ASSERT_TRUE(GetUser("u", &context).ok());
    auto header = context.GetServerInitialMetadata().find("x-request-id");
    ASSERT_NE(header, context.GetServerInitialMetadata().end());
    const std::string id(header->second.data(), header->second.size());
    EXPECT_EQ(id.size(), 36u) << id;
    EXPECT_NE(id, sent);
    EXPECT_EQ(seen_by_handler, id);
  }
}

// Several x-request-id headers: the handler (and so a call it makes on, OutgoingContext) sees
// exactly one, the id in force: never a value behind it that nobody checked.
TEST_P(ServerChainTest, RequestId_SentTwice_HandlerSeesOnlyTheOneInForce) {
  std::vector<std::string> seen;
  get_user() = [&seen](const grpc::ServerContextBase* context, const GetUserRequest&,
                       GetUserResponse*) {
    for (auto [it, end] = context->client_metadata().equal_range("x-request-id"); it != end; ++it) {
      seen.emplace_back(it->second.data(), it->second.size());
    }
    return grpc::Status::OK;
  };
  for (const auto& [first, second] : std::vector<std::pair<std::string, std::string>>{
           {"has space", "unchecked-second"}, {"req-1", "req-2"}}) {
    seen.clear();
    grpc::ClientContext context;
    context.AddMetadata("x-request-id", first);
    context.AddMetadata("x-request-id", second);
    ASSERT_TRUE(GetUser("u", &context).ok());
    auto header = context.GetServerInitialMetadata().find("x-request-id");
    ASSERT_NE(header, context.GetServerInitialMetadata().end());
    const std::string in_force(header->second.data(), header->second.size());
    EXPECT_EQ(seen, std::vector<std::string>{in_force}) << first;
    EXPECT_EQ(in_force.size(), first == "req-1" ? 5u : 36u) << in_force;  // kept, or generated
  }
}

TEST_P(ServerChainTest, Metrics_UnaryCalls_CountedPerMethodWithGoCasedCodesAndBuckets) {
  get_user() = [](const grpc::ServerContextBase*, const GetUserRequest& request, GetUserResponse*) {
    return request.id() == "missing"
               ? errors::ToGrpcStatus(errors::NotFound("id", "no user with this id"))
               : grpc::Status::OK;
  };
  ASSERT_TRUE(GetUser("a").ok());
  ASSERT_EQ(GetUser("missing").error_code(), grpc::StatusCode::NOT_FOUND);
  const std::string body = Metrics();
  EXPECT_EQ(MetricValue(body, "grpc_server_started_total", kGetUser), 2);
  EXPECT_EQ(MetricValue(body, "grpc_server_handled_total", With(kGetUser, "grpc_code", "OK")), 1);
  EXPECT_EQ(MetricValue(body, "grpc_server_handled_total", With(kGetUser, "grpc_code", "NotFound")),
            1);
  EXPECT_EQ(MetricValue(body, "grpc_server_handling_seconds_count", kGetUser), 2);
  for (const char* bucket :
       {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}) {
    EXPECT_TRUE(
        MetricValue(body, "grpc_server_handling_seconds_bucket", With(kGetUser, "le", bucket))
            .has_value())
        << bucket;
  }
  EXPECT_EQ(MetricValue(body, "grpc_server_in_flight", kGetUser), 0);
  // Every registered method exists before its first call, so dashboards see it at 0.
  EXPECT_EQ(MetricValue(body, "grpc_server_started_total",
                        {{"grpc_method", "WatchUsers"}, {"grpc_type", "server_stream"}}),
            0);
  // The handling histogram has no grpc_code label.
  EXPECT_EQ(body.find("grpc_server_handling_seconds_count{grpc_code"), std::string::npos);
}

TEST_P(ServerChainTest, Metrics_ServerStream_CountsEachMessageSent) {
  grpc::ClientContext context;
  auto reader = stub_->WatchUsers(&context, ::user::v1::WatchUsersRequest());
  ::user::v1::WatchUsersResponse event;
  int received = 0;
  while (reader->Read(&event)) ++received;
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(received, 3);
  const std::vector<std::pair<std::string, std::string>> watch = {{"grpc_method", "WatchUsers"},
                                                                  {"grpc_type", "server_stream"}};
  EXPECT_EQ(MetricValue(Metrics(), "grpc_server_msg_sent_total", watch), 3);
  EXPECT_EQ(MetricValue(Metrics(), "grpc_server_msg_received_total", watch), 1);
  ASSERT_EQ(RpcLines().size(), 1u);
  EXPECT_EQ(RpcLines()[0].fields().at("messages_sent").number_value(), 3);
}

TEST_P(ServerChainTest, Metrics_CallCancelledByClient_InFlightReturnsToZero) {
  absl::Notification started;
  absl::Notification client_gone;
  get_user() = [&](const grpc::ServerContextBase*, const GetUserRequest&, GetUserResponse*) {
    started.Notify();
    client_gone.WaitForNotificationWithTimeout(absl::Seconds(10));
    return grpc::Status::OK;
  };
  grpc::ClientContext context;
  std::thread caller([&] { GetUser("slow", &context); });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(MetricValue(Metrics(), "grpc_server_in_flight", kGetUser), 1);
  context.TryCancel();
  caller.join();
  client_gone.Notify();
  // The server side finishes asynchronously after the cancellation: wait, bounded.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (MetricValue(Metrics(), "grpc_server_in_flight", kGetUser) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(MetricValue(Metrics(), "grpc_server_in_flight", kGetUser), 0);
  EXPECT_EQ(MetricValue(Metrics(), "grpc_server_started_total", kGetUser), 1);
}

TEST_P(ServerChainTest, Logging_OneJsonLinePerRpc_LevelByCode_HealthAtDebug) {
  get_user() = [](const grpc::ServerContextBase*, const GetUserRequest& request, GetUserResponse*) {
    return request.id() == "bad" ? errors::ToGrpcStatus(errors::InvalidArgument("id", "bad id"))
                                 : grpc::Status::OK;
  };
  ASSERT_TRUE(GetUser("a").ok());
  ASSERT_FALSE(GetUser("bad").ok());
  ASSERT_TRUE(
      testing::WaitForServing(TestChannel(LoopbackAddress(server_->port())), "", absl::Seconds(5))
          .ok());
  const auto rpcs = RpcLines();
  ASSERT_EQ(rpcs.size(), 3u) << log_->Text();
  for (const auto& line : rpcs) {
    for (const char* field : {"ts", "level", "service", "method", "grpc_type", "code",
                              "duration_ms", "peer", "peer_address", "request_id", "trace_id"}) {
      EXPECT_TRUE(line.fields().contains(field)) << field;
    }
  }
  EXPECT_EQ(rpcs[0].fields().at("level").string_value(), "info");
  EXPECT_EQ(rpcs[0].fields().at("method").string_value(), "/user.v1.UserService/GetUser");
  EXPECT_EQ(rpcs[1].fields().at("level").string_value(), "warning");
  EXPECT_EQ(rpcs[1].fields().at("code").string_value(), "InvalidArgument");
  EXPECT_EQ(rpcs[2].fields().at("level").string_value(), "debug");
  EXPECT_EQ(rpcs[2].fields().at("method").string_value(), "/grpc.health.v1.Health/Check");
}

// As grpc-go, which answers it before any interceptor runs: no series, not even an "unknown" one
// (which every scrape would carry, an "unknown" service on every dashboard).
TEST_P(ServerChainTest, UnknownMethod_IsNotCountedInMetrics) {
  grpc::GenericStub generic(TestChannel(LoopbackAddress(server_->port())));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty_message("");  // a valid (empty) serialized request
  grpc::ByteBuffer request(&empty_message, 1), response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&context, "/user.v1.UserService/MadeUp", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  const std::string metrics = Metrics();
  EXPECT_EQ(metrics.find("MadeUp"), std::string::npos);
  EXPECT_EQ(metrics.find("unknown"), std::string::npos);
  EXPECT_NE(metrics.find("grpc_method=\"GetUser\""), std::string::npos);  // it is the registry
}

TEST_P(ServerChainTest, RequestWithInvalidUtf8_InvalidArgumentWithAppError) {
  grpc::GenericStub generic(TestChannel(LoopbackAddress(server_->port())));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  // GetUserRequest{id = "\xff"}: field 1, length-delimited, one byte that is not UTF-8.
  const char bytes[] = {0x0a, 0x01, static_cast<char>(0xff)};
  grpc::Slice body(bytes, sizeof(bytes));
  grpc::ByteBuffer request(&body, 1), response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&context, "/user.v1.UserService/GetUser", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  const auto app_error = errors::AppErrorOf(status);
  ASSERT_TRUE(app_error.has_value());
  EXPECT_EQ(app_error->code(), ::common::v1::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(MetricValue(Metrics(), "grpc_server_handled_total",
                        With(kGetUser, "grpc_code", "InvalidArgument")),
            1);
}

INSTANTIATE_TEST_SUITE_P(GetUser, ServerChainTest,
                         ::testing::Values(GetUserOn::kSyncApi, GetUserOn::kAsyncApiInline,
                                           GetUserOn::kAsyncApiPool, GetUserOn::kAsyncApiPoolLater),
                         [](const ::testing::TestParamInfo<GetUserOn>& param) {
                           return std::string(NameOf(param.param));
                         });

TEST(LevelForCodeTest, ClientErrorsWarnServerErrorsError) {
  EXPECT_EQ(LevelForCode(grpc::StatusCode::OK), spdlog::level::info);
  for (auto code : {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::NOT_FOUND,
                    grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::FAILED_PRECONDITION,
                    grpc::StatusCode::CANCELLED, grpc::StatusCode::DEADLINE_EXCEEDED}) {
    EXPECT_EQ(LevelForCode(code), spdlog::level::warn) << code;
  }
  for (auto code :
       {grpc::StatusCode::INTERNAL, grpc::StatusCode::UNKNOWN, grpc::StatusCode::UNAVAILABLE,
        grpc::StatusCode::DATA_LOSS, grpc::StatusCode::UNIMPLEMENTED}) {
    EXPECT_EQ(LevelForCode(code), spdlog::level::err) << code;
  }
}

}  // namespace
}  // namespace hermes::interceptor
