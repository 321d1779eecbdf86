#include "libs/runtime/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

namespace hermes::runtime {
namespace {

std::shared_ptr<grpc::experimental::CertificateProviderInterface> WatchFiles(
    const TlsFiles& files, absl::Duration reload_interval) {
  // The provider counts in whole seconds.
  const auto seconds =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(reload_interval)));
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(files.key, files.cert,
                                                                              files.ca, seconds);
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const TlsFiles& files, absl::Duration reload_interval) {
  grpc::experimental::TlsServerCredentialsOptions options(WatchFiles(files, reload_interval));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(
    const TlsFiles& files, absl::Duration reload_interval) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(WatchFiles(files, reload_interval));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace hermes::runtime
