// AuthorizationProcessor: enforces the authorization policy before any handler or interceptor
// runs.
//
// gRPC 1.51 server interceptors cannot reject a call before its handler, and gRPC's own policy
// engine does not link on Debian (TOOLCHAIN.md), so enforcement hooks into the TLS handshake's
// per-call step instead: an AuthMetadataProcessor installed on the server credentials sees each
// call's ":path" and the peer's auth context, and its answer is final.
//
//   std::shared_ptr<PolicyWatcher> watcher = *std::move(started);  // from PolicyWatcher::Start
//   auto processor = std::make_shared<AuthorizationProcessor>(
//       [watcher] { return watcher->Current(); },  // shared: the credentials keep it alive
//       [metrics](absl::string_view identity, absl::string_view method) { ...log, count... });
//   tls_server_credentials->SetAuthMetadataProcessor(processor);
//
// The credentials own the processor for as long as any server built with them exists, so
// whatever the two functions capture must live that long too.
//
// A call is allowed when the current policy allows (identity, method); otherwise it ends with
// PERMISSION_DENIED "<identity> may not call <method>" ("unauthenticated peer" when the peer has
// no SPIFFE ID). Denied calls never reach the interceptors, so each denial is reported through
// `on_denied`, which runs on a gRPC thread in the middle of the call's setup: it must be quick
// and must not block.
//
// The processor records the identity on the auth context as property "hermes.identity" (the
// empty string for a peer without one), where interceptors and handlers can read it through
// ServerContext::auth_context(). gRPC hands the processor the *connection's* auth context,
// shared by every call on that connection, so the property is added once per connection, not
// once per call.
#pragma once

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "libs/authz/policy.h"

namespace hermes::authz {

// The auth-context property on which the processor records the caller's identity.
inline constexpr absl::string_view kIdentityProperty = "hermes.identity";

class AuthorizationProcessor final : public grpc::AuthMetadataProcessor {
 public:
  using DenialCallback = std::function<void(absl::string_view identity, absl::string_view method)>;

  // `current_policy` is asked once per call (PolicyWatcher::Current fits); a null policy denies
  // everything. `on_denied` may be empty.
  AuthorizationProcessor(std::function<std::shared_ptr<const Policy>()> current_policy,
                         DenialCallback on_denied);

  // False: Process only does in-memory lookups, so gRPC runs it inline instead of handing it
  // to another thread.
  bool IsBlocking() const override;

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  // The identity recorded on `context`, recording it first if this is the connection's first
  // call.
  std::string IdentityOf(grpc::AuthContext& context);

  const std::function<std::shared_ptr<const Policy>()> current_policy_;
  const DenialCallback on_denied_;

  // Guards reading and adding auth-context properties. Calls on one connection may be processed
  // concurrently and share one auth context, whose property list gRPC does not lock: without
  // this, the first calls of a connection could both add (and reallocate the list under a
  // reader). Readers only contend on the lock word; the writer path runs once per connection.
  absl::Mutex context_mu_;
};

}  // namespace hermes::authz
