#include "libs/authz/authorization_processor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "tests/unit/libs/authz/fake_auth_context.h"

namespace hermes::authz {
namespace {

using hermes::testing::FakeAuthContext;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kGetUser[] = "/user.v1.UserService/GetUser";
constexpr char kListUsers[] = "/user.v1.UserService/ListUsers";
constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";

std::shared_ptr<const Policy> MakePolicy(const std::string& json) {
  absl::StatusOr<Policy> policy = Policy::Parse(json);
  EXPECT_TRUE(policy.ok()) << policy.status();
  if (!policy.ok()) return nullptr;  // denies everything: the test fails on the line above
  return std::make_shared<const Policy>(*std::move(policy));
}

// The metadata gRPC passes for one call; the strings must outlive the string_refs.
class CallMetadata {
 public:
  explicit CallMetadata(std::string path) : path_(std::move(path)) {
    metadata_.emplace(":path", path_);
    metadata_.emplace(":authority", authority_);
    metadata_.emplace("content-type", content_type_);
  }
  const grpc::AuthMetadataProcessor::InputMetadata& get() const { return metadata_; }

 private:
  std::string path_;
  std::string authority_ = "localhost:50051";
  std::string content_type_ = "application/grpc";
  grpc::AuthMetadataProcessor::InputMetadata metadata_;
};

class AuthorizationProcessorTest : public ::testing::Test {
 protected:
  AuthorizationProcessorTest()
      : policy_(MakePolicy(R"({"rules": [
            {"identity": "spiffe://hermes/order", "methods": ["/user.v1.UserService/GetUser"]},
            {"identity": "*", "methods": ["/grpc.health.v1.Health/*"]}]})")),
        processor_(
            [this] {
              absl::MutexLock lock(&mu_);
              return policy_;
            },
            [this](absl::string_view identity, absl::string_view method) {
              absl::MutexLock lock(&mu_);
              denials_.emplace_back(std::string(identity), std::string(method));
            }) {}

  static FakeAuthContext PeerWithSan(const std::string& san) {
    FakeAuthContext context;
    context.AddProperty("x509_subject_alternative_name", "order.hermes.internal");
    context.AddProperty("x509_subject_alternative_name", san);
    context.AddProperty("peer_uri", san);  // gRPC lists a URI SAN in both
    return context;
  }

  grpc::Status Call(const std::string& method, grpc::AuthContext& context) {
    grpc::AuthMetadataProcessor::OutputMetadata consumed;
    grpc::AuthMetadataProcessor::OutputMetadata response;
    const CallMetadata metadata(method);
    grpc::Status status = processor_.Process(metadata.get(), &context, &consumed, &response);
    EXPECT_TRUE(consumed.empty()) << "the processor must leave the call's metadata alone";
    return status;
  }

  std::vector<std::pair<std::string, std::string>> denials() {
    absl::MutexLock lock(&mu_);
    return denials_;
  }

  void SetPolicy(std::shared_ptr<const Policy> policy) {
    absl::MutexLock lock(&mu_);
    policy_ = std::move(policy);
  }

