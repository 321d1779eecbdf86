#include "libs/telemetry/metrics.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/counter.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/network.h"

namespace hermes::telemetry {
namespace {

using ::testing::HasSubstr;

// Owns a socket descriptor.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// A blocking HTTP/1.0 GET to 127.0.0.1:<port>. Every socket operation gives up after 5 s, so a
// server that never answers fails the test instead of hanging it.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  Socket socket_fd(socket(AF_INET, SOCK_STREAM, 0));
  if (socket_fd.fd() < 0) return absl::InternalError(std::strerror(errno));
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(socket_fd.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(socket_fd.fd(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(socket_fd.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(socket_fd.fd(), request.data() + sent, request.size() - sent, 0);
    if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[4096];
  while (true) {
    const ssize_t n = recv(socket_fd.fd(), buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) return absl::DeadlineExceededError(absl::StrCat("recv: ", std::strerror(errno)));
    response.append(buffer, static_cast<size_t>(n));
  }
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::DataLossError("no end of headers: " + response);
  if (!absl::StartsWith(response, "HTTP/1.1 200") && !absl::StartsWith(response, "HTTP/1.0 200")) {
    return absl::UnknownError("not 200: " + response.substr(0, body));
  }
  return response.substr(body + 4);
}

// The value of the sample written as `series` ("name" or "name{labels}") in a text exposition.
std::optional<double> Sample(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      const std::string value(line.substr(0, line.find(' ')));  // a timestamp may follow
      char* end = nullptr;
      const double parsed = std::strtod(value.c_str(), &end);
      if (end != value.c_str()) return parsed;
    }
  }
  return std::nullopt;
}

// One endpoint for the suite's scrapes: they share the process-wide registry anyway.
class MetricsEndpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> started =
        MetricsEndpoint::Start("127.0.0.1:0", MetricsRegistry());
    ASSERT_TRUE(started.ok()) << started.status();
    endpoint_ = std::move(started).value().release();
  }
  static void TearDownTestSuite() {
    std::unique_ptr<MetricsEndpoint> owned(endpoint_);
    endpoint_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(endpoint_, nullptr) << "the endpoint did not start"; }

  static MetricsEndpoint* endpoint_;
};
MetricsEndpoint* MetricsEndpointTest::endpoint_ = nullptr;

TEST(MetricsRegistry, IsOneProcessWideInstance) {
  EXPECT_NE(MetricsRegistry(), nullptr);
  EXPECT_EQ(MetricsRegistry(), MetricsRegistry());
}

TEST_F(MetricsEndpointTest, PortZero_BindsARealPort) {
  EXPECT_GT(endpoint_->port(), 0);
  EXPECT_LT(endpoint_->port(), 65536);
}

TEST_F(MetricsEndpointTest, Scrape_ServesACounterOfTheRegistry) {
  prometheus::Counter& counter = prometheus::BuildCounter()
                                     .Name("hermes_telemetry_test_events_total")
                                     .Help("Events counted by the telemetry unit test.")
                                     .Register(*MetricsRegistry())
                                     .Add({{"case", "scrape"}});
  const double before = counter.Value();  // the registry is process-wide: runs add up
  counter.Increment(3);

  absl::StatusOr<std::string> body = HttpGet(endpoint_->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr("# TYPE hermes_telemetry_test_events_total counter"));
  EXPECT_EQ(Sample(*body, R"(hermes_telemetry_test_events_total{case="scrape"})"), before + 3)
      << *body;
}

TEST_F(MetricsEndpointTest, Scrape_ServesSaneProcessMetrics) {
  absl::StatusOr<std::string> body = HttpGet(endpoint_->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();

  const std::optional<double> resident = Sample(*body, "process_resident_memory_bytes");
  const std::optional<double> virtual_bytes = Sample(*body, "process_virtual_memory_bytes");
  const std::optional<double> cpu = Sample(*body, "process_cpu_seconds_total");
  const std::optional<double> open_fds = Sample(*body, "process_open_fds");
  const std::optional<double> max_fds = Sample(*body, "process_max_fds");
  const std::optional<double> start = Sample(*body, "process_start_time_seconds");
  ASSERT_TRUE(resident && virtual_bytes && cpu && open_fds && max_fds && start) << *body;

  EXPECT_GT(*resident, 0);
  EXPECT_GE(*virtual_bytes, *resident);
  EXPECT_GE(*cpu, 0);
  EXPECT_GT(*open_fds, 0);  // at least the listening socket and the accepted connection
  EXPECT_GE(*max_fds, *open_fds);
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(*start, now - 24 * 3600);
  EXPECT_LT(*start, now + 5);  // btime is whole seconds
  EXPECT_THAT(*body, HasSubstr("# TYPE process_cpu_seconds_total counter"));
  EXPECT_THAT(*body, HasSubstr("# TYPE process_resident_memory_bytes gauge"));
}

TEST_F(MetricsEndpointTest, SecondEndpointOnTheSamePort_FailsNamingTheAddress) {
  const std::string address = testing::LoopbackAddress(endpoint_->port());
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> second =
      MetricsEndpoint::Start(address, MetricsRegistry());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(address));

  // The first one is unharmed.
  absl::StatusOr<std::string> body = HttpGet(endpoint_->port(), "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
}

TEST(MetricsEndpoint, MalformedAddress_IsInvalidArgumentNamingTheAddress) {
  for (const char* address : {"", "9091", "localhost:9091", "127.0.0.1:", "127.0.0.1:http",
                              "127.0.0.1:70000", "1.2.3:9091", "[::1:9091", "[zz]:9091"}) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Start(address, MetricsRegistry());
    ASSERT_FALSE(endpoint.ok()) << address;
    EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(endpoint.status().message(), HasSubstr(absl::StrCat("\"", address, "\"")));
  }
}

// Without the destructor's wake-up connections, civetweb's listener sees the stop only at the end
// of its 2 s poll, and every service's exit took 2 s longer. The bound leaves a loaded machine a
// second of slack and still fails on that wait.
TEST(MetricsEndpoint, Stop_TakesWellUnderCivetwebsPollAndClosesThePort) {
  for (const char* address : {"127.0.0.1:0", "0.0.0.0:0"}) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Start(address, MetricsRegistry());
    ASSERT_TRUE(endpoint.ok()) << address << ": " << endpoint.status();
    const int port = (*endpoint)->port();
    ASSERT_TRUE(HttpGet(port, "/metrics").ok()) << address;

    const absl::Time start = absl::Now();
    endpoint->reset();
    EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << address;

    absl::StatusOr<std::string> after = HttpGet(port, "/metrics");
    EXPECT_FALSE(after.ok()) << address << ": still served after the stop";
  }
}

TEST(MetricsEndpoint, NullRegistry_IsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start("127.0.0.1:0", nullptr);
  ASSERT_FALSE(endpoint.ok());
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hermes::telemetry
