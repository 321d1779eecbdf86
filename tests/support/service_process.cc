#include "tests/support/service_process.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/network.h"

namespace hermes::testing {

namespace {

// Both listeners on loopback ports the kernel picks; the "serving" line names them.
constexpr const char* kGrpcOnLoopback = "--grpc_addr=127.0.0.1:0";
constexpr const char* kMetricsOnLoopback = "--metrics_addr=127.0.0.1:0";

}  // namespace

std::vector<std::string> OnLoopback(std::vector<std::string> argv) {
  const std::vector<std::string> contained = {
      kGrpcOnLoopback, kMetricsOnLoopback,
      absl::StrCat("--data_dir=", ::testing::TempDir(), "hermes-failed-start-", getpid())};
  argv.insert(argv.begin() + std::min<size_t>(1, argv.size()), contained.begin(), contained.end());
  return argv;
}

ServiceProcess::ServiceProcess(ServiceOptions options) : options_(std::move(options)) {
  char dir_template[] = "/tmp/hermes-data-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) std::abort();
  data_dir_ = dir_template;
  // A --data_dir in extra_args comes later on the command line and wins.
  std::vector<std::string> argv = {options_.binary, kGrpcOnLoopback, kMetricsOnLoopback,
                                   "--data_dir=" + data_dir_};
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

ServiceProcess::~ServiceProcess() {
  process_.reset();  // the process first, then its files
  std::error_code ignored;
  std::filesystem::remove_all(data_dir_, ignored);
}

std::string ServiceProcess::address() const { return LoopbackAddress(grpc_port_); }

std::shared_ptr<grpc::Channel> ServiceProcess::Channel(const std::string& identity) const {
  return TestChannel(address(),
                     options_.ca == nullptr ? nullptr : options_.ca->ClientCredentials(identity));
}

bool ServiceProcess::WaitForOutput(const std::string& needle, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (Output().find(needle) == std::string::npos) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

::testing::AssertionResult ServiceProcess::WaitUntilServing(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // The ports: from the "serving" line, {"msg":"serving",...,"grpc_port":N,...,"metrics_port":M}.
  while (grpc_port_ == 0) {
    const std::string output = Output();
    const size_t line = output.find("\"msg\":\"serving\"");
    if (line != std::string::npos) {
      auto number_after = [&](const std::string& key) {
        const size_t at = output.find(key, line);
        return at == std::string::npos ? 0 : std::atoi(output.c_str() + at + key.size());
      };
      grpc_port_ = number_after("\"grpc_port\":");
      metrics_port_ = number_after("\"metrics_port\":");
      break;
    }
    if (absl::Now() >= deadline || process_->WaitForExit(absl::ZeroDuration()).has_value()) {
      return ::testing::AssertionFailure() << "never logged \"serving\"\n--- service output ---\n"
                                           << output;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::Status status = WaitForServing(Channel(), "", deadline - absl::Now());
  if (!status.ok()) {
    return ::testing::AssertionFailure()
           << "not SERVING: " << status << "\n--- service output ---\n"
           << Output();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace hermes::testing
