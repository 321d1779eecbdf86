// OtlpExporter against a real in-test OTLP/gRPC collector: resource, scope, every span field and
// the ids byte for byte; endpoints; failures as statuses.
#include "libs/tracing/otlp_exporter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/support/network.h"
#include "tests/unit/libs/tracing/otlp_collector.h"

namespace hermes::tracing {
namespace {

using ::hermes::testing::AttributeOf;
using ::hermes::testing::OtlpCollector;
namespace otlp = ::opentelemetry::proto::trace::v1;

constexpr char kTrace[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kSpan[] = "b7ad6b7169203331";
constexpr char kParent[] = "00f067aa0ba902b7";

std::unique_ptr<SpanData> MakeSpan(std::shared_ptr<const InstrumentationScope> scope) {
  auto span = std::make_unique<SpanData>();
  span->scope = std::move(scope);
  span->context.trace_id = *TraceId::FromHex(kTrace);
  span->context.span_id = *SpanId::FromHex(kSpan);
  span->context.trace_flags = kSampledFlag;
  span->context.trace_state = "rojo=00f067aa0ba902b7";
  span->parent_span_id = *SpanId::FromHex(kParent);
  span->name = "user.v1.UserService/GetUser";
  span->kind = SpanKind::kServer;
  span->start_unix_nanos = 1700000000123456789;
  span->end_unix_nanos = 1700000000987654321;
  span->attributes = {{"rpc.system", std::string("grpc")},
                      {"rpc.grpc.status_code", int64_t{5}},
                      {"ratio", 0.25},
                      {"cached", true}};
  span->dropped_attributes_count = 2;
  span->status = SpanStatusCode::kError;
  span->status_description = "no such user";
  return span;
}

class OtlpExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = OtlpCollector::Start();
    ASSERT_NE(collector_, nullptr);
  }
  std::unique_ptr<OtlpExporter> Exporter(OtlpExporterOptions options = {}) {
    options.endpoint = collector_->endpoint();
    if (options.resource.empty()) {
      options.resource = {{"service.name", "user"}, {"deployment.environment", "test"}};
    }
    auto exporter = OtlpExporter::Create(options);
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    return exporter.ok() ? *std::move(exporter) : nullptr;
  }

