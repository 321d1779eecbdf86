// NativeStack: the stack `make up` runs (deploy/up.sh: hermes-user, hermes-order and a real
// Prometheus), started by the end-to-end test on free loopback ports, with certificates made by
// gen-certs.sh and a fresh state directory (stores, Prometheus data, rendered config) of its own.
//
//   NativeStack stack({.repo = ..., .bin_dir = ..., .probe = ..., .certs = ca.dir()});
//   ASSERT_TRUE(stack.WaitUntilUp(absl::Seconds(120)));
//   ... buf curl to stack.ports().user_grpc, Prometheus on stack.ports().prometheus ...
//   EXPECT_TRUE(stack.Stop(absl::Seconds(60)));  // SIGTERM; up.sh must exit 0
//
// The destructor stops a stack that is still running (killing what does not stop) and removes
// the state directory, so a failed assertion never leaves a process behind.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/network.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {

struct StackPorts {
  int user_grpc = 0;
  int user_metrics = 0;
  int order_grpc = 0;
  int order_metrics = 0;
  int prometheus = 0;
};

class NativeStack {
 public:
  struct Options {
    std::string repo;     // the source tree: deploy/up.sh runs from it
    std::string bin_dir;  // holds user/hermes-user and order/hermes-order
    std::string probe;    // hermes-health-probe, for up.sh's readiness wait
    std::string certs;    // made by gen-certs.sh: ca.pem, <identity>/{cert,key}.pem
  };

  // Picks the ports, makes the state directory and starts `bash deploy/up.sh`.
  explicit NativeStack(Options options);
  ~NativeStack();
  NativeStack(const NativeStack&) = delete;
  NativeStack& operator=(const NativeStack&) = delete;

  // Waits for up.sh's "Hermes is up" banner; fails at once if up.sh exits first.
  ::testing::AssertionResult WaitUntilUp(absl::Duration timeout);

  // SIGTERM to up.sh; succeeds if it exits 0 within `timeout` and leaves no process behind.
  ::testing::AssertionResult Stop(absl::Duration timeout);

  const StackPorts& ports() const { return ports_; }
  const std::string& state_dir() const { return state_dir_; }
  std::string Output() const { return up_->Output(); }  // every process's lines, prefixed

 private:
  std::vector<pid_t> ProcessPids() const;  // from up.sh's $STATE_DIR/run/*.pid
  std::vector<pid_t> KillSurvivors(const std::vector<pid_t>& pids) const;

  Options options_;
  // The five ports, held from before up.sh starts until the stack is gone: between picking a
  // port and a process listening on it, no other test's server or outgoing connection can take
  // it (a port merely picked could be, by the tests running beside this one). The stack's
  // processes still listen on them: gRPC, civetweb (/metrics) and Prometheus all bind with
  // SO_REUSEADDR, as PortReservation does.
  std::vector<std::unique_ptr<PortReservation>> reservations_;
  StackPorts ports_;
  std::string state_dir_;
  std::vector<pid_t> pids_;  // the stack's processes, read once it is up
  std::unique_ptr<Subprocess> up_;
  bool stopped_ = false;
};

}  // namespace hermes::testing
