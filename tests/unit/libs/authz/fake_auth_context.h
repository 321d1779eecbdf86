// FakeAuthContext: a grpc::AuthContext holding the properties a test chooses.
//
// gRPC has no public way to build a real auth context outside a call, and AuthContext is an
// interface, so tests of code that reads (or, like an AuthMetadataProcessor, adds) properties
// use this instead of a TLS handshake.
//
//   FakeAuthContext context;
//   context.AddProperty("peer_uri", "spiffe://hermes/order");
#pragma once

#include <grpcpp/security/auth_context.h>

#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace hermes::testing {

class FakeAuthContext : public grpc::AuthContext {
 public:
  bool IsPeerAuthenticated() const override { return !GetPeerIdentity().empty(); }

  std::vector<grpc::string_ref> GetPeerIdentity() const override {
    return FindPropertyValues(peer_identity_property_name_);
  }

  std::string GetPeerIdentityPropertyName() const override { return peer_identity_property_name_; }

  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> values;
    for (const auto& [key, value] : properties_) {
      if (key == name) values.emplace_back(value);
    }
    return values;
  }

  // Iteration is not needed by the code under test, and AuthPropertyIterator can only be built
  // by gRPC (or a subclass): an empty range.
  grpc::AuthPropertyIterator begin() const override { return EmptyIterator(); }
  grpc::AuthPropertyIterator end() const override { return EmptyIterator(); }

  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    properties_.emplace_back(key, std::string(value.data(), value.size()));
  }

  bool SetPeerIdentityPropertyName(const std::string& name) override {
    peer_identity_property_name_ = name;
    return true;
  }

 private:
  class EmptyIterator : public grpc::AuthPropertyIterator {};

  // A deque, so that string_refs handed out stay valid when properties are added.
  std::deque<std::pair<std::string, std::string>> properties_;
  std::string peer_identity_property_name_ = "x509_subject_alternative_name";
};

}  // namespace hermes::testing
