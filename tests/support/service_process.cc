#include "tests/support/service_process.h"

#include "absl/strings/str_cat.h"
#include "tests/support/network.h"

namespace hermes::testing {

ServiceProcess::ServiceProcess(ServiceOptions options)
    : options_(std::move(options)), grpc_port_(PickFreePort()), metrics_port_(PickFreePort()) {
  std::vector<std::string> argv = {options_.binary,
                                   absl::StrCat("--grpc_addr=", LoopbackAddress(grpc_port_)),
                                   absl::StrCat("--metrics_addr=", LoopbackAddress(metrics_port_))};
  if (options_.ca == nullptr) {
    argv.push_back("--insecure");
  } else {
    const IdentityFiles files = options_.ca->Identity(options_.server_identity);
    argv.push_back(absl::StrCat("--tls_ca=", files.ca));
    argv.push_back(absl::StrCat("--tls_cert=", files.cert));
    argv.push_back(absl::StrCat("--tls_key=", files.key));
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  process_ = std::make_unique<Subprocess>(std::move(argv), options_.extra_env);
}

std::string ServiceProcess::address() const { return LoopbackAddress(grpc_port_); }

std::shared_ptr<grpc::Channel> ServiceProcess::Channel(const std::string& identity) const {
  return TestChannel(address(),
                     options_.ca == nullptr ? nullptr : options_.ca->ClientCredentials(identity));
}

::testing::AssertionResult ServiceProcess::WaitUntilServing(absl::Duration timeout) {
  absl::Status status = WaitForServing(Channel(), "", timeout);
  if (!status.ok()) {
    return ::testing::AssertionFailure()
           << "not SERVING: " << status << "\n--- service output ---\n"
           << Output();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace hermes::testing
