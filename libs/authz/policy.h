// Policy: which peer identity may call which gRPC method. Immutable once parsed; cheap to query
// from any number of threads at once.
//
// The policy is a JSON file (deploy/authz/policy.json ships the default; README.md beside it
// is the operators' version of this comment):
//
//   {
//     "rules": [
//       {"identity": "spiffe://hermes/admin", "methods": ["*"]},
//       {"identity": "spiffe://hermes/order", "methods": ["/user.v1.UserService/GetUser"]},
//       {"identity": "*", "methods": ["/grpc.health.v1.Health/*"]}
//     ]
//   }
//
// - "identity": a full "spiffe://hermes/<name>" URI, compared exactly with the peer's identity
//   (see peer_identity.h), or "*" = any verified peer, i.e. any non-empty identity.
// - "methods": each one of
//     "*"                   every method of every service,
//     "/pkg.Service/*"      every method of one service,
//     "/pkg.Service/Method" one method (the gRPC ":path").
//   Service and method names are proto identifiers (letters, digits, '_', and '.' between the
//   parts of a package); a "*" anywhere else is an error, not a pattern.
// - A call is allowed when some rule's identity matches and one of that rule's methods matches.
//   Everything else is denied, and the empty identity (a peer without a SPIFFE ID) is denied
//   everything, even by "*" rules.
//
// Parsing is strict so that an operator's typo is an error instead of a silently narrower or
// wider policy: unknown keys, wrong types, missing keys, an empty "rules" or "methods" list are
// rejected with the location of the problem, e.g. `rules[2].methods[0]: ...`. (The JSON itself
// is read by protobuf's parser, which also accepts single quotes and trailing commas, and rejects
// a key given twice.)
//
//   absl::StatusOr<Policy> policy = Policy::LoadFile("/etc/hermes/policy.json");
//   if (!policy.ok()) return policy.status();
//   if (!policy->Allows(identity, ":path value")) ...deny...
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hermes::authz {

class Policy {
 public:
  // Parses a policy document. Errors are InvalidArgument with a message that says where the
  // problem is (`rules[1].identity: ...`).
  static absl::StatusOr<Policy> Parse(absl::string_view json);

  // Reads and parses the file at `path`. NotFound when it does not exist, InvalidArgument when
  // its content is not a valid policy, FailedPrecondition when it cannot be read (permissions,
  // a directory, larger than any sane policy); every message starts with the path.
  static absl::StatusOr<Policy> LoadFile(const std::string& path);

  // Whether `identity` (e.g. "spiffe://hermes/order"; "" = no identity) may call `method`, the
  // call's ":path" (e.g. "/user.v1.UserService/GetUser"). Does not allocate.
  bool Allows(absl::string_view identity, absl::string_view method) const;

 private:
  // What the rules grant one identity, indexed so that a lookup is a few hash probes.
  struct Grants {
    bool every_method = false;
    absl::flat_hash_set<std::string> services;  // "/pkg.Service", from "/pkg.Service/*"
    absl::flat_hash_set<std::string> methods;   // "/pkg.Service/Method"

    bool Allows(absl::string_view method) const;
  };

  Policy() = default;

  absl::flat_hash_map<std::string, Grants> by_identity_;
  Grants any_verified_peer_;  // rules with identity "*"
};

}  // namespace hermes::authz
