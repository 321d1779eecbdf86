// The service executables as an operator meets them: they start on the addresses they are
// given, report SERVING over mTLS, answer reflection for a real third-party client (buf curl),
// refuse a port that is taken, read HERMES_* variables, and stop cleanly on SIGTERM/SIGINT/SIGHUP.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/certs.h"
#include "tests/support/network.h"
#include "tests/support/service_process.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {
namespace {

constexpr absl::Duration kStopTimeout = absl::Seconds(20);

struct Binary {
  std::string name;  // also the server identity in the test CA
  std::string path;
  std::string service;  // full proto name of the service it serves
};

void PrintTo(const Binary& binary, std::ostream* out) { *out << binary.name; }
std::string PrintBinary(const ::testing::TestParamInfo<Binary>& info) { return info.param.name; }

bool ExitedWith(const std::optional<int>& status, int code) {
  return status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

class ServiceLifecycleTest : public ::testing::TestWithParam<Binary> {
 protected:
  ServiceOptions Options(std::vector<std::string> extra_args = {}) const {
    return {.binary = GetParam().path,
            .ca = ca_,
            .server_identity = GetParam().name,
            .extra_args = std::move(extra_args)};
  }
  const CertificateAuthority* ca_ = &SharedTestCa();
};

TEST_P(ServiceLifecycleTest, Start_ReportsServingForServerAndService_NotFoundForUnknown) {
  ServiceProcess server(Options());
  ASSERT_TRUE(server.WaitUntilServing());
  EXPECT_TRUE(WaitForServing(server.Channel(), GetParam().service, absl::Seconds(5)).ok());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.v1.Service");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(grpc::health::v1::Health::NewStub(server.Channel())
                ->Check(&context, request, &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_P(ServiceLifecycleTest, Reflection_ListsServiceToBufCurlOverMutualTls) {
  ServiceProcess server(Options());
  ASSERT_TRUE(server.WaitUntilServing());
  const IdentityFiles admin = ca_->Identity("admin");
  const CommandResult listed = RunCommand(
      {HERMES_BUF, "curl", "--protocol", "grpc", "--cacert", admin.ca, "--cert", admin.cert,
       "--key", admin.key, "--list-services", absl::StrCat("https://", server.address())},
      absl::Seconds(30));
  ASSERT_TRUE(listed.Succeeded()) << listed.output;
  EXPECT_NE(listed.output.find(GetParam().service), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("grpc.health.v1.Health"), std::string::npos) << listed.output;
}

TEST_P(ServiceLifecycleTest, Insecure_ServesPlaintextAndWarns) {
  ServiceProcess server({.binary = GetParam().path});
  ASSERT_TRUE(server.WaitUntilServing());
  const CommandResult listed =
      RunCommand({HERMES_BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                  "--list-services", absl::StrCat("http://", server.address())},
                 absl::Seconds(30));
  ASSERT_TRUE(listed.Succeeded()) << listed.output;
  EXPECT_NE(listed.output.find(GetParam().service), std::string::npos) << listed.output;
  EXPECT_NE(server.Output().find("--insecure"), std::string::npos) << server.Output();
}

// A policy given with --insecure would read as in force; the log says that it is not.
TEST_P(ServiceLifecycleTest, InsecureWithAPolicy_WarnsThatThePolicyIsNotEnforced) {
  const std::string policy = absl::StrCat(HERMES_REPO, "/deploy/authz/policy.json");
  ServiceProcess server({.binary = GetParam().path, .extra_args = {"--authz_policy=" + policy}});
  ASSERT_TRUE(server.WaitUntilServing());
  EXPECT_TRUE(server.WaitForOutput("--authz_policy is not enforced with --insecure"))
      << server.Output();
}

TEST_P(ServiceLifecycleTest, Sigterm_ExitsZero) {
  ServiceProcess server(Options());
  ASSERT_TRUE(server.WaitUntilServing());
  server.process().Signal(SIGTERM);
  EXPECT_TRUE(ExitedWith(server.process().WaitForExit(kStopTimeout), 0)) << server.Output();
}

TEST_P(ServiceLifecycleTest, Sigint_ExitsZero) {
  ServiceProcess server(Options());
  ASSERT_TRUE(server.WaitUntilServing());
  server.process().Signal(SIGINT);
  EXPECT_TRUE(ExitedWith(server.process().WaitForExit(kStopTimeout), 0)) << server.Output();
}

// The terminal that ran `make up` or the service closes: a drain like SIGTERM's, logged as
// such, not the default death by SIGHUP that skips it (the spans, the store's close).
TEST_P(ServiceLifecycleTest, Sighup_DrainsAndExitsZero) {
  ServiceProcess server(Options());
  ASSERT_TRUE(server.WaitUntilServing());
  server.process().Signal(SIGHUP);
  EXPECT_TRUE(ExitedWith(server.process().WaitForExit(kStopTimeout), 0)) << server.Output();
  EXPECT_NE(server.Output().find("\"msg\":\"draining\""), std::string::npos) << server.Output();
}

// Ctrl-C and then a supervisor's SIGTERM (make up's Ctrl-C does exactly that): the second
// signal arrives while the first one's drain runs, changes nothing, and the exit is still 0,
// not death by the second signal.
TEST_P(ServiceLifecycleTest, SecondSignalDuringTheDrain_StillExitsZero) {
  ServiceProcess server(Options());
  ASSERT_TRUE(server.WaitUntilServing());
  server.process().Signal(SIGINT);
  server.process().Signal(SIGTERM);
  const std::optional<int> status = server.process().WaitForExit(kStopTimeout);
  EXPECT_TRUE(ExitedWith(status, 0))
      << (status.has_value() && WIFSIGNALED(*status) ? "killed by signal " : "status ")
      << (status.has_value() && WIFSIGNALED(*status) ? WTERMSIG(*status) : status.value_or(-1))
      << "\n"
      << server.Output();
  EXPECT_NE(server.Output().find("\"msg\":\"stopped\""), std::string::npos) << server.Output();
}

TEST_P(ServiceLifecycleTest, GrpcPortTaken_SecondInstanceFailsWithClearMessage) {
  ServiceProcess first(Options());
  ASSERT_TRUE(first.WaitUntilServing());
  ServiceProcess second(Options({absl::StrCat("--grpc_addr=", first.address())}));
  const std::optional<int> status = second.process().WaitForExit(kStopTimeout);
  ASSERT_TRUE(status.has_value()) << "a second server on a taken port kept running";
  EXPECT_TRUE(ExitedWith(status, 1)) << second.Output();
  EXPECT_NE(second.Output().find("cannot listen on"), std::string::npos) << second.Output();
  EXPECT_TRUE(WaitForServing(first.Channel(), "", absl::Seconds(5)).ok());
}

// Two instances on one data dir (a scaled-up compose service on a shared volume) would both
// write the same SQLite file; the second one stops at start-up and names the one that has it.
TEST_P(ServiceLifecycleTest, DataDirInUse_SecondInstanceFailsNamingTheHolder) {
  std::string data_dir = ::testing::TempDir() + "lifecycle_data_XXXXXX";
  ASSERT_NE(mkdtemp(data_dir.data()), nullptr);
  absl::Cleanup remove = [&data_dir] {
    std::error_code ignored;
    std::filesystem::remove_all(data_dir, ignored);
  };
  ServiceProcess first(Options({"--data_dir=" + data_dir}));
  ASSERT_TRUE(first.WaitUntilServing());
  ServiceProcess second(Options({"--data_dir=" + data_dir}));
  const std::optional<int> status = second.process().WaitForExit(kStopTimeout);
  ASSERT_TRUE(status.has_value()) << "a second server on a data dir in use kept running";
  EXPECT_TRUE(ExitedWith(status, 1)) << second.Output();
  EXPECT_NE(second.Output().find("in use by another process"), std::string::npos)
      << second.Output();
  EXPECT_NE(second.Output().find(absl::StrCat("\"holder_pid\":", first.process().pid())),
            std::string::npos)
      << second.Output();
  EXPECT_TRUE(WaitForServing(first.Channel(), "", absl::Seconds(5)).ok());

  // The lock goes with its holder, however it ends: after kill -9 the next instance starts.
  first.process().Signal(SIGKILL);
  ASSERT_TRUE(first.process().WaitForExit(kStopTimeout).has_value());
  ServiceProcess third(Options({"--data_dir=" + data_dir}));
  EXPECT_TRUE(third.WaitUntilServing());
}

TEST_P(ServiceLifecycleTest, EnvironmentVariable_SetsFlag_AndFlagWins) {
  ServiceProcess from_env({.binary = GetParam().path, .extra_env = {"HERMES_LOG_LEVEL=debug"}});
  ASSERT_TRUE(from_env.WaitUntilServing());
  // Health checks are logged at debug: the variable took effect.
  EXPECT_TRUE(from_env.WaitForOutput("/grpc.health.v1.Health/Check")) << from_env.Output();

  // ServiceProcess passes --grpc_addr: it wins over a variable that would not even parse.
  ServiceProcess flag_wins({.binary = GetParam().path, .extra_env = {"HERMES_GRPC_ADDR=bogus"}});
  EXPECT_TRUE(flag_wins.WaitUntilServing());

  // A bad value in a variable stops start-up, naming the flag.
  Subprocess bad_env(OnLoopback({GetParam().path, "--insecure"}), {"HERMES_LOG_LEVEL=nonsense"});
  EXPECT_TRUE(ExitedWith(bad_env.WaitForExit(kStopTimeout), 2)) << bad_env.Output();
  EXPECT_NE(bad_env.Output().find("--log_level"), std::string::npos) << bad_env.Output();
}

TEST_P(ServiceLifecycleTest, Sigterm_WhileAStreamIsOpen_HealthTurnsNotServingThenExitsZero) {
  ServiceProcess server(Options({"--shutdown_grace=30s"}));
  ASSERT_TRUE(server.WaitUntilServing());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto watch = grpc::health::v1::Health::NewStub(server.Channel())
                   ->Watch(&context, grpc::health::v1::HealthCheckRequest());
  grpc::health::v1::HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  ASSERT_EQ(update.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  const absl::Time signalled = absl::Now();
  server.process().Signal(SIGTERM);
  // The open stream is told first, while the server drains...
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // ...then it ends at once, UNAVAILABLE like the services' own streams, instead of holding the
  // drain for the grace period (30 s here: gRPC's default health service did), and the
  // process exits cleanly.
  while (watch->Read(&update)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(15)) << server.Output();
  EXPECT_TRUE(ExitedWith(server.process().WaitForExit(kStopTimeout), 0)) << server.Output();
}

TEST_P(ServiceLifecycleTest, BadAddress_StopsStartupNamingTheFlag) {
  Subprocess server(OnLoopback({GetParam().path, "--grpc_addr=localhost", "--insecure"}));
  const std::optional<int> status = server.WaitForExit(kStopTimeout);
  EXPECT_TRUE(ExitedWith(status, 2)) << server.Output();
  EXPECT_NE(server.Output().find("--grpc_addr=localhost"), std::string::npos) << server.Output();
}

TEST(OrderLifecycleTest, UserCallTimeoutNotPositive_StopsStartupNamingTheFlag) {
  for (const char* value : {"0s", "-1s"}) {
    Subprocess server(
        OnLoopback({HERMES_ORDER_BIN, "--insecure", absl::StrCat("--user_call_timeout=", value)}));
    EXPECT_TRUE(ExitedWith(server.WaitForExit(kStopTimeout), 2)) << server.Output();
    EXPECT_NE(server.Output().find("--user_call_timeout"), std::string::npos) << server.Output();
  }
}

TEST_P(ServiceLifecycleTest, Help_DocumentsEveryArchitectureFlag) {
  const CommandResult help = RunCommand({GetParam().path, "--help"}, absl::Seconds(20));
  ASSERT_TRUE(help.status.has_value());
  std::vector<std::string> flags = {
      "grpc_addr",       "metrics_addr",   "database_url",   "data_dir",     "tls_ca",
      "tls_cert",        "tls_key",        "insecure",       "authz_policy", "log_level",
      "event_retention", "shutdown_grace", "reload_interval"};
  if (GetParam().name == "order") flags.push_back("user_service_addr");
  for (const std::string& flag : flags) {
    EXPECT_NE(help.output.find(absl::StrCat("-", flag, " ")), std::string::npos)
        << flag << " missing from --help:\n"
        << help.output;
  }
}

// The defaults of ARCHITECTURE.md's flag table, as the binary has them (Prometheus's scrape
// configs and every client rely on the ports).
TEST_P(ServiceLifecycleTest, Help_ShowsTheArchitectureDefaults) {
  const CommandResult help = RunCommand({GetParam().path, "--help"}, absl::Seconds(20));
  ASSERT_TRUE(help.status.has_value());
  // The default absl's --help gives `flag`: its entry is `    --flag (help text); default: VALUE;`
  // over one or more lines, ended by the next entry.
  auto default_of = [&help](const std::string& flag) -> std::string {
    const size_t at = help.output.find(absl::StrCat("\n    --", flag, " ("));
    if (at == std::string::npos) return "(no such flag)";
    const size_t next = help.output.find("\n    --", at + 1);
    const size_t value = help.output.find("default: ", at);
    const size_t end = help.output.find(";\n", value);
    if (value == std::string::npos || end == std::string::npos || value > next) {
      return "(no default shown)";
    }
    return help.output.substr(value + 9, end - value - 9);
  };
  const bool user = GetParam().name == "user";
  EXPECT_EQ(default_of("grpc_addr"), user ? R"("0.0.0.0:50051")" : R"("0.0.0.0:50052")");
  EXPECT_EQ(default_of("metrics_addr"), user ? R"("0.0.0.0:9091")" : R"("0.0.0.0:9092")");
  EXPECT_EQ(default_of("data_dir"), user ? R"("./var/user")" : R"("./var/order")");
  EXPECT_EQ(default_of("database_url"), R"("")");  // SQLite under --data_dir
  EXPECT_EQ(default_of("insecure"), "false");
  EXPECT_EQ(default_of("log_level"), R"("info")");
  EXPECT_EQ(default_of("event_retention"), "1000000");
  if (!user) {
    EXPECT_EQ(default_of("user_service_addr"), R"("dns:///localhost:50051")");
  }
}

TEST_P(ServiceLifecycleTest, TlsKeyNotMatchingCertificate_StopsStartupNamingTheFlag) {
  // The admin key with the server's certificate: readable files, unusable pair.
  ServiceProcess server(Options({absl::StrCat("--tls_key=", ca_->Identity("admin").key)}));
  const std::optional<int> status = server.process().WaitForExit(kStopTimeout);
  EXPECT_TRUE(ExitedWith(status, 1)) << server.Output();
  EXPECT_TRUE(server.WaitForOutput("--tls_key=")) << server.Output();
}

INSTANTIATE_TEST_SUITE_P(Services, ServiceLifecycleTest,
                         ::testing::Values(Binary{"user", HERMES_USER_BIN, "user.v1.UserService"},
                                           Binary{"order", HERMES_ORDER_BIN,
                                                  "order.v1.OrderService"}),
                         PrintBinary);

}  // namespace
}  // namespace hermes::testing
