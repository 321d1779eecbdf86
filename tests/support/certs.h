// Certificates for tests, made by the project's own script (deploy/certs/gen-certs.sh) at test
// time: a development CA with the identities of API.md, and on request further CAs (a "rogue"
// one, or one to rotate to).
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

namespace hermes::testing {

struct IdentityFiles {
  std::string ca;  // the CA this identity's certificate chains to
  std::string cert;
  std::string key;
};

class CertificateAuthority {
 public:
  // Runs gen-certs.sh into a fresh temporary directory (removed by the destructor).
  // Aborts the test binary if the script fails: nothing meaningful can run without it.
  CertificateAuthority();
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  // name: user, order (servers, also clients), admin, client; or one added with Issue().
  IdentityFiles Identity(const std::string& name) const;
  // Adds a client identity spiffe://hermes/<name>.
  void Issue(const std::string& name) const;
  // Adds a client certificate `name` signed by this CA whose subjectAltName is `san`, as
  // openssl's extension syntax has it ("URI:spiffe://hermes/a,DNS:b"; gen-certs.sh --san):
  // identities the project never issues, for the tests of what a certificate must say.
  void IssueWithSubjectAltName(const std::string& name, const std::string& san) const;

  // Client credentials presenting `name`'s certificate and trusting `trusted_ca_file`
  // (default: this CA).
  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(
      const std::string& name, const std::string& trusted_ca_file = "") const;

 private:
  std::string dir_;
};

// One CA per test binary, made on first use and removed at exit: enough for tests that only
// need valid identities (tests of rotation or rogue CAs make their own).
const CertificateAuthority& SharedTestCa();

std::string ReadFile(const std::string& path);
void WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace hermes::testing
