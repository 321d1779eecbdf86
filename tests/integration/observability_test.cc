// What an operator sees of a running hermes-user: JSON log lines, /metrics, start-up errors.
#include <google/protobuf/struct.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/certs.h"
#include "tests/support/http.h"
#include "tests/support/json_lines.h"
#include "tests/support/network.h"
#include "tests/support/service_process.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {
namespace {

class ObservabilityTest : public ::testing::Test {
 protected:
  const CertificateAuthority* ca_ = &SharedTestCa();
};

grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& request_id) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  context.AddMetadata("x-request-id", request_id);
  grpc::health::v1::HealthCheckResponse response;
  return grpc::health::v1::Health::NewStub(channel)->Check(
      &context, grpc::health::v1::HealthCheckRequest(), &response);
}

TEST_F(ObservabilityTest, EveryLogLineIsJson_RpcLineNamesMethodCodePeerAndRequestId) {
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_, .extra_args = {"--log_level=debug"}});
  ASSERT_TRUE(user.WaitUntilServing());
  ASSERT_TRUE(CheckHealth(user.Channel("client"), "obs-test-1").ok());
  user.process().Signal(SIGTERM);
  ASSERT_TRUE(user.process().WaitForExit(absl::Seconds(20)).has_value());

  const JsonLines log = ParseJsonLines(user.Output());
  EXPECT_TRUE(log.not_json.empty()) << "not JSON: " << log.not_json.front();
  EXPECT_GT(log.lines.size(), 2u);
  for (const google::protobuf::Struct& line : log.lines) {
    for (const char* field : {"ts", "level", "service", "msg"}) {
      EXPECT_TRUE(line.fields().contains(field)) << field << " missing in " << line.DebugString();
    }
  }
  const std::vector<google::protobuf::Struct> rpcs = log.Where({{"request_id", "obs-test-1"}});
  ASSERT_EQ(rpcs.size(), 1u) << user.Output();
  const auto& fields = rpcs[0].fields();
  EXPECT_EQ(fields.at("msg").string_value(), "rpc finished");
  EXPECT_EQ(fields.at("method").string_value(), "/grpc.health.v1.Health/Check");
  EXPECT_EQ(fields.at("code").string_value(), "OK");
  EXPECT_EQ(fields.at("peer").string_value(), "spiffe://hermes/client");
  EXPECT_EQ(fields.at("level").string_value(), "debug");
  EXPECT_EQ(fields.at("service").string_value(), "user");
  EXPECT_GE(fields.at("duration_ms").number_value(), 0);
  EXPECT_TRUE(fields.contains("trace_id"));
}

TEST_F(ObservabilityTest, Metrics_ScrapedOverHttp_HaveGoGrpcPrometheusSeriesAndProcessMetrics) {
  const double launched = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(user.WaitUntilServing());
  ASSERT_TRUE(CheckHealth(user.Channel("admin"), "m-1").ok());
  absl::StatusOr<std::string> body = HttpGet(user.metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  const std::vector<std::pair<std::string, std::string>> check = {
      {"grpc_service", "grpc.health.v1.Health"}, {"grpc_method", "Check"}, {"grpc_type", "unary"}};
  auto with_code = check;
  with_code.emplace_back("grpc_code", "OK");
  EXPECT_GE(MetricValue(*body, "grpc_server_handled_total", with_code).value_or(0), 1);
  EXPECT_GE(MetricValue(*body, "grpc_server_started_total", check).value_or(0), 1);
  EXPECT_EQ(MetricValue(*body, "grpc_server_in_flight", check), 0);
  EXPECT_TRUE(MetricValue(*body, "grpc_server_handling_seconds_bucket",
                          {{"grpc_method", "Check"}, {"le", "0.005"}})
                  .has_value());
  // The service's own methods exist before any call.
  EXPECT_EQ(MetricValue(*body, "grpc_server_started_total",
                        {{"grpc_service", "user.v1.UserService"},
                         {"grpc_method", "WatchUsers"},
                         {"grpc_type", "server_stream"}}),
            0);
  EXPECT_EQ(MetricValue(*body, "grpc_server_handled_total",
                        {{"grpc_method", "CreateUser"}, {"grpc_code", "InvalidArgument"}}),
            0);
  EXPECT_GT(MetricValue(*body, "process_resident_memory_bytes", {}).value_or(0), 0);
  EXPECT_GT(MetricValue(*body, "process_open_fds", {}).value_or(0), 0);
  // The service's own start, from /proc: after this test launched it (to the kernel's whole
  // second of boot time), not the machine's boot or some other process's start.
  const double started = MetricValue(*body, "process_start_time_seconds", {}).value_or(0);
  EXPECT_GE(started, launched - 1.5);
  EXPECT_LE(started, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()) + 1.5);
  EXPECT_TRUE(MetricValue(*body, "process_cpu_seconds_total", {}).has_value());
  EXPECT_TRUE(
      MetricValue(*body, "hermes_handler_panics_total", {{"grpc_method", "GetUser"}}).has_value());
}

