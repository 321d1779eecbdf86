#include "libs/authz/peer_identity.h"

#include <gtest/gtest.h>

#include "tests/unit/libs/authz/fake_auth_context.h"

namespace hermes::authz {
namespace {

using hermes::testing::FakeAuthContext;

constexpr char kSan[] = "x509_subject_alternative_name";  // every kind of name, mixed
constexpr char kUri[] = "peer_uri";                       // the URI names only

TEST(PeerIdentityTest, TheOneUriSan_InTheHermesTrustDomain_IsTheIdentity) {
  FakeAuthContext context;
  context.AddProperty(kSan, "order.hermes.internal");
  context.AddProperty(kSan, "10.0.0.7");
  context.AddProperty(kSan, "spiffe://hermes/order");
  context.AddProperty(kUri, "spiffe://hermes/order");
  EXPECT_EQ(PeerIdentity(context), "spiffe://hermes/order");
}

// SPIFFE: a certificate names one identity. Two URI SANs name none, rather than the first.
TEST(PeerIdentityTest, SeveralUriSans_NoIdentity) {
  FakeAuthContext context;
  context.AddProperty(kUri, "spiffe://hermes/client");
  context.AddProperty(kUri, "spiffe://hermes/admin");
  EXPECT_EQ(PeerIdentity(context), "");
}

// A DNS or email SAN that reads like a SPIFFE ID is in the mixed SAN property, not a URI.
TEST(PeerIdentityTest, SpiffeTextInANonUriName_NoIdentity) {
  FakeAuthContext context;
  context.AddProperty(kSan, "spiffe://hermes/admin");
  context.AddProperty("peer_dns", "spiffe://hermes/admin");
  context.AddProperty("x509_common_name", "spiffe://hermes/admin");
  EXPECT_EQ(PeerIdentity(context), "");
}

TEST(PeerIdentityTest, OtherSchemeOrTrustDomain_NoIdentity) {
  for (const char* uri : {"https://hermes/order", "spiffe://other/order", "spiffe://hermes/",
                          "spiffe://hermesx/order"}) {
    FakeAuthContext context;
    context.AddProperty(kUri, uri);
    EXPECT_EQ(PeerIdentity(context), "") << uri;
  }
}

TEST(PeerIdentityTest, NoUriSan_NoIdentity) {
  FakeAuthContext context;
  context.AddProperty(kSan, "order.hermes.internal");
  EXPECT_EQ(PeerIdentity(context), "");
}

}  // namespace
}  // namespace hermes::authz
