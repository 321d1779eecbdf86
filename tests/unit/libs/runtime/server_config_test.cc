#include "libs/runtime/server_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"

extern char** environ;

// Each service binary defines the flags whose default is its own; so does this test.
ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", hermes::runtime::kGrpcAddrHelp);
ABSL_FLAG(std::string, metrics_addr, "0.0.0.0:9091", hermes::runtime::kMetricsAddrHelp);
ABSL_FLAG(std::string, data_dir, "./var/user", hermes::runtime::kDataDirHelp);

namespace hermes::runtime {
namespace {

// Unsets every HERMES_* variable: the tests' own, and any the shell running them holds.
void UnsetHermesVariables() {
  std::vector<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("HERMES_", 0) == 0) names.push_back(entry.substr(0, entry.find('=')));
  }
  for (const std::string& name : names) unsetenv(name.c_str());
}

class ServerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { UnsetHermesVariables(); }
  void TearDown() override { UnsetHermesVariables(); }
  absl::StatusOr<ServerConfig> Load(std::vector<std::string> args) {
    args.insert(args.begin(), "hermes-test");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    return LoadServerConfig(static_cast<int>(argv.size()), argv.data(), "user", "test");
  }

  absl::FlagSaver saver_;  // every test starts from the defaults
};

TEST_F(ServerConfigTest, InsecureOnly_UsesArchitectureDefaults) {
  auto config = Load({"--insecure"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->service, "user");
  EXPECT_EQ(config->grpc_addr, "0.0.0.0:50051");
  EXPECT_EQ(config->metrics_addr, "0.0.0.0:9091");
  EXPECT_EQ(config->data_dir, "./var/user");
  EXPECT_EQ(config->database_url, "");
  EXPECT_EQ(config->authz_policy, "");
  EXPECT_EQ(config->log_level, spdlog::level::info);
  EXPECT_EQ(config->event_retention, 1000000);
  EXPECT_TRUE(config->insecure);
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(10));
}

