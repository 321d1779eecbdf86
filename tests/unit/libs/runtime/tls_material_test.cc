// TlsMaterial with real certificates (deploy/certs/gen-certs.sh) and a real gRPC server reading
// the copies it puts in force: a rotation that is not yet consistent never reaches gRPC.
#include "libs/runtime/tls_material.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/runtime/grpc_server.h"
#include "libs/runtime/tls.h"
#include "tests/support/certs.h"
#include "tests/support/network.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::runtime {
namespace {

using ::hermes::testing::CertificateAuthority;
using ::hermes::testing::ReadFile;
using ::hermes::testing::WriteFileAtomically;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr absl::Duration kDeadline = absl::Seconds(10);  // sanitizer builds, a loaded machine

// Collects what the material reports; safe to read while the watcher thread writes.
class ReloadLog {
 public:
  TlsMaterial::ReloadCallback Callback() {
    return [this](const absl::Status& outcome, absl::Time) {
      absl::MutexLock lock(&mu_);
      outcomes_.push_back(outcome);
    };
  }
  // Waits (bounded) until `count` reports have arrived; returns them all.
  std::vector<absl::Status> WaitFor(size_t count) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outcomes_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), kDeadline);
    return outcomes_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> outcomes_ ABSL_GUARDED_BY(mu_);
};

class TlsMaterialTest : public ::testing::Test {
 protected:
  // The server's files are copies in a directory of the test's own, rewritten by the tests.
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tls_material_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    files_ = {.ca = dir_ + "/ca.pem", .cert = dir_ + "/cert.pem", .key = dir_ + "/key.pem"};
    const testing::IdentityFiles user = ca_.Identity("user");
    WriteFileAtomically(files_.ca, ReadFile(user.ca));
    WriteFileAtomically(files_.cert, ReadFile(user.cert));
    WriteFileAtomically(files_.key, ReadFile(user.key));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<TlsMaterial>> Start() {
    return TlsMaterial::Start(files_, kPollInterval, log_.Callback());
  }

  // A server on the files in force; gRPC re-reads them every second (its smallest interval).
  std::unique_ptr<GrpcServer> ServeOn(const TlsMaterial& material) {
    absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(
        {.listen_address = "127.0.0.1:0",
         .credentials = MutualTlsServerCredentials(material.in_force(), absl::Seconds(1)),
         .services = {{&service_, "user.v1.UserService"}}});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // A new connection (a new handshake) from `ca`'s admin, trusting only `ca`.
  static absl::Status Handshake(const GrpcServer& server, const CertificateAuthority& ca) {
    return testing::WaitForServing(testing::TestChannel(testing::LoopbackAddress(server.port()),
                                                        ca.ClientCredentials("admin")),
                                   "", absl::Seconds(2));
  }

  // Waits (bounded) until a new connection from `ca`'s admin gets through.
  static bool EventuallyHandshakes(const GrpcServer& server, const CertificateAuthority& ca) {
    const absl::Time deadline = absl::Now() + kDeadline;
    while (absl::Now() < deadline) {
      if (Handshake(server, ca).ok()) return true;
    }
    return false;
  }

  CertificateAuthority ca_;
  std::string dir_;
  TlsFiles files_;
  ReloadLog log_;
  user::v1::UserService::Service service_;
};

TEST_F(TlsMaterialTest, Start_GoodFiles_ServedThroughARealHandshake) {
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  EXPECT_THAT((*material)->in_force().cert, StartsWith("/proc/self/fd/"));
  EXPECT_EQ((*material)->in_force().key, (*material)->in_force().cert);
  EXPECT_EQ(ReadFile((*material)->in_force().ca), ReadFile(files_.ca));

  auto server = ServeOn(**material);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Handshake(*server, ca_).ok());
  CertificateAuthority rogue;
  EXPECT_FALSE(Handshake(*server, rogue).ok());
}

TEST_F(TlsMaterialTest, Start_KeyOfAnotherCertificate_FailsNamingTlsKey) {
  WriteFileAtomically(files_.key, ReadFile(ca_.Identity("order").key));
  auto material = Start();
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(material.status().message()),
              HasSubstr("--tls_key=" + files_.key + ": does not match the certificate in"));
}

TEST_F(TlsMaterialTest, Start_EncryptedKey_FailsWithoutAskingForAPassphrase) {
  const std::string encrypted = dir_ + "/encrypted.pem";
  ASSERT_EQ(std::system(("openssl pkey -in " + files_.key + " -aes256 -passout pass:secret -out " +
                         encrypted + " 2>/dev/null </dev/null")
                            .c_str()),
            0);
  files_.key = encrypted;
  auto material = Start();
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(material.status().message()),
              HasSubstr("--tls_key=" + encrypted + ": holds an encrypted private key"));
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

// The first certificate in `pem` (null if none); with `aux`, a "TRUSTED CERTIFICATE" block's
// trust settings too.
X509Ptr FirstCertificate(const std::string& pem, bool aux = false) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  return X509Ptr(aux ? PEM_read_bio_X509_AUX(in.get(), nullptr, nullptr, nullptr)
                     : PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr),
                 &X509_free);
}

