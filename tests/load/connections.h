// The --connections channels a run spreads its calls over: plaintext or mutual TLS, each its own
// TCP connection (a local subchannel pool and a distinct channel argument, so gRPC never folds
// two channels onto one subchannel).
//
//   absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> channels =
//   OpenConnections(options); int ready = WaitUntilConnected(*channels, options.timeout);   // 0:
//   nothing to load
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/load/options.h"

namespace hermes::load {

// Creates the channels (nothing connects yet). Fails, naming the flag, when a PEM file cannot be
// read.
absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> OpenConnections(
    const LoadOptions& options);

// Starts connecting every channel and waits (all together, at most `timeout`) until each is
// READY; returns how many are.
int WaitUntilConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                       absl::Duration timeout);

}  // namespace hermes::load
