// mTLS and authorization as an outside client meets them, against the real hermes-user binary:
// who can connect at all, who may call what, and that operators can rotate certificates and
// change the policy without a restart.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/certs.h"
#include "tests/support/http.h"
#include "tests/support/network.h"
#include "tests/support/service_process.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {
namespace {

constexpr absl::Duration kReloadWait = absl::Seconds(15);

// One unary call of the user service on `channel` (an identity's), bounded; its status code.
template <typename Request, typename Response>
grpc::StatusCode CallUnary(const std::shared_ptr<grpc::Channel>& channel,
                           grpc::Status (::user::v1::UserService::Stub::*method)(
                               grpc::ClientContext*, const Request&, Response*),
                           const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  Response response;
  auto stub = ::user::v1::UserService::NewStub(channel);
  return ((*stub).*method)(&context, request, &response).error_code();
}

template <typename Request>
Request WithId(const std::string& id) {
  Request request;
  request.set_id(id);
  return request;
}

// Each method with a request its handler refuses, so that the answer shows the call got past
// authorization: an id no user has (NOT_FOUND), no email, a negative page size or sequence
// (INVALID_ARGUMENT).
grpc::StatusCode CallGetUser(const std::shared_ptr<grpc::Channel>& channel) {
  return CallUnary(channel, &::user::v1::UserService::Stub::GetUser,
                   WithId<::user::v1::GetUserRequest>("nobody"));
}

grpc::StatusCode CallDeleteUser(const std::shared_ptr<grpc::Channel>& channel) {
  return CallUnary(channel, &::user::v1::UserService::Stub::DeleteUser,
                   WithId<::user::v1::DeleteUserRequest>("nobody"));
}

grpc::StatusCode CallUpdateUser(const std::shared_ptr<grpc::Channel>& channel) {
  return CallUnary(channel, &::user::v1::UserService::Stub::UpdateUser,
                   WithId<::user::v1::UpdateUserRequest>("nobody"));
}

grpc::StatusCode CallCreateUser(const std::shared_ptr<grpc::Channel>& channel) {
  ::user::v1::CreateUserRequest request;
  request.set_email("not an email");
  return CallUnary(channel, &::user::v1::UserService::Stub::CreateUser, request);
}

grpc::StatusCode CallListUsers(const std::shared_ptr<grpc::Channel>& channel) {
  ::user::v1::ListUsersRequest request;
  request.mutable_page()->set_page_size(-1);
  return CallUnary(channel, &::user::v1::UserService::Stub::ListUsers, request);
}

grpc::StatusCode CallWatchUsers(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ::user::v1::WatchUsersRequest request;
  request.set_after_sequence(-1);
  auto stream = ::user::v1::UserService::NewStub(channel)->WatchUsers(&context, request);
  ::user::v1::WatchUsersResponse event;
  while (stream->Read(&event)) {
  }
  return stream->Finish().error_code();
}

grpc::StatusCode CallHealth(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  return grpc::health::v1::Health::NewStub(channel)
      ->Check(&context, grpc::health::v1::HealthCheckRequest(), &response)
      .error_code();
}

// Passing authorization, CallGetUser reaches the handler, which answers NOT_FOUND (no user has
// the id "nobody"); a refused call gets PERMISSION_DENIED, and anything else is a failure too.
bool ReachedHandler(grpc::StatusCode code) { return code == grpc::StatusCode::NOT_FOUND; }

// Polls `call` until it answers `wanted` or the (bounded) wait ends; returns the last answer.
template <typename Call>
grpc::StatusCode EventuallyAnswers(Call call, bool (*wanted)(grpc::StatusCode)) {
  const absl::Time deadline = absl::Now() + kReloadWait;
  grpc::StatusCode code = call();
  while (!wanted(code) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));  // the server checks files once a second
    code = call();
  }
  return code;
}

// hermes_config_last_reload_successful{config}: whether the files on disk are in force.
double ReloadSuccessful(const ServiceProcess& server, const std::string& config) {
  absl::StatusOr<std::string> body = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
  return MetricValue(body.value_or(""), "hermes_config_last_reload_successful",
                     {{"config", config}})
      .value_or(-1);
}

// Health checks that reached the server's chain: the handshake tests' witness that a refused
// client never got as far as a handler.
double HealthChecksServed(const ServiceProcess& server) {
  return CallsStarted(server.metrics_port(), "grpc.health.v1.Health", "Check");
}

class SecurityTest : public ::testing::Test {
 protected:
  const CertificateAuthority* ca_ = &SharedTestCa();
};

