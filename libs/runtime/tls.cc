#include "libs/runtime/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <ctime>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libs/config/read_small_file.h"

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
using Certificate = std::unique_ptr<X509, X509Deleter>;

// A PEM file is a few kilobytes; the cap only stops a mistaken path from being read whole.
constexpr size_t kMaxPemBytes = 1 << 20;

// "--flag=path: what", with OpenSSL's error queue left empty for the next caller.
absl::Status FileError(absl::StatusCode code, absl::string_view flag, const std::string& path,
                       absl::string_view what) {
  ERR_clear_error();
  return absl::Status(code, absl::StrCat("--", flag, "=", path, ": ", what));
}

absl::Status Bad(absl::string_view flag, const std::string& path, absl::string_view what) {
  return FileError(absl::StatusCode::kInvalidArgument, flag, path, what);
}

// Reads a file for `flag`. A read error keeps its code (NotFound, FailedPrecondition: "not
// read", see WatchedFiles) and gains the flag's name.
absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> contents = config::ReadSmallFile(path, kMaxPemBytes, "a PEM file");
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat("--", flag, "=", contents.status().message()));
  }
  return contents;
}

std::unique_ptr<BIO, BioDeleter> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in a PEM file, in order; fails on a block that does not parse (a file caught
// half-way through a certificate), where a TLS stack would silently keep the certificates before
// it. Blocks of other kinds (a private key beside the certificates) are skipped, as gRPC does.
absl::StatusOr<std::vector<Certificate>> ReadCertificates(absl::string_view flag,
                                                          const std::string& path,
                                                          const std::string& pem) {
  ERR_clear_error();
  auto bio = MemoryBio(pem);
  std::vector<Certificate> certificates;
  while (true) {
    // _AUX: "TRUSTED CERTIFICATE" blocks too, as gRPC reads them.
    Certificate certificate(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (certificate == nullptr) break;
    certificates.push_back(std::move(certificate));
  }
  const unsigned long error = ERR_peek_last_error();  // NOLINT(runtime/int): OpenSSL's type
  if (ERR_GET_LIB(error) != ERR_LIB_PEM || ERR_GET_REASON(error) != PEM_R_NO_START_LINE) {
    return Bad(flag, path,
               absl::StrCat("certificate ", certificates.size() + 1, " does not parse"));
  }
  ERR_clear_error();
  if (certificates.empty()) return Bad(flag, path, "holds no PEM certificate");
  return certificates;
}

// OpenSSL asks for a passphrase when a key is encrypted (on the terminal, by default). gRPC
// gives none, so an encrypted key could never be used: refuse it rather than wait for an answer.
int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*writing*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

absl::Time AsTime(const ASN1_TIME* time) {
  tm parsed = {};
  if (ASN1_TIME_to_tm(time, &parsed) != 1) return absl::InfinitePast();
  return absl::FromTM(parsed, absl::UTCTimeZone());
}

absl::Time NotAfter(X509* certificate) { return AsTime(X509_get0_notAfter(certificate)); }

// Our certificate outside its validity period makes every handshake fail: refused at start-up,
// and a reload to it keeps the certificate in force. Expired (an old backup restored) is
// InvalidArgument, final until the files change; not valid yet is FailedPrecondition, retried.
absl::Status CheckValidNow(X509* certificate, const std::string& path) {
  const ASN1_TIME* not_before = X509_get0_notBefore(certificate);
  const ASN1_TIME* not_after = X509_get0_notAfter(certificate);
  const auto at = [](const ASN1_TIME* time) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", AsTime(time), absl::UTCTimeZone());
  };
  // X509_cmp_current_time: -1 when the time is before now, 1 after, 0 when it does not parse.
  const int starts = X509_cmp_current_time(not_before);
  const int ends = X509_cmp_current_time(not_after);
  if (starts == 0 || ends == 0)
    return Bad("tls_cert", path, "has a validity period that does not parse");
  if (starts > 0) {
    // Not InvalidArgument: the file is fine, the clock has not reached it yet (a renewed
    // certificate issued a little ahead of this host's clock). As a file not read, it is tried
    // again at every poll (WatchedFiles), and put in force once it is valid.
    return FileError(absl::StatusCode::kFailedPrecondition, "tls_cert", path,
                     absl::StrCat("holds a certificate not valid before ", at(not_before),
                                  "; tried again until then"));
  }
  if (ends < 0) {
    return Bad("tls_cert", path,
               absl::StrCat("holds a certificate that expired at ", at(not_after)));
  }
  return absl::OkStatus();
}

// PEM of exactly what was parsed: `write` puts it into a memory BIO, read back here.
template <typename Write>
std::string ToPem(Write write) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  write(bio.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int): OpenSSL's type
  return std::string(data, static_cast<size_t>(size));
}
std::string ToPem(const std::vector<Certificate>& certificates) {
  return ToPem([&](BIO* bio) {
    for (const Certificate& certificate : certificates) PEM_write_bio_X509(bio, certificate.get());
  });
}
// CA certificates keep the trust settings of a "TRUSTED CERTIFICATE" block (rejecting
// clientAuth, say), which gRPC honours when it reads the operator's file: written back without
// them, such a root would be trusted for everything.
std::string RootsToPem(const std::vector<Certificate>& roots) {
  return ToPem([&](BIO* bio) {
    for (const Certificate& root : roots) {
      if (X509_trusted(root.get())) {
        PEM_write_bio_X509_AUX(bio, root.get());
      } else {
        PEM_write_bio_X509(bio, root.get());
      }
    }
  });
}
std::string ToPem(EVP_PKEY* key) {  // unencrypted PKCS#8
  return ToPem(
      [&](BIO* bio) { PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
}

}  // namespace

absl::StatusOr<TlsPem> ReadTlsFiles(const TlsFiles& files) {
  absl::StatusOr<std::string> ca = ReadPem("tls_ca", files.ca);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = ReadPem("tls_cert", files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("tls_key", files.key);
  if (!key.ok()) return key.status();

  absl::StatusOr<std::vector<Certificate>> roots = ReadCertificates("tls_ca", files.ca, *ca);
  if (!roots.ok()) return roots.status();
  absl::StatusOr<std::vector<Certificate>> chain = ReadCertificates("tls_cert", files.cert, *cert);
  if (!chain.ok()) return chain.status();
  auto key_bio = MemoryBio(*key);
  bool passphrase_asked = false;
  std::unique_ptr<EVP_PKEY, KeyDeleter> private_key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, RefusePassphrase, &passphrase_asked));
  if (passphrase_asked) {
    return Bad("tls_key", files.key, "holds an encrypted private key; give it unencrypted");
  }
  if (private_key == nullptr) return Bad("tls_key", files.key, "holds no PEM private key");
  if (X509_check_private_key(chain->front().get(), private_key.get()) != 1) {
    return Bad("tls_key", files.key,
               absl::StrCat("does not match the certificate in ", files.cert));
  }
  if (absl::Status valid = CheckValidNow(chain->front().get(), files.cert); !valid.ok()) {
    return valid;
  }
  return TlsPem{.ca = RootsToPem(*roots),
                .cert = ToPem(*chain),
                .key = ToPem(private_key.get()),
                .not_after = NotAfter(chain->front().get())};
}

absl::Status CheckTlsFiles(const TlsFiles& files) { return ReadTlsFiles(files).status(); }

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
