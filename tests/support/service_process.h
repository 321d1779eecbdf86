// ServiceProcess: a real Hermes service binary on loopback ports picked at run time, started
// the way an operator would start it (mTLS with certificates from gen-certs.sh, or
// --insecure), and ready-checked through gRPC health over the same transport.
//
// The binary binds 127.0.0.1:0 for gRPC and /metrics and the ports are read from its
// "serving" log line, so tests running in parallel never race for a port; and it gets a
// fresh --data_dir of its own (removed afterwards) unless the test passes one.
#pragma once

#include <grpcpp/channel.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/support/certs.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {

struct ServiceOptions {
  std::string binary;                        // HERMES_USER_BIN, HERMES_ORDER_BIN
  const CertificateAuthority* ca = nullptr;  // nullptr: --insecure
  std::string server_identity = "user";      // the folder of ca with the server's cert and key
  std::vector<std::string> extra_args;
  std::vector<std::string> extra_env;  // "NAME=value"
};

// argv ({binary, flags...}) with --grpc_addr and --metrics_addr on 127.0.0.1:0 and a
// --data_dir under the test's temporary directory put before the test's own flags (which win:
// the last occurrence of a flag does). For a service started outside ServiceProcess to see its
// start-up fail: should the check under test break, it still listens on loopback ports of its
// own and writes nothing in the working directory, instead of taking 0.0.0.0:50051 and ./var.
std::vector<std::string> OnLoopback(std::vector<std::string> argv);

class ServiceProcess {
 public:
  explicit ServiceProcess(ServiceOptions options);
  ~ServiceProcess();

  // Polls health (as spiffe://hermes/admin over mTLS, or plaintext) until SERVING. On failure
  // the result carries the last health answer and the service's output:
  //   ASSERT_TRUE(server.WaitUntilServing());
  ::testing::AssertionResult WaitUntilServing(absl::Duration timeout = absl::Seconds(20));

  // Valid once WaitUntilServing() succeeded.
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const;  // 127.0.0.1:<grpc_port>

  // A channel to the service presenting `identity`'s certificate (plaintext when insecure).
  std::shared_ptr<grpc::Channel> Channel(const std::string& identity = "admin") const;

  Subprocess& process() { return *process_; }
  std::string Output() const { return process_->Output(); }

  // Waits (bounded) until the output contains `needle`: log lines are written by a background
  // thread, so they appear shortly after what caused them.
  bool WaitForOutput(const std::string& needle, absl::Duration timeout = absl::Seconds(10)) const;

 private:
  ServiceOptions options_;
  std::string data_dir_;  // ours to remove
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace hermes::testing