// A client that cancels a unary call before sending its request: gRPC answers it CANCELLED
// before any handler or interceptor sees it (the unary methods are on the async API, which only
// hands over a call with its request), so it is counted nowhere, as grpc-go (which reads the
// request before its interceptors run) does not count it either; above all, not as a request
// that did not parse. GetUser is answered inline, CreateUser on the service's pool.
TEST_F(ObservabilityTest, UnaryCallCancelledBeforeItsRequest_NotCountedAsABadRequest) {
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(user.WaitUntilServing());
  std::shared_ptr<grpc::Channel> channel = user.Channel("admin");
  grpc::GenericStub stub(channel);
  std::unique_ptr<::user::v1::UserService::Stub> users = ::user::v1::UserService::NewStub(channel);
  int lists = 0;
  for (const std::string method : {"GetUser", "CreateUser"}) {
    grpc::CompletionQueue queue;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        stub.PrepareCall(&context, "/user.v1.UserService/" + method, &queue);
    void* tag = nullptr;
    bool ok = false;
    call->StartCall(&queue);  // the headers go out; the request never will
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok) << method;
    context.TryCancel();
    grpc::Status status;
    call->Finish(&status, &context);
    ASSERT_TRUE(queue.Next(&tag, &ok)) << method;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << method;
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }

    // A call after it on the same connection: once the server has counted that one, it has
    // long seen the cancel.
    grpc::ClientContext list_context;
    list_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ::user::v1::ListUsersResponse page;
    ASSERT_TRUE(users->ListUsers(&list_context, {}, &page).ok());
    ++lists;
    const std::vector<std::pair<std::string, std::string>> list_ok = {{"grpc_method", "ListUsers"},
                                                                      {"grpc_code", "OK"}};
    std::string body;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      absl::StatusOr<std::string> scraped = HttpGet(user.metrics_port(), "/metrics");
      ASSERT_TRUE(scraped.ok()) << scraped.status();
      body = *std::move(scraped);
      if (MetricValue(body, "grpc_server_handled_total", list_ok).value_or(0) >= lists) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_EQ(MetricValue(body, "grpc_server_handled_total", list_ok), lists) << body;
    const std::vector<std::pair<std::string, std::string>> of_method = {
        {"grpc_service", "user.v1.UserService"}, {"grpc_method", method}};
    EXPECT_EQ(MetricValue(body, "grpc_server_started_total", of_method).value_or(0), 0)
        << method << "\n"
        << body;
    EXPECT_EQ(MetricValue(body, "grpc_server_msg_received_total", of_method).value_or(0), 0)
        << method;
  }
}

TEST_F(ObservabilityTest, MetricsPortTaken_StartupFailsWithClearMessage) {
  ServiceProcess first({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(first.WaitUntilServing());
  Subprocess second({HERMES_USER_BIN, "--insecure", "--data_dir=" + ca_->dir() + "/second",
                     absl::StrCat("--grpc_addr=", LoopbackAddress(0)),
                     absl::StrCat("--metrics_addr=", LoopbackAddress(first.metrics_port()))});
  const std::optional<int> status = second.WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << "kept running on a taken metrics port";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << second.Output();
  EXPECT_NE(second.Output().find("/metrics"), std::string::npos) << second.Output();
  EXPECT_NE(second.Output().find(absl::StrCat(first.metrics_port())), std::string::npos)
      << second.Output();
}

TEST_F(ObservabilityTest, MissingTlsFlags_StopStartupNamingTheFlag) {
  Subprocess server(OnLoopback({HERMES_USER_BIN}));
  const std::optional<int> status = server.WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << server.Output();
  EXPECT_NE(server.Output().find("--tls_ca"), std::string::npos) << server.Output();
}

}  // namespace
}  // namespace hermes::testing
