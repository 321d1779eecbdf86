// A whole run: the worker threads of the kind of method (repeated calls, or long-lived
// streams), started together, joined, and what they saw merged into one RunReport.
//
//   RunReport report = IsLongLivedStream(method.kind)
//       ? RunLongLivedStreams(options, method, request, channels, latency_field)
//       : RunRepeatedCalls(options, method, request, channels);
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <optional>
#include <vector>

#include "tests/load/options.h"
#include "tests/load/report.h"
#include "tests/load/request_template.h"
#include "tests/load/rpc_method.h"
#include "tests/load/timestamp_field.h"

namespace hermes::load {

// Unary and client-streaming methods: closed loop, or open loop with --rps.
RunReport RunRepeatedCalls(const LoadOptions& options, const RpcMethod& method,
                           const RequestTemplate& request,
                           const std::vector<std::shared_ptr<grpc::Channel>>& channels);

// Server-streaming and bidi methods: --streams streams held open for the run.
RunReport RunLongLivedStreams(const LoadOptions& options, const RpcMethod& method,
                              const RequestTemplate& request,
                              const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                              std::optional<TimestampField> latency_field);

}  // namespace hermes::load
