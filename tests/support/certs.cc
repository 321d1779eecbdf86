#include "tests/support/certs.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/subprocess.h"

namespace hermes::testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << content;
  }
  std::filesystem::rename(temporary, path);
}

const CertificateAuthority& SharedTestCa() {
  static const CertificateAuthority ca;
  return ca;
}

CertificateAuthority::CertificateAuthority() {
  char dir_template[] = "/tmp/hermes-certs-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) std::abort();
  dir_ = dir_template;
  const CommandResult result = RunCommand({HERMES_GEN_CERTS, dir_}, absl::Seconds(60));
  if (!result.Succeeded()) {
    std::fprintf(stderr, "gen-certs.sh failed:\n%s\n", result.output.c_str());
    std::abort();
  }
}

CertificateAuthority::~CertificateAuthority() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

IdentityFiles CertificateAuthority::Identity(const std::string& name) const {
  return {ca_file(), dir_ + "/" + name + "/cert.pem", dir_ + "/" + name + "/key.pem"};
}

void CertificateAuthority::Issue(const std::string& name) const {
  const CommandResult result =
      RunCommand({HERMES_GEN_CERTS, dir_, "--identity", name}, absl::Seconds(60));
  if (!result.Succeeded()) {
    std::fprintf(stderr, "gen-certs.sh --identity failed:\n%s\n", result.output.c_str());
    std::abort();
  }
}

void CertificateAuthority::IssueWithSubjectAltName(const std::string& name,
                                                   const std::string& san) const {
  // The SAN goes into an openssl extension file, where '#' starts a comment, '$' a variable and a
  // newline another line: refused rather than silently cut.
  if (san.find_first_of("#$\n") != std::string::npos) {
    std::fprintf(stderr, "IssueWithSubjectAltName: '#', '$' or a newline in %s\n", san.c_str());
    std::abort();
  }
  const std::string dir = dir_ + "/" + name;
  std::filesystem::create_directories(dir);
  // As gen-certs.sh issues a client certificate, with `san` as its subjectAltName.
  const std::string script = R"(set -euo pipefail
ca=$1 dir=$2 name=$3 san=$4
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth" \
  "subjectAltName=$san" >"$dir/ext"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.pem"
openssl req -new -key "$dir/key.pem" -subj "/O=Hermes tests/CN=$name" -out "$dir/csr.pem"
openssl x509 -req -in "$dir/csr.pem" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial \
  -days 2 -sha256 -extfile "$dir/ext" -out "$dir/cert.pem"
rm -f "$dir/csr.pem" "$dir/ext")";
  const CommandResult result =
      RunCommand({"/bin/bash", "-c", script, "issue", dir_, dir, name, san}, absl::Seconds(60));
  if (!result.Succeeded()) {
    std::fprintf(stderr, "issuing %s (%s) failed:\n%s\n", name.c_str(), san.c_str(),
                 result.output.c_str());
    std::abort();
  }
}

std::shared_ptr<grpc::ChannelCredentials> CertificateAuthority::ClientCredentials(
    const std::string& name, const std::string& trusted_ca_file) const {
  const IdentityFiles files = Identity(name);
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(trusted_ca_file.empty() ? files.ca : trusted_ca_file);
  options.pem_private_key = ReadFile(files.key);
  options.pem_cert_chain = ReadFile(files.cert);
  return grpc::SslCredentials(options);
}

}  // namespace hermes::testing
