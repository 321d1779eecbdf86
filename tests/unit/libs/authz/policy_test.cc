#include "libs/authz/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hermes::authz {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kAdmin[] = "spiffe://hermes/admin";
constexpr char kOrder[] = "spiffe://hermes/order";
constexpr char kClient[] = "spiffe://hermes/client";
constexpr char kStranger[] = "spiffe://hermes/stranger";

// A policy whose rules[2] is `bad_rule`, so that errors must name the right index.
std::string WithThirdRule(const std::string& bad_rule) {
  return absl::StrCat(R"({"rules": [
      {"identity": "spiffe://hermes/admin", "methods": ["*"]},
      {"identity": "*", "methods": ["/grpc.health.v1.Health/*"]},
      )",
                      bad_rule, "]}");
}

// ---- Allows ---------------------------------------------------------------------------------

TEST(PolicyTest, Allows_ExactMethod_MatchesOnlyThatMethod) {
  const absl::StatusOr<Policy> policy = Policy::Parse(R"({"rules": [
      {"identity": "spiffe://hermes/order", "methods": ["/user.v1.UserService/GetUser"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kOrder, "/user.v1.UserService/GetUser"));
  EXPECT_FALSE(policy->Allows(kOrder, "/user.v1.UserService/GetUsers"));
  EXPECT_FALSE(policy->Allows(kOrder, "/user.v1.UserService/ListUsers"));
  EXPECT_FALSE(policy->Allows(kOrder, "/user.v2.UserService/GetUser"));
  EXPECT_FALSE(policy->Allows(kOrder, "user.v1.UserService/GetUser"));
}

TEST(PolicyTest, Allows_ServiceWildcard_MatchesEveryMethodOfThatServiceOnly) {
  const absl::StatusOr<Policy> policy = Policy::Parse(R"({"rules": [
      {"identity": "spiffe://hermes/order", "methods": ["/grpc.health.v1.Health/*"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kOrder, "/grpc.health.v1.Health/Check"));
  EXPECT_TRUE(policy->Allows(kOrder, "/grpc.health.v1.Health/Watch"));
  EXPECT_FALSE(policy->Allows(kOrder, "/grpc.health.v1.HealthX/Check"));
  EXPECT_FALSE(policy->Allows(kOrder, "/grpc.health.v2.Health/Check"));
  EXPECT_FALSE(policy->Allows(kOrder, "/grpc.health.v1.Health"));
  EXPECT_FALSE(policy->Allows(kOrder, "/grpc.health.v1.Health/Check/Extra"));
  EXPECT_FALSE(policy->Allows(kOrder, "/user.v1.UserService/GetUser"));
}

TEST(PolicyTest, Allows_EverythingWildcard_MatchesAnyMethod) {
  const absl::StatusOr<Policy> policy =
      Policy::Parse(R"({"rules": [{"identity": "spiffe://hermes/admin", "methods": ["*"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kAdmin, "/user.v1.UserService/DeleteUser"));
  EXPECT_TRUE(policy->Allows(kAdmin, "/order.v1.OrderService/UploadOrderEvents"));
  EXPECT_TRUE(policy->Allows(kAdmin, "/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(policy->Allows(kClient, "/grpc.health.v1.Health/Check"));
}

TEST(PolicyTest, Allows_AnyVerifiedPeer_MatchesEveryNonEmptyIdentity) {
  const absl::StatusOr<Policy> policy = Policy::Parse(
      R"({"rules": [{"identity": "*", "methods": ["/grpc.health.v1.Health/Check"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kStranger, "/grpc.health.v1.Health/Check"));
  EXPECT_TRUE(policy->Allows(kAdmin, "/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(policy->Allows(kStranger, "/grpc.health.v1.Health/Watch"));
}

TEST(PolicyTest, Allows_EmptyIdentity_IsDeniedEvenByWildcardRules) {
  const absl::StatusOr<Policy> policy =
      Policy::Parse(R"({"rules": [{"identity": "*", "methods": ["*"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kStranger, "/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(policy->Allows("", "/grpc.health.v1.Health/Check"));
}

TEST(PolicyTest, Allows_Identity_IsComparedExactly) {
  const absl::StatusOr<Policy> policy =
      Policy::Parse(R"({"rules": [{"identity": "spiffe://hermes/admin", "methods": ["*"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows("spiffe://hermes/admin", "/a.B/C"));
  EXPECT_FALSE(policy->Allows("spiffe://hermes/admin2", "/a.B/C"));
  EXPECT_FALSE(policy->Allows("spiffe://hermes/admi", "/a.B/C"));
  EXPECT_FALSE(policy->Allows("spiffe://hermes/Admin", "/a.B/C"));
  EXPECT_FALSE(policy->Allows("spiffe://hermes/admin/", "/a.B/C"));
  EXPECT_FALSE(policy->Allows("spiffe://other/admin", "/a.B/C"));
}

TEST(PolicyTest, Allows_SeveralRulesForOneIdentity_AddUp) {
  const absl::StatusOr<Policy> policy = Policy::Parse(R"({"rules": [
      {"identity": "spiffe://hermes/client", "methods": ["/user.v1.UserService/GetUser"]},
      {"identity": "spiffe://hermes/client", "methods": ["/order.v1.OrderService/*"]},
      {"identity": "*", "methods": ["/grpc.health.v1.Health/*"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kClient, "/user.v1.UserService/GetUser"));
  EXPECT_TRUE(policy->Allows(kClient, "/order.v1.OrderService/GetOrder"));
  EXPECT_TRUE(policy->Allows(kClient, "/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(policy->Allows(kClient, "/user.v1.UserService/DeleteUser"));
}

TEST(PolicyTest, Allows_UnlistedIdentityOrMethod_IsDeniedByDefault) {
  const absl::StatusOr<Policy> policy = Policy::Parse(R"({"rules": [
      {"identity": "spiffe://hermes/order", "methods": ["/user.v1.UserService/GetUser"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_FALSE(policy->Allows(kStranger, "/user.v1.UserService/GetUser"));
  EXPECT_FALSE(policy->Allows(kOrder, ""));
  EXPECT_FALSE(policy->Allows(kOrder, "/"));
}

// ---- Parse errors ---------------------------------------------------------------------------

struct BadInput {
  std::string json;
  std::string expected;  // a substring of the error message
};

void ExpectRejected(const std::vector<BadInput>& cases) {
  for (const BadInput& bad : cases) {
    absl::StatusOr<Policy> policy = Policy::Parse(bad.json);
    ASSERT_FALSE(policy.ok()) << bad.json;
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument) << bad.json;
    EXPECT_THAT(std::string(policy.status().message()), HasSubstr(bad.expected)) << bad.json;
  }
}

TEST(PolicyTest, Parse_NotJsonOrNotAnObject_IsRejected) {
  ExpectRejected({
      {"", "not a valid policy document"},
      {"{", "not a valid policy document"},
      {R"({"rules": [} )", "not a valid policy document"},
      {"[]", "not a valid policy document"},
      {"null", "not a valid policy document"},
      {R"({"rules": []} trailing)", "not a valid policy document"},
      {R"({"rules": [], "rules": []})", "not a valid policy document"},
  });
}

TEST(PolicyTest, Parse_BadTopLevel_IsRejectedWithLocation) {
  ExpectRejected({
      {"{}", R"(top level: missing key "rules")"},
      {R"({"rule": []})", R"(top level: unknown key "rule")"},
      {R"({"rules": [{"identity": "*", "methods": ["*"]}], "version": 2})",
       R"(top level: unknown key "version")"},
      {R"({"rules": {}})", "rules: expected a list of rules, got an object"},
      {R"({"rules": "all"})", "rules: expected a list of rules, got a string"},
      {R"({"rules": []})", "rules: is empty"},
  });
}

TEST(PolicyTest, Parse_BadRuleShape_IsRejectedNamingTheRule) {
  ExpectRejected({
      {WithThirdRule(R"("admin")"), "rules[2]: expected an object, got a string"},
      {WithThirdRule(R"(["*"])"), "rules[2]: expected an object, got a list"},
      {WithThirdRule(R"({"methods": ["*"]})"), R"(rules[2]: missing key "identity")"},
      {WithThirdRule(R"({"identity": "*"})"), R"(rules[2]: missing key "methods")"},
      {WithThirdRule(R"({"identity": "*", "method": ["*"]})"), R"(rules[2]: unknown key "method")"},
      {WithThirdRule(R"({"identity": "*", "methods": ["*"], "allow": true})"),
       R"(rules[2]: unknown key "allow")"},
  });
}

TEST(PolicyTest, Parse_BadIdentity_IsRejectedNamingRuleAndValue) {
  ExpectRejected({
      {WithThirdRule(R"({"identity": 7, "methods": ["*"]})"),
       "rules[2].identity: expected a string, got a number"},
      {WithThirdRule(R"({"identity": null, "methods": ["*"]})"),
       "rules[2].identity: expected a string, got null"},
      {WithThirdRule(R"({"identity": "", "methods": ["*"]})"), R"(rules[2].identity: "")"},
      {WithThirdRule(R"({"identity": "admin", "methods": ["*"]})"),
       R"(rules[2].identity: "admin" is neither "*" nor a spiffe://hermes/<name> URI)"},
      {WithThirdRule(R"({"identity": "spiffe://other/admin", "methods": ["*"]})"),
       R"(rules[2].identity: "spiffe://other/admin")"},
      {WithThirdRule(R"({"identity": "spiffe://hermes/", "methods": ["*"]})"),
       R"(rules[2].identity: "spiffe://hermes/")"},
      {WithThirdRule(R"({"identity": "spiffe://hermes/*", "methods": ["*"]})"),
       R"(rules[2].identity: "spiffe://hermes/*")"},
      {WithThirdRule(R"({"identity": "spiffe://hermes/admin ", "methods": ["*"]})"),
       R"(rules[2].identity: "spiffe://hermes/admin ")"},
  });
}

TEST(PolicyTest, Parse_BadMethods_IsRejectedNamingRuleIndexAndValue) {
  ExpectRejected({
      {WithThirdRule(R"({"identity": "*", "methods": "*"})"),
       "rules[2].methods: expected a list of method patterns, got a string"},
      {WithThirdRule(R"({"identity": "*", "methods": []})"), "rules[2].methods: is empty"},
      {WithThirdRule(R"({"identity": "*", "methods": ["*", 3]})"),
       "rules[2].methods[1]: expected a string, got a number"},
      {WithThirdRule(R"({"identity": "*", "methods": [""]})"),
       "rules[2].methods[0]: empty method pattern"},
      {WithThirdRule(R"({"identity": "*", "methods": ["user.v1.UserService/GetUser"]})"),
       R"(rules[2].methods[0]: "user.v1.UserService/GetUser" does not start with '/')"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user.v1.UserService"]})"),
       R"(rules[2].methods[0]: "/user.v1.UserService" has no method part)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user.v1.UserService/Get*"]})"),
       R"(rules[2].methods[0]: "/user.v1.UserService/Get*": '*' may only be)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user.v1.*/GetUser"]})"),
       R"(rules[2].methods[0]: "/user.v1.*/GetUser": '*' may only be)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/*/*"]})"),
       R"(rules[2].methods[0]: "/*/*": '*' may only be)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["**"]})"),
       R"(rules[2].methods[0]: "**" does not start with '/')"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user.v1.UserService/"]})"),
       R"(rules[2].methods[0]: "/user.v1.UserService/": "" is not a method name)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["//GetUser"]})"),
       R"(rules[2].methods[0]: "//GetUser": "" is not a service name)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user..UserService/GetUser"]})"),
       R"(rules[2].methods[0]: "/user..UserService/GetUser": "user..UserService" is not)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user.v1.UserService/Get User"]})"),
       R"(rules[2].methods[0]: "/user.v1.UserService/Get User": "Get User" is not a method)"},
      {WithThirdRule(R"({"identity": "*", "methods": ["/user.v1.UserService/A/B"]})"),
       R"(rules[2].methods[0]: "/user.v1.UserService/A/B": "A/B" is not a method name)"},
  });
}

// ---- LoadFile -------------------------------------------------------------------------------

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "authz_policy_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& file : files_) std::remove(file.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    files_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(PolicyFileTest, LoadFile_GoodFile_Loads) {
  const std::string path =
      Write("policy.json", R"({"rules": [{"identity": "*", "methods": ["/a.B/C"]}]})");
  absl::StatusOr<Policy> policy = Policy::LoadFile(path);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Allows(kStranger, "/a.B/C"));
}

TEST_F(PolicyFileTest, LoadFile_MissingFile_IsNotFoundNamingThePath) {
  const std::string path = dir_ + "/absent.json";
  absl::StatusOr<Policy> policy = Policy::LoadFile(path);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(policy.status().message()), StartsWith(path));
}

TEST_F(PolicyFileTest, LoadFile_BadContent_IsInvalidArgumentNamingPathAndLocation) {
  const std::string path =
      Write("policy.json", R"({"rules": [{"identity": "*", "methods": ["GetUser"]}]})");
  absl::StatusOr<Policy> policy = Policy::LoadFile(path);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(policy.status().message()),
              StartsWith(absl::StrCat(path, ": rules[0].methods[0]: \"GetUser\"")));
}

TEST_F(PolicyFileTest, LoadFile_Directory_IsAnErrorNamingThePath) {
  absl::StatusOr<Policy> policy = Policy::LoadFile(dir_);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(policy.status().message()), StartsWith(dir_));
}

// ---- The shipped default policy (deploy/authz/policy.json) = API.md's table ------------------

class DefaultPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Policy> loaded = Policy::LoadFile(HERMES_DEFAULT_POLICY);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    policy_.emplace(*std::move(loaded));
  }

  std::optional<Policy> policy_;  // Policy has no empty state: filled by SetUp
};

const std::vector<std::string> kUserMethods = {
    "/user.v1.UserService/GetUser",    "/user.v1.UserService/ListUsers",
    "/user.v1.UserService/CreateUser", "/user.v1.UserService/UpdateUser",
    "/user.v1.UserService/DeleteUser", "/user.v1.UserService/WatchUsers"};
const std::vector<std::string> kOrderMethods = {
    "/order.v1.OrderService/GetOrder",          "/order.v1.OrderService/ListOrders",
    "/order.v1.OrderService/CreateOrder",       "/order.v1.OrderService/CancelOrder",
    "/order.v1.OrderService/UploadOrderEvents", "/order.v1.OrderService/StreamOrderUpdates"};
const std::vector<std::string> kOpsMethods = {
    "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"};

std::vector<std::string> AllMethods() {
  std::vector<std::string> all = kUserMethods;
  all.insert(all.end(), kOrderMethods.begin(), kOrderMethods.end());
  all.insert(all.end(), kOpsMethods.begin(), kOpsMethods.end());
  return all;
}

// The methods of AllMethods() that `identity` may call.
std::vector<std::string> Allowed(const Policy& policy, const std::string& identity) {
  std::vector<std::string> allowed;
  for (const std::string& method : AllMethods()) {
    if (policy.Allows(identity, method)) allowed.push_back(method);
  }
  return allowed;
}

TEST_F(DefaultPolicyTest, Admin_MayCallEverything) {
  EXPECT_EQ(Allowed(*policy_, kAdmin), AllMethods());
  EXPECT_TRUE(policy_->Allows(kAdmin, "/some.future.v9.Service/AnyMethod"));
}

TEST_F(DefaultPolicyTest, Order_MayCallGetUserOnlyBesidesHealthAndReflection) {
  std::vector<std::string> expected = {"/user.v1.UserService/GetUser"};
  expected.insert(expected.end(), kOpsMethods.begin(), kOpsMethods.end());
  EXPECT_EQ(Allowed(*policy_, kOrder), expected);
  EXPECT_FALSE(policy_->Allows(kOrder, "/user.v1.UserService/ListUsers"));
}

TEST_F(DefaultPolicyTest, Client_MayCallItsMethodsButNotDeleteUserOrUploadOrderEvents) {
  const std::vector<std::string> expected = {
      "/user.v1.UserService/GetUser",
      "/user.v1.UserService/ListUsers",
      "/user.v1.UserService/CreateUser",
      "/user.v1.UserService/UpdateUser",
      "/user.v1.UserService/WatchUsers",
      "/order.v1.OrderService/GetOrder",
      "/order.v1.OrderService/ListOrders",
      "/order.v1.OrderService/CreateOrder",
      "/order.v1.OrderService/CancelOrder",
      "/order.v1.OrderService/StreamOrderUpdates",
      "/grpc.health.v1.Health/Check",
      "/grpc.health.v1.Health/Watch",
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"};
  EXPECT_EQ(Allowed(*policy_, kClient), expected);
  EXPECT_TRUE(policy_->Allows(kClient, "/order.v1.OrderService/CreateOrder"));
  EXPECT_FALSE(policy_->Allows(kClient, "/user.v1.UserService/DeleteUser"));
  EXPECT_FALSE(policy_->Allows(kClient, "/order.v1.OrderService/UploadOrderEvents"));
}

TEST_F(DefaultPolicyTest, UnknownSpiffeIdentity_MayCallOnlyHealthAndReflection) {
  EXPECT_EQ(Allowed(*policy_, kStranger), kOpsMethods);
}

TEST_F(DefaultPolicyTest, EmptyIdentity_MayCallNothing) {
  EXPECT_TRUE(Allowed(*policy_, "").empty());
}

}  // namespace
}  // namespace hermes::authz
