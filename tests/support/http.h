// A minimal HTTP/1.0 GET over a real socket, for scraping /metrics in tests.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hermes::testing {

// The body of GET http://127.0.0.1:<port><path>; an error unless the status is 200.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    absl::Duration timeout = absl::Seconds(10));

// The value of one sample in Prometheus text format, e.g.
// MetricValue(body, "grpc_server_started_total", {{"grpc_method", "GetUser"}}): the first
// series of that name whose labels include all of `labels`; nullopt if there is none.
std::optional<double> MetricValue(const std::string& body, const std::string& name,
                                  const std::vector<std::pair<std::string, std::string>>& labels);

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// The labels of one method's grpc_server_* series (go-grpc-prometheus names): `type` is
// "unary", "client_stream", "server_stream" or "bidi_stream".
MetricLabels MethodLabels(const std::string& service, const std::string& method,
                          const std::string& type);
// `labels` and grpc_code="<code>" (Go's spelling: "OK", "Canceled", "ResourceExhausted").
MetricLabels WithCode(MetricLabels labels, const std::string& code);

// grpc_server_started_total of one method, from the /metrics on `metrics_port`; -1 when it
// cannot be read or has no such series. A check that a refused client (a failed handshake)
// never got as far as a handler: the count does not move.
double CallsStarted(int metrics_port, const std::string& service, const std::string& method);

}  // namespace hermes::testing
