#include "libs/runtime/server_config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"

// Each service binary defines the flags whose default is its own; so does this test.
ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", hermes::runtime::kGrpcAddrHelp);

namespace hermes::runtime {
namespace {

class ServerConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("HERMES_GRPC_ADDR");
    unsetenv("HERMES_SHUTDOWN_GRACE");
  }
  absl::StatusOr<ServerConfig> Load(std::vector<std::string> args) {
    args.insert(args.begin(), "hermes-test");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    return LoadServerConfig(static_cast<int>(argv.size()), argv.data(), "test");
  }

  absl::FlagSaver saver_;  // every test starts from the defaults
};

TEST_F(ServerConfigTest, NoFlags_UsesDefaults) {
  auto config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_addr, "0.0.0.0:50051");
  EXPECT_FALSE(config->insecure);
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(10));
}

TEST_F(ServerConfigTest, EnvironmentVariable_SetsFlag) {
  setenv("HERMES_GRPC_ADDR", "127.0.0.1:7000", 1);
  setenv("HERMES_SHUTDOWN_GRACE", "250ms", 1);
  auto config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_addr, "127.0.0.1:7000");
  EXPECT_EQ(config->shutdown_grace, absl::Milliseconds(250));
}

TEST_F(ServerConfigTest, CommandLineFlag_WinsOverEnvironment) {
  setenv("HERMES_GRPC_ADDR", "127.0.0.1:7000", 1);
  auto config = Load({"--grpc_addr=127.0.0.1:7001"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_addr, "127.0.0.1:7001");
}

TEST_F(ServerConfigTest, UnparsableEnvironmentValue_IsAnErrorNamingTheVariable) {
  setenv("HERMES_SHUTDOWN_GRACE", "soon", 1);
  auto config = Load({});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("HERMES_SHUTDOWN_GRACE=soon"), std::string::npos)
      << config.status();
}

TEST_F(ServerConfigTest, AddressWithoutPort_IsAnErrorNamingTheFlag) {
  for (const char* bad : {"localhost", ":50051", "host:99999", "host:port"}) {
    auto config = Load({std::string("--grpc_addr=") + bad});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(config.status().message().find("--grpc_addr"), std::string::npos);
  }
}

TEST_F(ServerConfigTest, Ipv6AndPortZero_AreAccepted) {
  EXPECT_TRUE(Load({"--grpc_addr=[::1]:0"}).ok());
}

TEST_F(ServerConfigTest, NegativeGrace_IsRejected) {
  EXPECT_FALSE(Load({"--shutdown_grace=-1s"}).ok());
}

TEST(EnvironmentVariableForTest, UpperCasesWithPrefix) {
  EXPECT_EQ(EnvironmentVariableFor("grpc_addr"), "HERMES_GRPC_ADDR");
  EXPECT_EQ(EnvironmentVariableFor("tls_ca"), "HERMES_TLS_CA");
}

}  // namespace
}  // namespace hermes::runtime