// What `write` (a PEM_write_bio_* call) writes, as a string.
std::string Written(const std::function<void(BIO*)>& write) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  write(out.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);  // NOLINT(runtime/int): OpenSSL's type
  return std::string(data, static_cast<size_t>(size));
}

// `cert_pem` re-signed by `ca`, valid from `from` to `until` (seconds from now; negative: in the
// past): our own certificate with another validity period.
std::string Redated(const CertificateAuthority& ca, const std::string& cert_pem, long from,
                    long until) {
  const X509Ptr cert = FirstCertificate(cert_pem);
  const std::unique_ptr<BIO, decltype(&BIO_free)> key_file(
      BIO_new_file((ca.dir() + "/ca.key").c_str(), "r"), &BIO_free);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ca_key(
      key_file == nullptr ? nullptr
                          : PEM_read_bio_PrivateKey(key_file.get(), nullptr, nullptr, nullptr),
      &EVP_PKEY_free);
  if (cert == nullptr || ca_key == nullptr) {
    ADD_FAILURE() << "cannot read the certificate or the CA's key";
    return "";
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), from);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), until);
  EXPECT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
  return Written([&](BIO* out) { PEM_write_bio_X509(out, cert.get()); });
}

constexpr long kDay = 24 * 60 * 60;

TEST_F(TlsMaterialTest, Start_ExpiredCertificate_FailsNamingTlsCert) {
  WriteFileAtomically(files_.cert, Redated(ca_, ReadFile(files_.cert), -2 * kDay, -kDay));
  auto material = Start();
  EXPECT_EQ(material.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(material.status().message()),
              HasSubstr("--tls_cert=" + files_.cert + ": holds a certificate that expired at "));
}

// Restoring an old backup of the certificate: the change is rejected, and the certificate in
// force stays, handshakes and all.
TEST_F(TlsMaterialTest, ReloadToAnExpiredCertificate_Rejected_TheOneInForceStays) {
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  auto server = ServeOn(**material);
  ASSERT_NE(server, nullptr);
  const std::string in_force = ReadFile((*material)->in_force().cert);

  WriteFileAtomically(files_.cert, Redated(ca_, ReadFile(files_.cert), -2 * kDay, -kDay));
  const std::vector<absl::Status> outcomes = log_.WaitFor(1);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outcomes[0].message()), HasSubstr("expired at"));
  EXPECT_EQ(ReadFile((*material)->in_force().cert), in_force);
  EXPECT_TRUE(Handshake(*server, ca_).ok());
}

// A renewed certificate issued a little ahead of this host's clock: not taken while it is not
// valid yet (every handshake would fail), nor given up on: tried again at every poll, and put in
// force once its time has come.
TEST_F(TlsMaterialTest, ReloadToACertificateNotValidYet_TakenOnceItIs) {
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  const std::string in_force = ReadFile((*material)->in_force().cert);

  const std::string renewed = Redated(ca_, ReadFile(files_.cert), 5, 365 * kDay);
  ASSERT_FALSE(renewed.empty());
  WriteFileAtomically(files_.cert, renewed);
  std::vector<absl::Status> outcomes = log_.WaitFor(1);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kFailedPrecondition) << outcomes[0];
  EXPECT_THAT(std::string(outcomes[0].message()), HasSubstr("not valid before"));
  EXPECT_EQ(ReadFile((*material)->in_force().cert), in_force);

  outcomes = log_.WaitFor(2);  // no change to the files: the clock passing is what it takes
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(outcomes[1].ok()) << outcomes[1];
  EXPECT_THAT(ReadFile((*material)->in_force().cert), HasSubstr(renewed));
  auto server = ServeOn(**material);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Handshake(*server, ca_).ok());
}

TEST_F(TlsMaterialTest, KeyFileHoldingACertificateToo_GrpcGetsOnlyWhatWasChecked) {
  // A key file with a stale certificate in front of the key: gRPC, given the raw bytes, would
  // take that certificate as ours, and no handshake would work.
  WriteFileAtomically(files_.key, ReadFile(ca_.Identity("order").cert) + ReadFile(files_.key));
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  const std::string in_force = ReadFile((*material)->in_force().cert);
  EXPECT_THAT(in_force, Not(HasSubstr(ReadFile(ca_.Identity("order").cert))));
  EXPECT_THAT(in_force, HasSubstr(ReadFile(files_.cert)));
  auto server = ServeOn(**material);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Handshake(*server, ca_).ok());
}

