// Network helpers for tests that talk to real servers on loopback.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hermes::testing {

// A TCP port on 127.0.0.1 kept for a test while it lives: bound, with SO_REUSEADDR, and not
// listening. A connection to it is refused, as to a port nobody uses; the kernel hands it to
// no one else; and a server (gRPC's listeners set SO_REUSEADDR too) can still listen on it, as
// often as the test restarts one. For a test that needs an address nobody answers on, or
// whose server comes up on a port chosen long before (an outage, a restart): a port merely
// free a moment ago could be taken meanwhile.
class PortReservation {
 public:
  PortReservation();  // aborts when no port can be bound
  ~PortReservation();
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;

  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// "127.0.0.1:<port>"
std::string LoopbackAddress(int port);

// A channel to a test server. It reconnects within ~50 ms of a failed attempt (gRPC's default
// backoff would wait seconds for a server that is still starting).
std::shared_ptr<grpc::Channel> TestChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);  // nullptr: plaintext

// Polls grpc.health.v1.Health/Check for `service` ("" = the whole server) until it answers
// SERVING or `timeout` passes. Returns the last error or non-SERVING status on timeout.
absl::Status WaitForServing(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& service, absl::Duration timeout);

}  // namespace hermes::testing