TEST_F(ServerConfigTest, NoTlsFiles_WithoutInsecure_IsAnErrorNamingTheFlag) {
  auto config = Load({});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--tls_ca"), std::string::npos) << config.status();
  auto missing = Load({"--tls_ca=/no/such/ca.pem", "--tls_cert=/no/cert", "--tls_key=/no/key"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/no/such/ca.pem"), std::string::npos);
  auto directory = Load({"--tls_ca=/tmp", "--tls_cert=/tmp", "--tls_key=/tmp"});
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("--tls_ca=/tmp: not a readable file"),
            std::string::npos)
      << directory.status();
}

TEST_F(ServerConfigTest, BadValues_AreErrorsNamingTheFlag) {
  const std::pair<const char*, const char*> cases[] = {
      {"--log_level=loud", "--log_level"},
      {"--event_retention=0", "--event_retention"},
      {"--database_url=mysql://x", "--database_url"},
      {"--database_url=postgresql://hermes@db/users", "--database_url"},
      {"--database_url=sqlite://relative.db", "--database_url"},
      {"--metrics_addr=9091", "--metrics_addr"},
      // A host name serves gRPC (it resolves), never /metrics (civetweb binds numbers only):
      // refused here, before the store is opened, not once the service tries to serve.
      {"--metrics_addr=localhost:9091", "--metrics_addr"},
      {"--metrics_addr=0.0.0.0:+9091", "--metrics_addr"},
      {"--grpc_addr=0.0.0.0: 50051", "--grpc_addr"},
      // A directory passes access(R_OK): it is not a file either.
      {"--authz_policy=/tmp", "--authz_policy"},
      {"--reload_interval=10ms", "--reload_interval"},
      {"--authz_policy=/no/such/policy.json", "--authz_policy"}};
  for (const auto& [flag, named] : cases) {
    absl::FlagSaver each_case_from_defaults;
    auto config = Load({"--insecure", flag});
    ASSERT_FALSE(config.ok()) << flag;
    EXPECT_NE(config.status().message().find(named), std::string::npos) << config.status();
  }
}

TEST_F(ServerConfigTest, DatabaseUrl_NotEchoedInTheError_ItMayHoldAPassword) {
  auto config = Load({"--insecure", "--database_url=postgresql://hermes:s3cret@db/users"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find("s3cret"), std::string::npos) << config.status();
  EXPECT_NE(config.status().message().find("PostgreSQL is not supported"), std::string::npos)
      << config.status();
  auto other = Load({"--insecure", "--database_url=mysql://hermes:s3cret@db/users"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().message().find("s3cret"), std::string::npos) << other.status();
}

TEST_F(ServerConfigTest, SqliteDatabaseUrl_Accepted) {
  auto config = Load({"--insecure", "--database_url=sqlite:///var/lib/hermes/user.db"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->database_url, "sqlite:///var/lib/hermes/user.db");
}

TEST_F(ServerConfigTest, EnvironmentVariable_SetsFlag) {
  setenv("HERMES_GRPC_ADDR", "127.0.0.1:7000", 1);
  setenv("HERMES_SHUTDOWN_GRACE", "250ms", 1);
  auto config = Load({"--insecure"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_addr, "127.0.0.1:7000");
  EXPECT_EQ(config->shutdown_grace, absl::Milliseconds(250));
}

TEST_F(ServerConfigTest, CommandLineFlag_WinsOverEnvironment) {
  setenv("HERMES_GRPC_ADDR", "127.0.0.1:7000", 1);
  auto config = Load({"--insecure", "--grpc_addr=127.0.0.1:7001"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_addr, "127.0.0.1:7001");
}

TEST_F(ServerConfigTest, UnparsableEnvironmentValue_OfAFlagGivenOnTheCommandLine_IsNotRead) {
  setenv("HERMES_SHUTDOWN_GRACE", "soon", 1);
  setenv("HERMES_INSECURE", "", 1);  // not a bool: overridden by --noinsecure, then --insecure
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--insecure", "--shutdown_grace=2s"},
        {"--insecure", "-shutdown_grace", "2s"},
        {"--noinsecure", "--insecure", "--shutdown_grace", "2s"}}) {
    auto config = Load(args);
    ASSERT_TRUE(config.ok()) << config.status() << " " << args[1];
    EXPECT_EQ(config->shutdown_grace, absl::Seconds(2));
    EXPECT_TRUE(config->insecure);
  }
}

TEST_F(ServerConfigTest, UnparsableEnvironmentValue_IsAnErrorNamingTheVariable) {
  setenv("HERMES_SHUTDOWN_GRACE", "soon", 1);
  auto config = Load({"--insecure"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("HERMES_SHUTDOWN_GRACE=soon"), std::string::npos)
      << config.status();
}

TEST_F(ServerConfigTest, AddressWithoutPort_IsAnErrorNamingTheFlag) {
  for (const char* bad : {"localhost", ":50051", "host:99999", "host:port"}) {
    auto config = Load({"--insecure", std::string("--grpc_addr=") + bad});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(config.status().message().find("--grpc_addr"), std::string::npos);
  }
}

TEST_F(ServerConfigTest, Ipv6AndPortZero_AreAccepted) {
  EXPECT_TRUE(Load({"--insecure", "--grpc_addr=[::1]:0"}).ok());
  EXPECT_TRUE(Load({"--insecure", "--metrics_addr=[::1]:0"}).ok());
  EXPECT_TRUE(Load({"--insecure", "--grpc_addr=localhost:0"}).ok());  // gRPC resolves names
}

TEST_F(ServerConfigTest, NegativeGrace_IsRejected) {
  EXPECT_FALSE(Load({"--insecure", "--shutdown_grace=-1s"}).ok());
}

TEST(EnvironmentVariableForTest, UpperCasesWithPrefix) {
  EXPECT_EQ(EnvironmentVariableFor("grpc_addr"), "HERMES_GRPC_ADDR");
  EXPECT_EQ(EnvironmentVariableFor("tls_ca"), "HERMES_TLS_CA");
}

}  // namespace
}  // namespace hermes::runtime
