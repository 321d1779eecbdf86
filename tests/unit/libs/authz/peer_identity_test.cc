#include "libs/authz/peer_identity.h"

#include <gtest/gtest.h>

#include "tests/unit/libs/authz/fake_auth_context.h"

namespace hermes::authz {
namespace {

using hermes::testing::FakeAuthContext;

constexpr char kSan[] = "x509_subject_alternative_name";

TEST(PeerIdentityTest, SpiffeUriAmongOtherNames_IsTheIdentity) {
  FakeAuthContext context;
  context.AddProperty(kSan, "order.hermes.internal");
  context.AddProperty(kSan, "10.0.0.7");
  context.AddProperty(kSan, "spiffe://hermes/order");
  EXPECT_EQ(PeerIdentity(context), "spiffe://hermes/order");
}

TEST(PeerIdentityTest, SeveralSpiffeUris_TheFirstWins) {
  FakeAuthContext context;
  context.AddProperty(kSan, "spiffe://hermes/client");
  context.AddProperty(kSan, "spiffe://hermes/admin");
  EXPECT_EQ(PeerIdentity(context), "spiffe://hermes/client");
}

TEST(PeerIdentityTest, NoSpiffeUri_IsEmpty) {
  FakeAuthContext context;
  context.AddProperty(kSan, "order.hermes.internal");
  context.AddProperty(kSan, "https://hermes/order");
  EXPECT_EQ(PeerIdentity(context), "");
}

TEST(PeerIdentityTest, SpiffeIdOutsideTheSanProperty_IsIgnored) {
  FakeAuthContext context;
  context.AddProperty("x509_common_name", "spiffe://hermes/admin");
  context.AddProperty("hermes.identity", "spiffe://hermes/admin");
  EXPECT_EQ(PeerIdentity(context), "");
}

}  // namespace
}  // namespace hermes::authz
