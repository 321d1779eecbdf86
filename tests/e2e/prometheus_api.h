// PrometheusApi: a real Prometheus's HTTP API (https://prometheus.io/docs/prometheus/latest/
// querying/api/) on 127.0.0.1, as the end-to-end test reads it: targets and instant queries.
//
//   PrometheusApi prometheus(port);
//   absl::StatusOr<google::protobuf::ListValue> result = prometheus.Query("up");
//
// JSON answers are parsed into google::protobuf::Struct (numbers become doubles; sample values
// stay strings, as Prometheus sends them).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hermes::testing {

// Percent-encodes everything but RFC 3986's unreserved characters, for a query parameter.
std::string UrlEncode(std::string_view text);

// A JSON object (a file, a command's output) as a Struct.
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(const std::string& json);

// The string, number or nested value at `key` of an object (empty/0 if absent).
std::string StringField(const google::protobuf::Struct& object, const std::string& key);
const google::protobuf::Struct& StructField(const google::protobuf::Struct& object,
                                            const std::string& key);
const google::protobuf::ListValue& ListField(const google::protobuf::Struct& object,
                                             const std::string& key);

class PrometheusApi {
 public:
  explicit PrometheusApi(int port) : port_(port) {}

  // GET /api/v1/<path>: its "data" if "status" is "success"; otherwise an error carrying
  // Prometheus's errorType and error (e.g. a PromQL parse error) or the transport's failure.
  absl::StatusOr<google::protobuf::Value> Get(const std::string& path) const;

  // An instant query: data.result (for a vector, one element per series; empty: no data).
  absl::StatusOr<google::protobuf::ListValue> Query(const std::string& promql) const;

 private:
  int port_;
};

}  // namespace hermes::testing
