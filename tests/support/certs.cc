#include "tests/support/certs.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

namespace {

// gen-certs.sh OUT_DIR ARGS...; aborts the test binary if it fails (nothing meaningful can run
// without the certificates), printing its output.
void GenCertsOrAbort(const std::string& out_dir, std::vector<std::string> args) {
  args.insert(args.begin(), {HERMES_GEN_CERTS, out_dir});
  const CommandResult result = RunCommand(args, absl::Seconds(60));
  if (!result.Succeeded()) {
    std::string command;
    for (const std::string& arg : args) command += " " + arg;
    std::fprintf(stderr, "failed:%s\n%s\n", command.c_str(), result.output.c_str());
    std::abort();
  }
}

}  // namespace

const CertificateAuthority& SharedTestCa() {
  static const CertificateAuthority ca;
  return ca;
}

CertificateAuthority::CertificateAuthority() {
  char dir_template[] = "/tmp/hermes-certs-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) std::abort();
  dir_ = dir_template;
  GenCertsOrAbort(dir_, {});
}

CertificateAuthority::~CertificateAuthority() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

IdentityFiles CertificateAuthority::Identity(const std::string& name) const {
  return {ca_file(), dir_ + "/" + name + "/cert.pem", dir_ + "/" + name + "/key.pem"};
}

void CertificateAuthority::Issue(const std::string& name) const {
  GenCertsOrAbort(dir_, {"--identity", name});
}

void CertificateAuthority::IssueWithSubjectAltName(const std::string& name,
                                                   const std::string& san) const {
  GenCertsOrAbort(dir_, {"--identity", name, "--san", san});
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
