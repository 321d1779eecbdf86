// Traces from the real hermes-user binary, configured only through the standard OTEL_*
// environment, received by an in-test OTLP collector as Jaeger would receive them.
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/support/certs.h"
#include "tests/support/json_lines.h"
#include "tests/support/service_process.h"
#include "tests/unit/libs/tracing/otlp_collector.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {
namespace {

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentSpanId[] = "00f067aa0ba902b7";

// GetUser of an id no user has, as admin, with `traceparent` when it is not empty.
grpc::StatusCode GetMissingUser(ServiceProcess& user, const std::string& traceparent = "") {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!traceparent.empty()) context.AddMetadata("traceparent", traceparent);
  ::user::v1::GetUserRequest request;
  request.set_id("no-such-user");
  ::user::v1::GetUserResponse response;
  return ::user::v1::UserService::NewStub(user.Channel("admin"))
      ->GetUser(&context, request, &response)
      .error_code();
}

TEST(TracingTest, CallerTraceparent_ServerSpanExportedOverOtlp_AndLogLineCarriesTraceId) {
  std::unique_ptr<OtlpCollector> collector = OtlpCollector::Start();
  ServiceProcess user({.binary = HERMES_USER_BIN,
                       .ca = &SharedTestCa(),
                       .extra_args = {"--data_dir=" + SharedTestCa().dir() + "/tracing-data"},
                       .extra_env = {"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector->endpoint(),
                                     "OTEL_BSP_SCHEDULE_DELAY=100",
                                     "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test"}});
  ASSERT_TRUE(user.WaitUntilServing());

  ASSERT_EQ(GetMissingUser(user, absl::StrCat("00-", kTraceId, "-", kParentSpanId, "-01")),
            grpc::StatusCode::NOT_FOUND);

  // Health checks are not traced, so the one span is this call's.
  const std::vector<OtlpCollector::ReceivedSpan> spans =
      collector->AwaitSpans(1, absl::Seconds(20));
  ASSERT_EQ(spans.size(), 1u);
  const auto& received = spans[0];
  const auto& span = received.span;
  EXPECT_EQ(received.service_name, "hermes-user");
  EXPECT_EQ(absl::BytesToHexString(span.trace_id()), kTraceId);
  EXPECT_EQ(absl::BytesToHexString(span.parent_span_id()), kParentSpanId);
  EXPECT_EQ(span.name(), "user.v1.UserService/GetUser");
  EXPECT_EQ(span.kind(), ::opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(AttributeOf(span.attributes(), "rpc.system"), "grpc");
  EXPECT_EQ(AttributeOf(span.attributes(), "rpc.service"), "user.v1.UserService");
  EXPECT_EQ(AttributeOf(span.attributes(), "rpc.method"), "GetUser");
  EXPECT_EQ(AttributeOf(span.attributes(), "rpc.grpc.status_code"), "5");
  // The service listens on port 0: server.port is the one the kernel gave it.
  EXPECT_EQ(AttributeOf(span.attributes(), "server.port"), std::to_string(user.grpc_port()));
  // NOT_FOUND is the caller's problem: the server span's status stays unset.
  EXPECT_EQ(span.status().code(), ::opentelemetry::proto::trace::v1::Status::STATUS_CODE_UNSET);

  EXPECT_TRUE(user.WaitForOutput(absl::StrCat("\"trace_id\":\"", kTraceId, "\""))) << user.Output();
}

// The "ts" of the first log line whose "msg" is `msg`, or nullopt.
std::optional<absl::Time> LoggedAt(const std::string& output, const std::string& msg) {
  const std::vector<google::protobuf::Struct> lines = ParseJsonLines(output).Where({{"msg", msg}});
  absl::Time ts;
  std::string error;
  if (lines.empty() ||
      !absl::ParseTime(absl::RFC3339_full, StringField(lines[0], "ts"), &ts, &error)) {
    return std::nullopt;
  }
  return ts;
}

// ARCHITECTURE.md's shutdown order: "... spans are flushed, the store is closed". The span of a
// call still queued at SIGTERM (the batch delay is ten minutes) reaches the collector before the
// service logs "stopped", after which main closes its store.
TEST(TracingTest, Sigterm_QueuedSpansExportedBeforeTheServiceStops) {
  std::unique_ptr<OtlpCollector> collector = OtlpCollector::Start();
  ServiceProcess user({.binary = HERMES_USER_BIN,
                       .ca = &SharedTestCa(),
                       .extra_args = {"--data_dir=" + SharedTestCa().dir() + "/tracing-stop-data"},
                       .extra_env = {"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector->endpoint(),
                                     "OTEL_BSP_SCHEDULE_DELAY=600000"}});
  ASSERT_TRUE(user.WaitUntilServing());
  ASSERT_EQ(GetMissingUser(user), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(collector->Spans().empty()) << "exported before the stop: the test proves nothing";

  user.process().Signal(SIGTERM);
  ASSERT_EQ(user.process().WaitForExit(absl::Seconds(30)), 0) << user.Output();
  const std::vector<OtlpCollector::ReceivedSpan> spans = collector->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].span.name(), "user.v1.UserService/GetUser");
  const std::optional<absl::Time> stopped = LoggedAt(user.Output(), "stopped");
  ASSERT_TRUE(stopped.has_value()) << user.Output();
  EXPECT_LT(spans[0].received_at, *stopped)
      << "exported " << absl::FormatDuration(spans[0].received_at - *stopped)
      << " after \"stopped\"";
}

}  // namespace
}  // namespace hermes::testing
