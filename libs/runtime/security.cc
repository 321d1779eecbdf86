#include "libs/runtime/security.h"

#include <prometheus/counter.h>

#include "libs/authz/authorization_processor.h"
#include "libs/authz/policy.h"
#include "libs/runtime/config_reloads.h"
#include "libs/runtime/tls.h"
#include "libs/runtime/tls_material.h"
#include "libs/telemetry/log.h"

namespace hermes::runtime {
namespace {

// Counts and logs denials; labels are bounded: identities come from certificates our CA
// issued, and unknown method paths collapse into "unknown".
class DenialReporter {
 public:
  DenialReporter(std::shared_ptr<const interceptor::ServerChain> chain,
                 std::shared_ptr<prometheus::Registry> registry)
      : chain_(std::move(chain)),
        registry_(std::move(registry)),
        denied_(&prometheus::BuildCounter()
                     .Name("hermes_auth_denied_total")
                     .Help("Calls refused by the authorization policy, before any handler.")
                     .Register(*registry_)) {}

  void operator()(absl::string_view identity, absl::string_view method) {
    // Labelled like every grpc_* series (service and bare method name), so they join.
    const interceptor::MethodInfo& info = chain_->methods().Find(method);
    denied_
        ->Add({{"identity", identity.empty() ? "none" : std::string(identity)},
               {"grpc_service", info.service},
               {"grpc_method", info.method}})
        .Increment();
    HERMES_LOG(spdlog::level::warn, "call denied by the authorization policy")
        .Str("method", method)
        .Str("peer", identity)
        .Str("code", "PermissionDenied");
  }

 private:
  std::shared_ptr<const interceptor::ServerChain> chain_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* denied_;  // owned by registry_
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServerSecurity>> ServerSecurity::Create(
    const ServerConfig& config, const TlsFiles& tls_in_force,
    std::shared_ptr<const interceptor::ServerChain> chain,
    std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<ServerSecurity> security(new ServerSecurity());
  if (config.insecure) {
    HERMES_LOG(spdlog::level::warn,
               "--insecure: plaintext gRPC, no client authentication, no authorization");
    // A policy given too would read as in force: say that it is not (plaintext callers have no
    // identity to check it against).
    if (!config.authz_policy.empty()) {
      HERMES_LOG(spdlog::level::warn,
                 "--authz_policy is not enforced with --insecure: plaintext callers have no "
                 "identity")
          .Str("authz_policy", config.authz_policy);
    }
    security->credentials_ = grpc::InsecureServerCredentials();
    return security;
  }

  std::function<std::shared_ptr<const authz::Policy>()> current_policy;
  if (config.authz_policy.empty()) {
    absl::StatusOr<authz::Policy> policy = authz::Policy::Parse(kDefaultPolicyJson);
    if (!policy.ok()) return policy.status();  // caught by the tests of the shipped file
    auto shared = std::make_shared<const authz::Policy>(*std::move(policy));
    current_policy = [shared] { return shared; };
    HERMES_LOG(spdlog::level::info, "authorization: the built-in default policy");
  } else {
    // Shared with the watcher's callback, which keeps the registry (that owns the reloads'
    // gauges) too: the watcher may outlive this object (see the header).
    auto reloads = std::make_shared<ConfigReloads>(
        *registry,
        ConfigReloads::Options{
            .config = "authz_policy", .kept = "the previous policy", .path = config.authz_policy});
    reloads->Loaded();  // before the watcher can report anything
    absl::StatusOr<std::unique_ptr<authz::PolicyWatcher>> watcher = authz::PolicyWatcher::Start(
        config.authz_policy, config.reload_interval,
        [reloads, registry](const std::string&, const absl::Status& outcome) {
          reloads->Report(outcome);
        });
    if (!watcher.ok()) return watcher.status();
    security->watcher_ = *std::move(watcher);
    current_policy = [watcher = security->watcher_] { return watcher->Current(); };
    HERMES_LOG(spdlog::level::info, "authorization: policy file").Str("path", config.authz_policy);
  }

  security->credentials_ = MutualTlsServerCredentials(tls_in_force, TlsMaterial::kGrpcRefresh);
  security->credentials_->SetAuthMetadataProcessor(std::make_shared<authz::AuthorizationProcessor>(
      std::move(current_policy), DenialReporter(std::move(chain), std::move(registry))));
  return security;
}

}  // namespace hermes::runtime
