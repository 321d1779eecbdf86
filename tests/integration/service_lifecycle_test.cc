// The service executables as an operator meets them: they start on the address they are
// given, report SERVING, answer reflection for a real third-party client (buf curl), refuse a
// port that is taken, and stop cleanly on SIGTERM.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/network.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);
constexpr absl::Duration kStopTimeout = absl::Seconds(20);

struct Binary {
  std::string name;
  std::string path;
  std::string service;  // full proto name of the service it serves
};

void PrintTo(const Binary& binary, std::ostream* out) { *out << binary.name; }

std::string PrintBinary(const ::testing::TestParamInfo<Binary>& info) { return info.param.name; }

class ServiceLifecycleTest : public ::testing::TestWithParam<Binary> {
 protected:
  std::shared_ptr<grpc::Channel> Channel(int port) { return TestChannel(LoopbackAddress(port)); }
};

bool ExitedWith(const std::optional<int>& status, int code) {
  return status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

TEST_P(ServiceLifecycleTest, Start_ReportsServingForServerAndService_NotFoundForUnknown) {
  const int port = PickFreePort();
  Subprocess server(
      {GetParam().path, absl::StrCat("--grpc_addr=", LoopbackAddress(port)), "--insecure"});
  auto channel = Channel(port);
  ASSERT_TRUE(WaitForServing(channel, "", kStartTimeout).ok()) << server.Output();
  EXPECT_TRUE(WaitForServing(channel, GetParam().service, absl::Seconds(5)).ok());

  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.v1.Service");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(ServiceLifecycleTest, Reflection_ListsServiceToBufCurl) {
  const int port = PickFreePort();
  Subprocess server(
      {GetParam().path, absl::StrCat("--grpc_addr=", LoopbackAddress(port)), "--insecure"});
  ASSERT_TRUE(WaitForServing(Channel(port), "", kStartTimeout).ok()) << server.Output();

  const CommandResult listed =
      RunCommand({HERMES_BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                  "--list-services", absl::StrCat("http://", LoopbackAddress(port))},
                 absl::Seconds(30));
  ASSERT_TRUE(listed.Succeeded()) << listed.output;
  EXPECT_NE(listed.output.find(GetParam().service), std::string::npos) << listed.output;
}

TEST_P(ServiceLifecycleTest, Sigterm_ExitsZero) {
  const int port = PickFreePort();
  Subprocess server(
      {GetParam().path, absl::StrCat("--grpc_addr=", LoopbackAddress(port)), "--insecure"});
  ASSERT_TRUE(WaitForServing(Channel(port), "", kStartTimeout).ok()) << server.Output();
  server.Signal(SIGTERM);
  const std::optional<int> status = server.WaitForExit(kStopTimeout);
  EXPECT_TRUE(ExitedWith(status, 0)) << server.Output();
}

TEST_P(ServiceLifecycleTest, Sigint_ExitsZero) {
  const int port = PickFreePort();
  Subprocess server(
      {GetParam().path, absl::StrCat("--grpc_addr=", LoopbackAddress(port)), "--insecure"});
  ASSERT_TRUE(WaitForServing(Channel(port), "", kStartTimeout).ok()) << server.Output();
  server.Signal(SIGINT);
  EXPECT_TRUE(ExitedWith(server.WaitForExit(kStopTimeout), 0)) << server.Output();
}

TEST_P(ServiceLifecycleTest, PortTaken_SecondInstanceFailsWithClearMessage) {
  const int port = PickFreePort();
  const std::string address = absl::StrCat("--grpc_addr=", LoopbackAddress(port));
  Subprocess first({GetParam().path, address, "--insecure"});
  ASSERT_TRUE(WaitForServing(Channel(port), "", kStartTimeout).ok()) << first.Output();

  Subprocess second({GetParam().path, address, "--insecure"});
  const std::optional<int> status = second.WaitForExit(kStartTimeout);
  ASSERT_TRUE(status.has_value()) << "a second server on a taken port kept running";
  EXPECT_FALSE(ExitedWith(status, 0));
  EXPECT_NE(second.Output().find("cannot listen on"), std::string::npos) << second.Output();
  // The first one is untouched.
  EXPECT_TRUE(WaitForServing(Channel(port), "", absl::Seconds(5)).ok());
}

TEST_P(ServiceLifecycleTest, EnvironmentVariable_SetsFlag_AndFlagWins) {
  const int env_port = PickFreePort();
  Subprocess from_env({GetParam().path, "--insecure"},
                      {absl::StrCat("HERMES_GRPC_ADDR=", LoopbackAddress(env_port))});
  EXPECT_TRUE(WaitForServing(Channel(env_port), "", kStartTimeout).ok()) << from_env.Output();

  const int flag_port = PickFreePort();
  Subprocess flag_wins(
      {GetParam().path, "--insecure", absl::StrCat("--grpc_addr=", LoopbackAddress(flag_port))},
      {absl::StrCat("HERMES_GRPC_ADDR=", LoopbackAddress(env_port))});
  EXPECT_TRUE(WaitForServing(Channel(flag_port), "", kStartTimeout).ok()) << flag_wins.Output();
}

TEST_P(ServiceLifecycleTest, BadAddress_StopsStartupNamingTheFlag) {
  Subprocess server({GetParam().path, "--grpc_addr=localhost", "--insecure"});
  const std::optional<int> status = server.WaitForExit(kStartTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_FALSE(ExitedWith(status, 0));
  EXPECT_NE(server.Output().find("--grpc_addr=localhost"), std::string::npos) << server.Output();
}

INSTANTIATE_TEST_SUITE_P(Services, ServiceLifecycleTest,
                         ::testing::Values(Binary{"user", HERMES_USER_BIN, "user.v1.UserService"},
                                           Binary{"order", HERMES_ORDER_BIN,
                                                  "order.v1.OrderService"}),
                         PrintBinary);

}  // namespace
}  // namespace hermes::testing