  absl::Mutex mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> denials_ ABSL_GUARDED_BY(mu_);
  AuthorizationProcessor processor_;
};

TEST_F(AuthorizationProcessorTest, IsBlocking_IsFalse) { EXPECT_FALSE(processor_.IsBlocking()); }

TEST_F(AuthorizationProcessorTest, AllowedCall_IsOkAndNotReported) {
  FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
  const grpc::Status status = Call(kGetUser, context);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(denials().empty());
}

TEST_F(AuthorizationProcessorTest, DeniedCall_IsPermissionDeniedNamingIdentityAndMethod) {
  FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
  const grpc::Status status = Call(kListUsers, context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "spiffe://hermes/order may not call /user.v1.UserService/ListUsers");
  EXPECT_THAT(denials(), ElementsAre(Pair("spiffe://hermes/order", kListUsers)));
}

TEST_F(AuthorizationProcessorTest, PeerWithoutSpiffeId_IsDeniedAsUnauthenticatedPeer) {
  FakeAuthContext context;
  context.AddProperty("x509_subject_alternative_name", "order.hermes.internal");
  const grpc::Status status = Call(kHealthCheck, context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "unauthenticated peer may not call /grpc.health.v1.Health/Check");
  EXPECT_THAT(denials(), ElementsAre(Pair("", kHealthCheck)));
}

TEST_F(AuthorizationProcessorTest, AnyVerifiedPeer_MayCallHealth) {
  FakeAuthContext context = PeerWithSan("spiffe://hermes/stranger");
  EXPECT_TRUE(Call(kHealthCheck, context).ok());
  EXPECT_EQ(Call(kGetUser, context).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthorizationProcessorTest, CallWithoutPath_IsDenied) {
  FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
  grpc::AuthMetadataProcessor::InputMetadata no_path;
  grpc::AuthMetadataProcessor::OutputMetadata consumed;
  grpc::AuthMetadataProcessor::OutputMetadata response;
  const grpc::Status status = processor_.Process(no_path, &context, &consumed, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denials(), ElementsAre(Pair("spiffe://hermes/order", "")));
}

TEST_F(AuthorizationProcessorTest, Identity_IsRecordedOnTheContextOncePerConnection) {
  FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
  ASSERT_TRUE(Call(kGetUser, context).ok());
  ASSERT_FALSE(Call(kListUsers, context).ok());
  ASSERT_TRUE(Call(kHealthCheck, context).ok());

  // The context is the connection's: one property however many calls it carries.
  const std::vector<grpc::string_ref> recorded =
      context.FindPropertyValues(std::string(kIdentityProperty));
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0], "spiffe://hermes/order");
}

TEST_F(AuthorizationProcessorTest, PeerWithoutSpiffeId_IsRecordedAsEmptyIdentity) {
  FakeAuthContext context;
  ASSERT_FALSE(Call(kHealthCheck, context).ok());
  const std::vector<grpc::string_ref> recorded =
      context.FindPropertyValues(std::string(kIdentityProperty));
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0], "");
}

TEST_F(AuthorizationProcessorTest, ConcurrentFirstCallsOnOneConnection_RecordTheIdentityOnce) {
  // gRPC may process several calls of a new connection at once, all on its one auth context.
  // Released together, the threads race for the first call's recording; repeat to give a lost
  // race (a second property, or a crash in the property list) many chances to show.
  constexpr int kConnections = 50;
  constexpr int kCallsAtOnce = 8;
  for (int connection = 0; connection < kConnections; ++connection) {
    FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
    std::atomic<bool> go = false;
    std::atomic<int> allowed = 0;
    std::vector<std::thread> calls;
    for (int i = 0; i < kCallsAtOnce; ++i) {
      calls.emplace_back([&] {
        while (!go) std::this_thread::yield();
        if (Call(kGetUser, context).ok()) ++allowed;
      });
    }
    go = true;
    for (std::thread& call : calls) call.join();
    ASSERT_EQ(allowed, kCallsAtOnce);
    ASSERT_EQ(context.FindPropertyValues(std::string(kIdentityProperty)).size(), 1u)
        << "connection " << connection;
  }
}

TEST_F(AuthorizationProcessorTest, PolicyReplacement_AppliesToTheNextCall) {
  FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
  ASSERT_FALSE(Call(kListUsers, context).ok());

  SetPolicy(MakePolicy(
      R"({"rules": [{"identity": "spiffe://hermes/order", "methods": ["/user.v1.UserService/*"]}]})"));

  EXPECT_TRUE(Call(kListUsers, context).ok());
}

TEST_F(AuthorizationProcessorTest, NoPolicy_DeniesEverything) {
  SetPolicy(nullptr);
  FakeAuthContext context = PeerWithSan("spiffe://hermes/order");
  EXPECT_EQ(Call(kGetUser, context).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denials(), ElementsAre(Pair("spiffe://hermes/order", kGetUser)));
}

}  // namespace
}  // namespace hermes::authz
