// The end-of-run report: ghz-style text for people, one JSON object for scripts.
//
// Every status code that occurred is listed with its count (Go spelling: OK, NotFound,
// Canceled, ...), never folded away, and the first distinct error messages are shown.
//
// JSON (times in milliseconds, rates per second):
//   {"call", "kind", "mode" ("closed_loop" | "open_loop" | "streams"), "connections",
//    "concurrency", "target_rps", "count", "total_s", "rps", "fastest_ms", "slowest_ms",
//    "average_ms", "p10_ms", "p25_ms", "p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms",
//    "p999_ms", "status": {"OK": n, ...}, "errors", "error_messages": [{"code", "message",
//    "count"}], "unlisted_errors", "unsent", "histogram": [{"le_ms", "count"}],
//    "streams": null | {"requested", "opened", "failed", "open_ms", "window_s", "messages",
//                       "messages_per_s", "ended_early": {"Code": n}, "delivery_p50_ms",
//                       "delivery_p90_ms", "delivery_p99_ms", "delivery_p999_ms",
//                       "delivery_max_ms" (null without delivery samples),
//                       "delivery": null | {"latency_field", "count", "missing_timestamp",
//                                           "stamped_ahead", "average_ms", "p50_ms", "p90_ms",
//                                           "p99_ms", "p999_ms", "max_ms"}}}
// For long-lived streams, count is the number of streams and the latency fields describe the
// time each took to open (to its response headers).
#pragma once

#include <string>

#include "tests/load/rpc_method.h"
#include "tests/load/run_stats.h"

namespace hermes::load {

struct RunReport {
  std::string call;  // "user.v1.UserService/GetUser"
  RpcKind kind = RpcKind::kUnary;
  int connections = 1;
  int concurrency = 0;       // repeated calls
  double target_rps = 0;     // 0: closed loop
  double total_seconds = 0;  // from the end of the warm-up to the last counted completion
  RunStats stats;
  // Long-lived streams.
  double open_seconds = 0;    // until every stream was open (or failed)
  double window_seconds = 0;  // the time messages were counted in
  std::string latency_field;  // empty: no delivery latency
};

std::string JsonReport(const RunReport& report);
std::string TextReport(const RunReport& report);

}  // namespace hermes::load
