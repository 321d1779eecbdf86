// ServerSecurity: how a server authenticates and authorizes its callers, from the config.
//
// mTLS (the default): TLS credentials that require and verify client certificates, with the
// authorization policy enforced on them by libs/authz's AuthorizationProcessor — from the
// --authz_policy file (reloaded when it changes; a bad edit is logged, reported in
// hermes_config_last_reload_successful{config="authz_policy"} and ignored) or, without one, the
// default policy of API.md built into the binary. Each denial is logged and counted in
// hermes_auth_denied_total{identity,grpc_service,grpc_method}, because denied calls never reach the
// chain.
//
// --insecure: plaintext, no authentication, no authorization; a warning is logged.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <prometheus/registry.h>

#include <memory>

#include "absl/status/statusor.h"
#include "libs/authz/policy_watcher.h"
#include "libs/interceptor/chain.h"
#include "libs/runtime/server_config.h"

namespace hermes::runtime {

class ServerSecurity {
 public:
  // `tls_in_force`: the key, certificate and CA files the server uses (a TlsMaterial's
  // in_force(), or files that do not change); unused with --insecure. The chain's method table
  // bounds the labels of denials (anything else is "unknown"). The credentials' processor shares
  // ownership of the chain and the registry: gRPC releases the credentials on its own schedule.
  static absl::StatusOr<std::unique_ptr<ServerSecurity>> Create(
      const ServerConfig& config, const TlsFiles& tls_in_force,
      std::shared_ptr<const interceptor::ServerChain> chain,
      std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }

 private:
  ServerSecurity() = default;

  std::shared_ptr<grpc::ServerCredentials> credentials_;
  // Shared with the credentials' processor, which may outlive this object.
  std::shared_ptr<authz::PolicyWatcher> watcher_;  // null with the built-in policy or --insecure
};

// The default policy (deploy/authz/policy.json), compiled into the binary.
extern const char kDefaultPolicyJson[];

}  // namespace hermes::runtime