TEST_F(SecurityTest, Admin_OverMutualTls_ReachesEveryMethod) {
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(user.WaitUntilServing());
  const std::shared_ptr<grpc::Channel> admin = user.Channel("admin");
  EXPECT_EQ(CallCreateUser(admin), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CallGetUser(admin), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CallListUsers(admin), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CallUpdateUser(admin), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CallDeleteUser(admin), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CallWatchUsers(admin), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SecurityTest, ClientWithoutCertificate_FailsTheHandshake) {
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(user.WaitUntilServing());
  const double served_before = HealthChecksServed(user);
  grpc::SslCredentialsOptions no_certificate;
  no_certificate.pem_root_certs = ReadFile(ca_->ca_file());
  EXPECT_EQ(CallHealth(TestChannel(user.address(), grpc::SslCredentials(no_certificate))),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CallHealth(TestChannel(user.address())), grpc::StatusCode::UNAVAILABLE)
      << "plaintext must not reach an mTLS server";
  EXPECT_EQ(HealthChecksServed(user), served_before);
}

TEST_F(SecurityTest, CertificateFromAnotherCa_FailsTheHandshake) {
  CertificateAuthority rogue;
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(user.WaitUntilServing());
  const double served_before = HealthChecksServed(user);
  // A rogue admin that trusts the real server but whose certificate the server does not trust.
  EXPECT_EQ(
      CallHealth(TestChannel(user.address(), rogue.ClientCredentials("admin", ca_->ca_file()))),
      grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(HealthChecksServed(user), served_before);
}

TEST_F(SecurityTest, IdentityOutsideDefaultPolicy_PermissionDenied_LoggedAndCounted) {
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = ca_});
  ASSERT_TRUE(user.WaitUntilServing());
  // The order service may only GetUser; front-end clients may not delete.
  EXPECT_TRUE(ReachedHandler(CallGetUser(user.Channel("order"))));
  EXPECT_EQ(CallDeleteUser(user.Channel("order")), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CallDeleteUser(user.Channel("client")), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CallDeleteUser(user.Channel("client")), grpc::StatusCode::PERMISSION_DENIED);
  // Any verified peer may check health.
  EXPECT_EQ(CallHealth(user.Channel("client")), grpc::StatusCode::OK);

  absl::StatusOr<std::string> metrics = HttpGet(user.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(MetricValue(*metrics, "hermes_auth_denied_total",
                        {{"identity", "spiffe://hermes/client"},
                         {"grpc_service", "user.v1.UserService"},
                         {"grpc_method", "DeleteUser"}}),
            2);
  EXPECT_EQ(MetricValue(*metrics, "hermes_auth_denied_total",
                        {{"identity", "spiffe://hermes/order"},
                         {"grpc_service", "user.v1.UserService"},
                         {"grpc_method", "DeleteUser"}}),
            1);
  EXPECT_TRUE(user.WaitForOutput(
      R"("msg":"call denied by the authorization policy","method":"/user.v1.UserService/DeleteUser","peer":"spiffe://hermes/client")"))
      << user.Output();
}

// The identity is a certificate's one URI SAN under spiffe://hermes/, over a real handshake:
// two of them, one in another trust domain, or a DNS name spelled like one give no identity,
// and no rule (not even admin's, which these spell) lets such a caller through.
TEST_F(SecurityTest, CertificateWithoutExactlyOneHermesSpiffeId_PermissionDenied) {
  CertificateAuthority ca;
  ca.IssueWithSubjectAltName("admin-alone", "URI:spiffe://hermes/admin");
  ca.IssueWithSubjectAltName("two-ids", "URI:spiffe://hermes/admin,URI:spiffe://hermes/client");
  ca.IssueWithSubjectAltName("other-domain", "URI:spiffe://elsewhere/admin");
  ca.IssueWithSubjectAltName("dns-lookalike", "DNS:spiffe://hermes/admin");
  ServiceProcess user({.binary = HERMES_USER_BIN, .ca = &ca});
  ASSERT_TRUE(user.WaitUntilServing());
  const auto channel = [&](const std::string& name) {
    return TestChannel(user.address(), ca.ClientCredentials(name));
  };
  // The same issuing path with one proper id: the denials below are not a broken certificate.
  EXPECT_TRUE(ReachedHandler(CallGetUser(channel("admin-alone"))));
  for (const std::string name : {"two-ids", "other-domain", "dns-lookalike"}) {
    EXPECT_EQ(CallGetUser(channel(name)), grpc::StatusCode::PERMISSION_DENIED) << name;
    EXPECT_EQ(CallDeleteUser(channel(name)), grpc::StatusCode::PERMISSION_DENIED) << name;
  }
}

TEST_F(SecurityTest, PolicyFileEdit_TakesEffectWithoutRestart_BadEditKeepsOldPolicy) {
  const std::string policy = ca_->dir() + "/policy-edit.json";
  WriteFileAtomically(policy, R"({"rules": [
      {"identity": "*", "methods": ["/grpc.health.v1.Health/*"]}]})");
  ServiceProcess user({.binary = HERMES_USER_BIN,
                       .ca = ca_,
                       .extra_args = {"--authz_policy=" + policy, "--reload_interval=1s"}});
  ASSERT_TRUE(user.WaitUntilServing());
  ASSERT_EQ(CallGetUser(user.Channel("client")), grpc::StatusCode::PERMISSION_DENIED);

  WriteFileAtomically(policy, R"({"rules": [
      {"identity": "*", "methods": ["/grpc.health.v1.Health/*"]},
      {"identity": "spiffe://hermes/client", "methods": ["/user.v1.UserService/GetUser"]}]})");
  EXPECT_TRUE(ReachedHandler(
      EventuallyAnswers([&] { return CallGetUser(user.Channel("client")); }, ReachedHandler)))
      << user.Output();

  EXPECT_EQ(ReloadSuccessful(user, "authz_policy"), 1);

  WriteFileAtomically(policy, "{ this is not json");
  EXPECT_TRUE(user.WaitForOutput("rejected", kReloadWait)) << user.Output();
  EXPECT_TRUE(ReachedHandler(CallGetUser(user.Channel("client"))));
  EXPECT_EQ(ReloadSuccessful(user, "authz_policy"), 0);
}

