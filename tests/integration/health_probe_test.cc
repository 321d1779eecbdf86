// hermes-health-probe as a container health check runs it: the real binary against the real
// hermes-user over mTLS with certificates made at test time, one test per exit code of
// grpc_health_probe's contract (0 SERVING, 1 bad flags, 2 no connection, 3 rpc failure,
// 4 not SERVING).
//
// A draining hermes-user is not used for exit code 4: Serve() turns health NOT_SERVING and
// then at once stops listening (MarkNotServing, then Shutdown), so a new probe connection is
// refused (exit 2) and no window is left that a test could hit deterministically. A server in
// the test process whose health answers NOT_SERVING covers that code instead.
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/certs.h"
#include "tests/support/http.h"
#include "tests/support/network.h"
#include "tests/support/service_process.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {
namespace {

// Bounds every probe run: its own timeouts, and slack for ASan start-up.
constexpr absl::Duration kProbeTimeout = absl::Seconds(30);

// Runs the probe with timeouts generous enough for a loaded test machine; tests that expect no
// connection pass --connect_timeout=1s after them (the last occurrence of a flag wins).
CommandResult Probe(std::vector<std::string> args) {
  args.insert(args.begin(), {HERMES_PROBE_BIN, "--connect_timeout=5s", "--rpc_timeout=5s"});
  return RunCommand(std::move(args), kProbeTimeout);
}

// --tls_* flags presenting `files`' certificate and trusting `trusted_ca`.
std::vector<std::string> TlsFlags(const IdentityFiles& files, const std::string& trusted_ca) {
  return {"--tls_ca=" + trusted_ca, "--tls_cert=" + files.cert, "--tls_key=" + files.key};
}

::testing::AssertionResult ExitedWith(const CommandResult& result, int code) {
  if (!result.status.has_value()) {
    return ::testing::AssertionFailure() << "still running after " << kProbeTimeout << "\n"
                                         << result.output;
  }
  if (!WIFEXITED(*result.status) || WEXITSTATUS(*result.status) != code) {
    return ::testing::AssertionFailure() << "wait status " << *result.status << ", want exit "
                                         << code << "\n--- probe output ---\n"
                                         << result.output;
  }
  return ::testing::AssertionSuccess();
}

// Health as a draining server answers it, for every name.
class NotServingHealth final : public grpc::health::v1::Health::Service {
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* response) override {
    response->set_status(grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    return grpc::Status::OK;
  }
};

bool Contains(const std::string& output, const std::string& needle) {
  return output.find(needle) != std::string::npos;
}

class HealthProbeTest : public ::testing::Test {
 protected:
  // hermes-user over mTLS with the shared test CA, ready (SERVING) before the probe runs.
  ServiceProcess& StartUser(std::vector<std::string> extra_args = {}) {
    server_ = std::make_unique<ServiceProcess>(
        ServiceOptions{.binary = HERMES_USER_BIN, .ca = ca_, .extra_args = std::move(extra_args)});
    EXPECT_TRUE(server_->WaitUntilServing());
    return *server_;
  }

  // The probe as compose runs it: the user identity, trusting the real CA.
  CommandResult ProbeAsUser(const std::string& address, std::vector<std::string> extra_args = {}) {
    std::vector<std::string> args = TlsFlags(ca_->Identity("user"), ca_->ca_file());
    args.push_back("--addr=" + address);
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return Probe(std::move(args));
  }

  // --addr= a loopback port kept free for the test: connections to it are refused.
  std::string NobodysAddr() const { return "--addr=" + LoopbackAddress(nobody_.port()); }