  std::unique_ptr<OtlpCollector> collector_;
  std::shared_ptr<const InstrumentationScope> scope_ = std::make_shared<const InstrumentationScope>(
      InstrumentationScope{"hermes.interceptor", "1.0"});
};

TEST_F(OtlpExporterTest, Export_SendsResourceScopeAndEverySpanFieldByteForByte) {
  auto exporter = Exporter();
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  ASSERT_TRUE(exporter->Export(batch, absl::Now() + absl::Seconds(10)).ok());

  const auto requests = collector_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_EQ(requests[0].resource_spans_size(), 1);
  const auto& resource_spans = requests[0].resource_spans(0);
  const auto& resource = resource_spans.resource().attributes();
  ASSERT_EQ(resource.size(), 2);
  EXPECT_EQ(resource[0].key(), "service.name");
  EXPECT_EQ(resource[0].value().string_value(), "user");
  EXPECT_EQ(AttributeOf(resource, "deployment.environment"), "test");

  ASSERT_EQ(resource_spans.scope_spans_size(), 1);
  EXPECT_EQ(resource_spans.scope_spans(0).scope().name(), "hermes.interceptor");
  EXPECT_EQ(resource_spans.scope_spans(0).scope().version(), "1.0");
  ASSERT_EQ(resource_spans.scope_spans(0).spans_size(), 1);
  const otlp::Span& span = resource_spans.scope_spans(0).spans(0);

  const std::string trace_bytes("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c",
                                16);
  const std::string span_bytes("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8);
  const std::string parent_bytes("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8);
  EXPECT_EQ(span.trace_id(), trace_bytes);
  EXPECT_EQ(span.span_id(), span_bytes);
  EXPECT_EQ(span.parent_span_id(), parent_bytes);
  EXPECT_EQ(span.trace_state(), "rojo=00f067aa0ba902b7");
  EXPECT_EQ(span.name(), "user.v1.UserService/GetUser");
  EXPECT_EQ(span.kind(), otlp::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(span.start_time_unix_nano(), 1700000000123456789u);
  EXPECT_EQ(span.end_time_unix_nano(), 1700000000987654321u);
  ASSERT_EQ(span.attributes_size(), 4);
  EXPECT_EQ(span.attributes(0).key(), "rpc.system");
  EXPECT_EQ(span.attributes(0).value().string_value(), "grpc");
  EXPECT_EQ(span.attributes(1).value().int_value(), 5);
  EXPECT_EQ(span.attributes(2).value().double_value(), 0.25);
  EXPECT_TRUE(span.attributes(3).value().bool_value());
  EXPECT_EQ(span.dropped_attributes_count(), 2u);
  EXPECT_EQ(span.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(span.status().message(), "no such user");
}

TEST_F(OtlpExporterTest, RootSpanAndUnsetStatus_HaveNoParentIdAndNoStatus) {
  auto exporter = Exporter();
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  batch[0]->parent_span_id = SpanId();
  batch[0]->status = SpanStatusCode::kUnset;
  batch[0]->status_description.clear();
  ASSERT_TRUE(exporter->Export(batch, absl::Now() + absl::Seconds(10)).ok());
  const auto spans = collector_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_TRUE(spans[0].span.parent_span_id().empty());
  EXPECT_FALSE(spans[0].span.has_status());
}

TEST_F(OtlpExporterTest, SpansOfTwoScopes_GoInTwoScopeSpans) {
  auto exporter = Exporter();
  auto other =
      std::make_shared<const InstrumentationScope>(InstrumentationScope{"hermes.handler", ""});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  batch.push_back(MakeSpan(other));
  batch.push_back(MakeSpan(scope_));
  const auto request = exporter->BuildRequest(batch);
  ASSERT_EQ(request.resource_spans_size(), 1);
  ASSERT_EQ(request.resource_spans(0).scope_spans_size(), 2);
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).scope().name(), "hermes.interceptor");
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(request.resource_spans(0).scope_spans(1).scope().name(), "hermes.handler");
  EXPECT_EQ(request.resource_spans(0).scope_spans(1).spans_size(), 1);
}

TEST_F(OtlpExporterTest, Headers_AreSentWithEveryExport) {
  auto exporter = Exporter({.headers = {{"x-api-key", "secret"}}});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  ASSERT_TRUE(exporter->Export(batch, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(collector_->LastHeader("x-api-key"), "secret");
}

TEST_F(OtlpExporterTest, CollectorDown_ExportFailsQuicklyWithUnavailable) {
  const int port = collector_->port();
  collector_.reset();  // nothing listens there any more
  auto exporter = OtlpExporter::Create({.endpoint = "http://127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(exporter.ok());
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  const absl::Time start = absl::Now();
  const absl::Status status = (*exporter)->Export(batch, absl::Now() + absl::Seconds(30));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// While the collector is down the exporter fails fast without building requests; once it is
// back on the same address, exports go through again (after gRPC's reconnect backoff).
TEST_F(OtlpExporterTest, CollectorDownThenBack_ExportsSucceedAgain) {
  const int port = collector_->port();
  auto exporter = Exporter();
  collector_.reset();
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(exporter->Export(batch, absl::Now() + absl::Seconds(5)).code(),
              absl::StatusCode::kUnavailable);
  }
  collector_ = OtlpCollector::Start(port);
  ASSERT_NE(collector_, nullptr);
  absl::Status status = absl::UnknownError("not tried");
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!status.ok() && absl::Now() < give_up) {
    status = exporter->Export(batch, absl::Now() + absl::Seconds(5));
    if (!status.ok()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(collector_->Requests().size(), 1u);
}

// Accepts every connection on 127.0.0.1:`port` and closes it at once, as a collector that is
// there but broken would: each of the exporter channel's connection attempts fails, and its time
// is recorded.
class ConnectionRecorder {
 public:
  explicit ConnectionRecorder(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    listening_ = fd_ >= 0 && setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
                 bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                 listen(fd_, 16) == 0;
    if (listening_) thread_ = std::thread([this] { Run(); });
  }
  ~ConnectionRecorder() {
    stop_.Notify();
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool listening() const { return listening_; }
  std::vector<absl::Time> attempts() {
    absl::MutexLock lock(&mu_);
    return attempts_;
  }

 private:
  void Run() {
    while (!stop_.HasBeenNotified()) {
      pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&ready, 1, /*timeout_ms=*/20) <= 0) continue;
      const int connection = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      close(connection);
      absl::MutexLock lock(&mu_);
      attempts_.push_back(absl::Now());
    }
  }

  int fd_ = -1;
  bool listening_ = false;
  absl::Notification stop_;
  absl::Mutex mu_;
  std::vector<absl::Time> attempts_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// While the collector is unreachable, the exporter's channel keeps trying at least once a probe
// interval (here 1 s, plus gRPC's 20 % jitter), instead of backing off towards gRPC's default
// 120 s (1, 1.6, 2.6, 4.1 s between attempts after the first ~10 s); so once the collector is back,
// exports resume within about a probe interval, however long the outage was.
TEST_F(OtlpExporterTest, LongOutage_ReconnectsAtLeastEveryProbeInterval_ThenResumes) {
  const int port = collector_->port();
  auto exporter = Exporter({.probe_interval = absl::Seconds(1)});
  collector_.reset();
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  std::vector<absl::Time> attempts;
  {
    ConnectionRecorder broken_collector(port);
    ASSERT_TRUE(broken_collector.listening());
    const absl::Time outage_ends = absl::Now() + absl::Seconds(12);
    while (absl::Now() < outage_ends) {  // the batches a busy service would send meanwhile
      EXPECT_FALSE(exporter->Export(batch, absl::Now() + absl::Seconds(5)).ok());
      absl::SleepFor(absl::Milliseconds(100));
    }
    attempts = broken_collector.attempts();
  }
  ASSERT_GE(attempts.size(), 6u) << "the channel stopped trying";
  absl::Duration longest_gap;
  for (size_t i = 1; i < attempts.size(); ++i) {
    longest_gap = std::max(longest_gap, attempts[i] - attempts[i - 1]);
  }
  EXPECT_LT(longest_gap, absl::Milliseconds(2500)) << attempts.size() << " attempts";

  collector_ = OtlpCollector::Start(port);
  ASSERT_NE(collector_, nullptr);
  const absl::Time back = absl::Now();
  absl::Status status = absl::UnknownError("not tried");
  while (!status.ok() && absl::Now() < back + absl::Seconds(30)) {
    status = exporter->Export(batch, absl::Now() + absl::Seconds(5));
    if (!status.ok()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_LT(absl::Now() - back, absl::Seconds(5));
}

TEST_F(OtlpExporterTest, PastDeadline_ExportFailsWithDeadlineExceeded) {
  auto exporter = Exporter();
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  EXPECT_EQ(exporter->Export(batch, absl::Now() - absl::Seconds(1)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

// What a shutdown whose time is up relies on: a collector that hangs cannot hold the exit for
// the rest of the export's own timeout (an hour here).
TEST_F(OtlpExporterTest, Abort_EndsTheExportInFlightAtOnce_LaterOnesFailWithoutACall) {
  auto exporter = Exporter({.timeout = absl::Hours(1)});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  collector_->Hold();
  absl::Status in_flight;
  absl::Notification returned;
  std::thread exporting([&] {
    in_flight = exporter->Export(batch, absl::Now() + absl::Hours(1));
    returned.Notify();
  });
  EXPECT_TRUE(collector_->AwaitHeld(1, absl::Seconds(10)));  // the call has reached it
  exporter->Abort();
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Seconds(10)));
  if (!returned.HasBeenNotified()) collector_->Release();  // lets it return: Abort did not
  exporting.join();
  EXPECT_EQ(in_flight.code(), absl::StatusCode::kCancelled) << in_flight;

  EXPECT_EQ(exporter->Export(batch, absl::Now() + absl::Hours(1)).code(),
            absl::StatusCode::kCancelled);
  EXPECT_FALSE(collector_->AwaitHeld(2, absl::ZeroDuration()));  // a call would have been held
  collector_->Release();
}

// A collector that answers "try again" (restarting, or under pressure) gets the batch again,
// after a backoff, instead of the spans being dropped at the first refusal (OTLP's retry rule).
TEST_F(OtlpExporterTest, TransientRefusal_RetriedWithBackoff_ThenDelivered) {
  auto exporter = Exporter({.retry_backoff = absl::Milliseconds(20)});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  collector_->Refuse(2, grpc::StatusCode::UNAVAILABLE);
  const absl::Time start = absl::Now();
  const absl::Status status = exporter->Export(batch, absl::Now() + absl::Seconds(30));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(16 + 32));  // two backoffs, less jitter
  EXPECT_EQ(collector_->Refused(), 2);
  EXPECT_EQ(collector_->Requests().size(), 1u);
}

TEST_F(OtlpExporterTest, PermanentRefusal_NotRetried) {
  auto exporter = Exporter({.retry_backoff = absl::Milliseconds(20)});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  for (grpc::StatusCode code : {grpc::StatusCode::INVALID_ARGUMENT,
                                grpc::StatusCode::RESOURCE_EXHAUSTED,  // without RetryInfo
                                grpc::StatusCode::UNAUTHENTICATED}) {
    collector_->Refuse(1, code);
    const absl::Status status = exporter->Export(batch, absl::Now() + absl::Seconds(30));
    EXPECT_EQ(static_cast<int>(status.code()), static_cast<int>(code)) << status;
  }
  EXPECT_EQ(collector_->Refused(), 3);
  EXPECT_TRUE(collector_->Requests().empty());
}

TEST_F(OtlpExporterTest, TransientRefusals_GiveUpAfterMaxAttempts_SayingHowMany) {
  auto exporter = Exporter({.max_attempts = 3, .retry_backoff = absl::Milliseconds(10)});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  collector_->Refuse(100, grpc::StatusCode::ABORTED);
  const absl::Status status = exporter->Export(batch, absl::Now() + absl::Seconds(30));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_NE(status.message().find("after 3 attempts"), absl::string_view::npos) << status;
  EXPECT_EQ(collector_->Refused(), 3);
}

// The export's deadline bounds the retries: no attempt is started that would wait past it.
TEST_F(OtlpExporterTest, TransientRefusal_NoRetryPastTheDeadline) {
  auto exporter = Exporter({.retry_backoff = absl::Seconds(2)});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  collector_->Refuse(100, grpc::StatusCode::UNAVAILABLE);
  const absl::Time start = absl::Now();
  const absl::Status status = exporter->Export(batch, absl::Now() + absl::Milliseconds(500));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));  // the backoff was not waited for
  EXPECT_EQ(collector_->Refused(), 1);
}

// A shutdown whose time is up does not wait for a backoff either.
TEST_F(OtlpExporterTest, Abort_EndsABackoffAtOnce) {
  // Without the Abort, the backoff would end within 36 s, and the export with it.
  auto exporter = Exporter({.max_attempts = 2, .retry_backoff = absl::Seconds(30)});
  std::vector<std::unique_ptr<SpanData>> batch;
  batch.push_back(MakeSpan(scope_));
  collector_->Refuse(100, grpc::StatusCode::UNAVAILABLE);
  absl::Status status;
  absl::Notification returned;
  std::thread exporting([&] {
    status = exporter->Export(batch, absl::InfiniteFuture());
    returned.Notify();
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (collector_->Refused() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  exporter->Abort();
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Seconds(10)));
  exporting.join();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(collector_->Refused(), 1);
}

TEST_F(OtlpExporterTest, EmptyBatch_SendsNothing) {
  auto exporter = Exporter();
  EXPECT_TRUE(exporter->Export({}, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_TRUE(collector_->Requests().empty());
}

TEST(OtlpExporterCreateTest, HttpsWithUnreadableCertificate_Fails) {
  auto exporter = OtlpExporter::Create(
      {.endpoint = "https://collector:4317", .certificate_file = "/nonexistent/ca.pem"});
  EXPECT_FALSE(exporter.ok());
}

TEST(OtlpExporterCreateTest, HttpsWithSystemRoots_IsCreated) {
  EXPECT_TRUE(OtlpExporter::Create({.endpoint = "https://collector.example:4317"}).ok());
}

TEST(ParseOtlpEndpointTest, SchemesPortsAndPaths) {
  struct Case {
    std::string endpoint;
    std::string target;
    bool tls;
  };
  for (const Case& c : std::vector<Case>{
           {"http://localhost:4317", "localhost:4317", false},
           {"https://collector:443", "collector:443", true},
           {"HTTPS://collector:443/", "collector:443", true},
           {"http://jaeger", "jaeger:4317", false},
           {"http://[::1]:4317", "[::1]:4317", false},
           {"http://[::1]", "[::1]:4317", false},
           {"collector:4317", "collector:4317", true},  // no scheme: TLS, as the spec says
           {"http://collector:4317/v1/traces", "collector:4317", false},
       }) {
    absl::StatusOr<OtlpEndpoint> parsed = ParseOtlpEndpoint(c.endpoint);
    ASSERT_TRUE(parsed.ok()) << c.endpoint << ": " << parsed.status();
    EXPECT_EQ(parsed->target, c.target) << c.endpoint;
    EXPECT_EQ(parsed->use_tls, c.tls) << c.endpoint;
  }
}

// OTEL_EXPORTER_OTLP_INSECURE applies only to an endpoint without a scheme.
TEST(ParseOtlpEndpointTest, Insecure_MakesOnlyASchemelessEndpointPlaintext) {
  EXPECT_FALSE(ParseOtlpEndpoint("collector:4317", /*insecure=*/true)->use_tls);
  EXPECT_TRUE(ParseOtlpEndpoint("https://collector:4317", /*insecure=*/true)->use_tls);
  EXPECT_FALSE(ParseOtlpEndpoint("http://collector:4317", /*insecure=*/false)->use_tls);
}

TEST(ParseOtlpEndpointTest, CredentialsInTheUrl_RefusedWithoutRepeatingThem) {
  for (const std::string endpoint :
       {"https://user:s3cret@collector:4317", "user:s3cret@collector:4317",
        "grpc://user:s3cret@collector:4317", "https://user:s3/cret@collector:4317"}) {
    const absl::Status status = ParseOtlpEndpoint(endpoint).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << endpoint;
    EXPECT_EQ(status.message().find("s3cret"), absl::string_view::npos) << status;
  }
}

TEST(ParseOtlpEndpointTest, Malformed_IsInvalidArgument) {
  for (const std::string endpoint :
       {"", "grpc://collector:4317", "http://", "http://:4317", "http://host:port",
        "http://host:70000", "http://[::1", "http://[::1]x"}) {
    EXPECT_EQ(ParseOtlpEndpoint(endpoint).status().code(), absl::StatusCode::kInvalidArgument)
        << endpoint;
  }
}

}  // namespace
}  // namespace hermes::tracing