// A CA given as a "TRUSTED CERTIFICATE" that may not vouch for clients keeps that limit in
// what gRPC reads: written back as a plain certificate, it would be trusted for everything.
TEST_F(TlsMaterialTest, CaWithTrustSettings_KeepsThemInWhatGrpcReads) {
  const X509Ptr root = FirstCertificate(ReadFile(files_.ca));
  ASSERT_NE(root, nullptr);
  ASSERT_EQ(X509_add1_reject_object(root.get(), OBJ_nid2obj(NID_client_auth)), 1);
  const std::string trusted = Written([&](BIO* out) { PEM_write_bio_X509_AUX(out, root.get()); });
  ASSERT_NE(trusted.find("BEGIN TRUSTED CERTIFICATE"), std::string::npos);
  WriteFileAtomically(files_.ca, trusted);

  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  const std::string in_force = ReadFile((*material)->in_force().ca);
  EXPECT_THAT(in_force, HasSubstr("BEGIN TRUSTED CERTIFICATE"));
  const X509Ptr given = FirstCertificate(in_force, /*aux=*/true);
  ASSERT_NE(given, nullptr);
  STACK_OF(ASN1_OBJECT)* rejected = X509_get0_reject_objects(given.get());
  ASSERT_NE(rejected, nullptr);
  ASSERT_EQ(sk_ASN1_OBJECT_num(rejected), 1);
  EXPECT_EQ(OBJ_obj2nid(sk_ASN1_OBJECT_value(rejected, 0)), NID_client_auth);
}

TEST_F(TlsMaterialTest, Start_MissingCa_FailsWithNotFoundNamingTlsCa) {
  std::filesystem::remove(files_.ca);
  auto material = Start();
  EXPECT_EQ(material.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(material.status().message()), StartsWith("--tls_ca=" + files_.ca));
}

TEST_F(TlsMaterialTest, CertificateNotAfter_IsTheCertificatesExpiry) {
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  // gen-certs.sh issues leaf certificates for 825 days.
  const absl::Duration left = (*material)->certificate_not_after() - absl::Now();
  EXPECT_GT(left, absl::Hours(24 * 824));
  EXPECT_LT(left, absl::Hours(24 * 826));
}

TEST_F(TlsMaterialTest, KeyWrittenBeforeItsCertificate_NeverReachesGrpc_ThePairDoesOnceComplete) {
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  auto server = ServeOn(**material);
  ASSERT_NE(server, nullptr);
  const std::string identity_before = ReadFile((*material)->in_force().cert);

  // A rotation to the next CA, written file by file as a careless script would: first a CA
  // bundle that trusts both, then the new key, and only later its certificate.
  CertificateAuthority next;
  const testing::IdentityFiles next_user = next.Identity("user");
  WriteFileAtomically(files_.ca, ReadFile(ca_.ca_file()) + ReadFile(next.ca_file()));
  ASSERT_TRUE(log_.WaitFor(1).at(0).ok());
  WriteFileAtomically(files_.key, ReadFile(next_user.key));

  std::vector<absl::Status> outcomes = log_.WaitFor(2);
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[1].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outcomes[1].message()), HasSubstr("does not match the certificate"));
  EXPECT_EQ(ReadFile((*material)->in_force().cert), identity_before);
  // gRPC has had time to re-read the files in force (every second): handshakes still work.
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_TRUE(Handshake(*server, ca_).ok());

  WriteFileAtomically(files_.cert, ReadFile(next_user.cert));
  outcomes = log_.WaitFor(3);
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[2].ok()) << outcomes[2];
  EXPECT_THAT(ReadFile((*material)->in_force().cert), HasSubstr(ReadFile(next_user.cert)));
  EXPECT_TRUE(EventuallyHandshakes(*server, next));
}

TEST_F(TlsMaterialTest, HalfWrittenCaBundle_IsRejected_TheWholeBundleStays) {
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  CertificateAuthority next;
  const std::string next_ca = ReadFile(next.ca_file());
  // A second CA cut off half-way: a TLS stack would quietly keep only the first.
  WriteFileAtomically(files_.ca, ReadFile(ca_.ca_file()) + next_ca.substr(0, next_ca.size() / 2));

  const std::vector<absl::Status> outcomes = log_.WaitFor(1);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outcomes[0].message()),
              HasSubstr("--tls_ca=" + files_.ca + ": certificate 2 does not parse"));
  EXPECT_EQ(ReadFile((*material)->in_force().ca), ReadFile(ca_.ca_file()));
}

TEST_F(TlsMaterialTest, EachChangePutInForce_GetsANewWholeSecondModificationTime) {
  // gRPC compares modification times in whole seconds to catch a change between its reads of
  // the key and the certificate: two changes within one second must still differ.
  auto material = Start();
  ASSERT_TRUE(material.ok()) << material.status();
  struct stat before {};
  ASSERT_EQ(stat((*material)->in_force().cert.c_str(), &before), 0);
  const std::string ca = ReadFile(files_.ca);
  for (int i = 1; i <= 2; ++i) {
    WriteFileAtomically(files_.ca, ca + std::string(static_cast<size_t>(i), '\n'));
    ASSERT_TRUE(log_.WaitFor(static_cast<size_t>(i)).at(static_cast<size_t>(i) - 1).ok());
  }
  struct stat after {};
  ASSERT_EQ(stat((*material)->in_force().cert.c_str(), &after), 0);
  EXPECT_GE(after.st_mtim.tv_sec, before.st_mtim.tv_sec + 2);
  EXPECT_EQ(after.st_mtim.tv_nsec, 0);
}

}  // namespace
}  // namespace hermes::runtime