TEST_F(SecurityTest, CertificateRotation_TakesEffectWithoutRestart) {
  // The server's files live behind a symlinked folder, swapped atomically as operators should.
  CertificateAuthority next;
  const std::string root = ca_->dir() + "/rotation";
  std::filesystem::create_directories(root);
  std::filesystem::create_directory_symlink(ca_->dir() + "/user", root + "/current.tmp");
  std::filesystem::rename(root + "/current.tmp", root + "/current");
  const std::string ca_bundle = root + "/ca.pem";
  WriteFileAtomically(ca_bundle, ReadFile(ca_->ca_file()));

  ServiceProcess user({.binary = HERMES_USER_BIN,
                       .ca = ca_,
                       .extra_args = {"--tls_cert=" + root + "/current/cert.pem",
                                      "--tls_key=" + root + "/current/key.pem",
                                      "--tls_ca=" + ca_bundle, "--reload_interval=1s"}});
  ASSERT_TRUE(user.WaitUntilServing());
  // A client of the next CA: it trusts only the next server certificate, and the server does
  // not trust its certificate yet.
  auto next_client = [&] {
    return CallHealth(TestChannel(user.address(), next.ClientCredentials("admin")));
  };
  ASSERT_EQ(next_client(), grpc::StatusCode::UNAVAILABLE);

  // Rotate: the server's certificate and key to the next CA's, and trust both CAs meanwhile.
  WriteFileAtomically(ca_bundle, ReadFile(ca_->ca_file()) + ReadFile(next.ca_file()));
  std::filesystem::create_directory_symlink(next.dir() + "/user", root + "/current.tmp");
  std::filesystem::rename(root + "/current.tmp", root + "/current");
  EXPECT_EQ(EventuallyAnswers(next_client,
                              [](grpc::StatusCode code) { return code == grpc::StatusCode::OK; }),
            grpc::StatusCode::OK)
      << user.Output();
}

TEST_F(SecurityTest, RotationWrittenFileByFile_NoHandshakeFails_TheHalfWayStateIsReported) {
  // The server's own copies of its files, replaced one at a time: not how operators are told to
  // rotate (a directory swap), but what a hand-written script does.
  CertificateAuthority next;
  const std::string root = ca_->dir() + "/in-place";
  std::filesystem::create_directories(root);
  const IdentityFiles user = ca_->Identity("user");
  const std::string ca = root + "/ca.pem", cert = root + "/cert.pem", key = root + "/key.pem";
  WriteFileAtomically(ca, ReadFile(user.ca) + ReadFile(next.ca_file()));
  WriteFileAtomically(cert, ReadFile(user.cert));
  WriteFileAtomically(key, ReadFile(user.key));
  ServiceProcess server({.binary = HERMES_USER_BIN,
                         .ca = ca_,
                         .extra_args = {"--tls_cert=" + cert, "--tls_key=" + key, "--tls_ca=" + ca,
                                        "--reload_interval=1s"}});
  ASSERT_TRUE(server.WaitUntilServing());
  EXPECT_EQ(ReloadSuccessful(server, "tls"), 1);
  absl::StatusOr<std::string> metrics = HttpGet(server.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const double expiry =
      MetricValue(*metrics, "hermes_tls_certificate_expiry_timestamp_seconds", {}).value_or(0);
  EXPECT_GT(expiry, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));

  // The next CA's key first: it does not match the certificate still there.
  WriteFileAtomically(key, ReadFile(next.Identity("user").key));
  ASSERT_TRUE(server.WaitForOutput(R"("msg":"configuration change rejected")", kReloadWait))
      << server.Output();
  EXPECT_THAT(server.Output(), ::testing::HasSubstr("does not match the certificate in " + cert));
  EXPECT_EQ(ReloadSuccessful(server, "tls"), 0);
  // Past gRPC's own re-read of its files (the reload interval): new clients still get in.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(CallHealth(TestChannel(server.address(), ca_->ClientCredentials("admin"))),
            grpc::StatusCode::OK);

  // Then the certificate: the pair is complete and goes in force.
  WriteFileAtomically(cert, ReadFile(next.Identity("user").cert));
  EXPECT_EQ(EventuallyAnswers(
                [&] {
                  return CallHealth(TestChannel(server.address(), next.ClientCredentials("admin")));
                },
                [](grpc::StatusCode code) { return code == grpc::StatusCode::OK; }),
            grpc::StatusCode::OK)
      << server.Output();
  EXPECT_EQ(ReloadSuccessful(server, "tls"), 1);
}

}  // namespace
}  // namespace hermes::testing