  const CertificateAuthority* ca_ = &SharedTestCa();
  std::unique_ptr<ServiceProcess> server_;
  PortReservation nobody_;
};

TEST_F(HealthProbeTest, ServingServer_ValidIdentity_ExitsZeroAndPrintsServing) {
  ServiceProcess& user = StartUser();
  ASSERT_FALSE(HasFailure()) << user.Output();
  const CommandResult whole_server = ProbeAsUser(user.address());
  EXPECT_TRUE(ExitedWith(whole_server, 0));
  EXPECT_TRUE(Contains(whole_server.output, "status: SERVING")) << whole_server.output;

  const CommandResult one_service = ProbeAsUser(user.address(), {"--service=user.v1.UserService"});
  EXPECT_TRUE(ExitedWith(one_service, 0));
  EXPECT_TRUE(Contains(one_service.output, "status: SERVING")) << one_service.output;
}

TEST_F(HealthProbeTest, UnknownServiceName_ExitsThreeWithNotFound) {
  ServiceProcess& user = StartUser();
  ASSERT_FALSE(HasFailure()) << user.Output();
  const CommandResult result = ProbeAsUser(user.address(), {"--service=no.such.Service"});
  EXPECT_TRUE(ExitedWith(result, 3));
  EXPECT_TRUE(Contains(result.output, "NOT_FOUND")) << result.output;
}

TEST_F(HealthProbeTest, IdentityNotAllowedToCheckHealth_ExitsThreeWithPermissionDenied) {
  const std::string policy = ca_->dir() + "/policy-admin-only.json";
  WriteFileAtomically(policy,
                      R"({"rules": [{"identity": "spiffe://hermes/admin", "methods": ["*"]}]})");
  ServiceProcess& user = StartUser({"--authz_policy=" + policy});
  ASSERT_FALSE(HasFailure()) << user.Output();
  const CommandResult result = ProbeAsUser(user.address());
  EXPECT_TRUE(ExitedWith(result, 3));
  EXPECT_TRUE(Contains(result.output, "PERMISSION_DENIED")) << result.output;
}

TEST_F(HealthProbeTest, ClientCertificateFromAnotherCa_ExitsTwo) {
  CertificateAuthority rogue;
  ServiceProcess& user = StartUser();
  ASSERT_FALSE(HasFailure()) << user.Output();
  // A rogue identity that trusts the real server, but whose certificate the server refuses.
  const double checked_before = CallsStarted(user.metrics_port(), "grpc.health.v1.Health", "Check");
  ASSERT_GE(checked_before, 1);  // the start-up wait's own checks
  std::vector<std::string> args = TlsFlags(rogue.Identity("user"), ca_->ca_file());
  args.insert(args.end(), {"--addr=" + user.address(), "--connect_timeout=1s"});
  const CommandResult result = Probe(std::move(args));
  EXPECT_TRUE(ExitedWith(result, 2));
  // Refused in the handshake: no health check reached the server's handler.
  EXPECT_EQ(CallsStarted(user.metrics_port(), "grpc.health.v1.Health", "Check"), checked_before);
}

TEST_F(HealthProbeTest, TlsServerName_ServerCertificateWithoutThatName_ExitsTwo) {
  ServiceProcess& user = StartUser();
  ASSERT_FALSE(HasFailure()) << user.Output();
  // The user server's certificate names localhost, user, hermes-user and the loopback addresses.
  EXPECT_TRUE(ExitedWith(ProbeAsUser(user.address(), {"--tls_server_name=hermes-user"}), 0));
  EXPECT_TRUE(ExitedWith(
      ProbeAsUser(user.address(), {"--tls_server_name=hermes-order", "--connect_timeout=1s"}), 2));
}

TEST_F(HealthProbeTest, PlaintextProbeAgainstMutualTlsServer_ExitsTwo) {
  ServiceProcess& user = StartUser();
  ASSERT_FALSE(HasFailure()) << user.Output();
  const CommandResult result =
      Probe({"--addr=" + user.address(), "--insecure", "--connect_timeout=1s"});
  EXPECT_TRUE(ExitedWith(result, 2));
  EXPECT_TRUE(Contains(result.output, user.address())) << result.output;
}

TEST_F(HealthProbeTest, NothingListening_ExitsTwoWithinConnectTimeout) {
  const absl::Time start = absl::Now();
  const CommandResult result =
      ProbeAsUser(LoopbackAddress(nobody_.port()), {"--connect_timeout=1s"});
  EXPECT_TRUE(ExitedWith(result, 2));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "1 s connect timeout plus start-up";
}

TEST_F(HealthProbeTest, NotServingAnswer_ExitsFour) {
  NotServingHealth health;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  const CommandResult result = Probe({"--addr=" + LoopbackAddress(port), "--insecure"});
  EXPECT_TRUE(ExitedWith(result, 4));
  EXPECT_TRUE(Contains(result.output, "NOT_SERVING")) << result.output;
  server->Shutdown(std::chrono::system_clock::now());
}

TEST_F(HealthProbeTest, MissingCertificateFile_ExitsOneNamingTheFlag) {
  IdentityFiles files = ca_->Identity("user");
  files.cert = ca_->dir() + "/no-such-cert.pem";
  std::vector<std::string> args = TlsFlags(files, ca_->ca_file());
  args.push_back(NobodysAddr());
  const CommandResult result = Probe(std::move(args));
  EXPECT_TRUE(ExitedWith(result, 1));
  EXPECT_TRUE(Contains(result.output, "--tls_cert=")) << result.output;
}

TEST_F(HealthProbeTest, MissingAddr_ExitsOne) {
  const CommandResult result = Probe(TlsFlags(ca_->Identity("user"), ca_->ca_file()));
  EXPECT_TRUE(ExitedWith(result, 1));
  EXPECT_TRUE(Contains(result.output, "--addr is required")) << result.output;
}

TEST_F(HealthProbeTest, OtherInvalidFlags_ExitOne) {
  EXPECT_TRUE(ExitedWith(Probe({NobodysAddr()}), 1)) << "neither mTLS nor --insecure";
  EXPECT_TRUE(ExitedWith(Probe({NobodysAddr(), "--insecure", "--connect_timeout=0s"}), 1));
  EXPECT_TRUE(ExitedWith(Probe({NobodysAddr(), "--insecure", "--no_such_flag"}), 1));
  EXPECT_TRUE(ExitedWith(Probe({NobodysAddr(), "--insecure", "stray"}), 1));
}

TEST_F(HealthProbeTest, Help_DocumentsEveryFlagAndTheExitCodes) {
  const CommandResult help = Probe({"--help"});
  ASSERT_TRUE(help.status.has_value());
  for (const char* flag :
       {"--addr", "--service", "--tls_ca", "--tls_cert", "--tls_key", "--insecure",
        "--tls_server_name", "--connect_timeout", "--rpc_timeout", "--verbose"}) {
    EXPECT_TRUE(Contains(help.output, flag)) << flag << "\n" << help.output;
  }
  EXPECT_TRUE(Contains(help.output, "Exit codes")) << help.output;
}

}  // namespace
}  // namespace hermes::testing
