#include "libs/runtime/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

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

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioDeleter> Open(const std::string& path) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_file(path.c_str(), "r"));
}

absl::Status Bad(absl::string_view flag, const std::string& path, absl::string_view what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": ", what));
}

}  // namespace

absl::Status CheckTlsFiles(const TlsFiles& files) {
  auto ca = Open(files.ca);
  if (ca == nullptr) return Bad("tls_ca", files.ca, "cannot be read");
  std::unique_ptr<X509, X509Deleter> ca_cert(
      PEM_read_bio_X509(ca.get(), nullptr, nullptr, nullptr));
  if (ca_cert == nullptr) return Bad("tls_ca", files.ca, "holds no PEM certificate");

  auto cert_file = Open(files.cert);
  if (cert_file == nullptr) return Bad("tls_cert", files.cert, "cannot be read");
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(cert_file.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return Bad("tls_cert", files.cert, "holds no PEM certificate");

  auto key_file = Open(files.key);
  if (key_file == nullptr) return Bad("tls_key", files.key, "cannot be read");
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(key_file.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return Bad("tls_key", files.key, "holds no PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Bad("tls_key", files.key,
               absl::StrCat("does not match the certificate in ", files.cert));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const TlsFiles& files, absl::Duration reload_interval) {
  grpc::experimental::TlsServerCredentialsOptions options(WatchFiles(files, reload_interval));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

namespace {

// Accepts a server whose (already chain-verified) certificate's one URI SAN is the expected
// SPIFFE ID: as the server side reads a caller's identity (libs/authz/peer_identity.h), a
// certificate with several URI SANs names no identity.
class SpiffeIdVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit SpiffeIdVerifier(std::string expected) : expected_(std::move(expected)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>, grpc::Status* sync_status) override {
    const std::vector<grpc::string_ref> uris = request->uri_names();
    if (uris.size() == 1 && absl::string_view(uris[0].data(), uris[0].size()) == expected_) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                absl::StrCat("the server is not ", expected_));
    return true;  // decided synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::string expected_;
};

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(
    const TlsFiles& files, absl::Duration reload_interval, const std::string& server_identity) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(WatchFiles(files, reload_interval));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  if (!server_identity.empty()) {
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<SpiffeIdVerifier>(server_identity));
  }
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace hermes::runtime
