#include "libs/authz/authorization_processor.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/authz/peer_identity.h"

namespace hermes::authz {
namespace {

absl::string_view View(const grpc::string_ref& value) { return {value.data(), value.size()}; }

}  // namespace

AuthorizationProcessor::AuthorizationProcessor(
    std::function<std::shared_ptr<const Policy>()> current_policy, DenialCallback on_denied)
    : current_policy_(std::move(current_policy)), on_denied_(std::move(on_denied)) {}

bool AuthorizationProcessor::IsBlocking() const { return false; }

grpc::Status AuthorizationProcessor::Process(const InputMetadata& auth_metadata,
                                             grpc::AuthContext* context,
                                             OutputMetadata* /*consumed_auth_metadata*/,
                                             OutputMetadata* /*response_metadata*/) {
  absl::string_view method;  // stays empty (and is denied) if a call somehow has no :path
  if (auto path = auth_metadata.find(":path"); path != auth_metadata.end()) {
    method = View(path->second);
  }
  const std::string identity = context != nullptr ? IdentityOf(*context) : std::string();

  const std::shared_ptr<const Policy> policy = current_policy_ ? current_policy_() : nullptr;
  if (policy != nullptr && policy->Allows(identity, method)) return grpc::Status::OK;

  if (on_denied_) on_denied_(identity, method);
  return grpc::Status(
      grpc::StatusCode::PERMISSION_DENIED,
      absl::StrCat(identity.empty() ? absl::string_view("unauthenticated peer") : identity,
                   " may not call ", method.empty() ? absl::string_view("<no :path>") : method));
}

std::string AuthorizationProcessor::IdentityOf(grpc::AuthContext& context) {
  const std::string key(kIdentityProperty);
  {
    absl::ReaderMutexLock lock(&context_mu_);
    const std::vector<grpc::string_ref> recorded = context.FindPropertyValues(key);
    if (!recorded.empty()) return std::string(View(recorded.front()));
  }
  absl::MutexLock lock(&context_mu_);
  // Another call on the same connection may have recorded it since the check above.
  const std::vector<grpc::string_ref> recorded = context.FindPropertyValues(key);
  if (!recorded.empty()) return std::string(View(recorded.front()));
  std::string identity = PeerIdentity(context);
  context.AddProperty(key, identity);
  return identity;
}

}  // namespace hermes::authz
