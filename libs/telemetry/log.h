// Structured logging: one JSON object per line, through spdlog's process-wide default logger.
//
// main() installs the logger once (after TerminationSignals, so the logger's threads inherit
// the blocked signal mask) and flushes it on the way out:
//
//   hermes::telemetry::InitLogging({.service = "user", .level = *level});
//   hermes::telemetry::RouteGrpcLogs();
//   hermes::telemetry::RouteProtobufLogs();
//   ...
//   hermes::telemetry::ShutdownLogging();
//
// and code logs with fields instead of formatted prose, so lines can be filtered and joined:
//
//   HERMES_LOG(spdlog::level::info, "rpc finished").Str("method", m).Int("duration_us", d);
//
// Every line reads
//   {"ts":"2026-11-21T11:26:19.123456Z","level":"info","service":"user","msg":"...",<fields>}
// with ts in UTC, microsecond precision. `level` is spdlog's level name, so the warn level is
// written "warning" (and critical "critical"). Plain spdlog calls (spdlog::info("x {}", y)) stay
// valid JSON too: their formatted text becomes the escaped "msg" (plus "file"/"line" when the
// SPDLOG_* macros supply a source location).
//
// The default logger is synchronous and buffered: the calling thread formats its line into
// stdout's stdio buffer (one write(2) per few kilobytes), and a line waits there at most a
// second (spdlog's flusher), lines at warn and above not at all. Lines are never dropped: a
// stdout slower than the request rate slows requests rather than losing the record of them.
// Why not spdlog's async logger (the default until measured): every line is handed to its
// writer thread (a locked queue, a wake-up whenever the writer waits), and on a service with
// one core that cost about 15 % of GetUser's throughput at saturation (the median of five A/B
// runs, which ranged from -6 to +19 %: tests/bench/ab.sh; tests/bench/HISTORY.md). `async`
// keeps it available.
#pragma once

#include <spdlog/common.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/telemetry/json_escape.h"

namespace hermes::telemetry {

struct LogOptions {
  std::string service;  // e.g. "user"; written as "service" in every line
  spdlog::level::level_enum level = spdlog::level::info;
  // nullptr: stdout. Tests pass their own. Must be thread-safe (an *_mt sink): any thread may
  // write through it. Its formatter is replaced by the JSON one. Used until the next
  // InitLogging or ShutdownLogging.
  std::shared_ptr<spdlog::sinks::sink> sink;
  // spdlog's async logger: one writer thread behind an 8,192-line queue (a caller blocks when
  // it is full). Absorbs bursts against a slow sink, at the price of a thread hand-off per line.
  bool async = false;
};

// Installs the process-wide logger (spdlog's default logger). Calling it again replaces the
// logger: lines queued by the previous one are written first, to the previous sink. Loggers
// that were replaced are kept alive (a few hundred bytes each) because spdlog hands out raw
// pointers to its default logger, which another thread may still be using. If RouteGrpcLogs()
// was called, gRPC's verbosity follows the new level.
void InitLogging(const LogOptions& options);

// Routes gRPC's own log lines (gpr_set_log_function) into the same stream as
// {...,"msg":<grpc message>,"component":"grpc","file":"...","line":N}, severity mapped
// DEBUG->trace, INFO->debug (gRPC's INFO is chatty: connection and resolver events),
// ERROR->error. Also sets gRPC's verbosity from the current level so
// that gRPC does not format lines that would be dropped (this overrides GRPC_VERBOSITY).
void RouteGrpcLogs();

// Routes protobuf's own log lines the same way, as
// {...,"msg":<message>,"component":"protobuf","file":"...","line":N}. Its ERROR and WARNING
// become warn, except what it says while parsing (a string field that is not valid UTF-8 in
// bytes a client sent, once per message), which becomes debug: the call's own line already
// reports it as the caller's error (INVALID_ARGUMENT). INFO becomes debug, FATAL critical. Call
// it before other threads run (protobuf's SetLogHandler is not thread-safe).
void RouteProtobufLogs();

// Writes every queued line, stops the background writer, flushes the sink and lets go of it.
// Logging stays possible afterwards (gRPC threads may still report while the process winds
// down): the default logger becomes a synchronous stdout logger with the same level and format.
// Safe to call twice, and before InitLogging (then it only flushes).
void ShutdownLogging();

// Writes out the lines logged so far (in order, after the async queue). Lines are otherwise
// buffered up to a second (warnings and errors are flushed at once): call it after a line
// that someone watching the output waits for, such as "serving".
void FlushLogs();

// "trace", "debug", "info", "warn", "error" -> level (exact, lower case, as --log_level takes
// them); anything else -> InvalidArgument naming the valid values.
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(absl::string_view name);

// Whether a line at `level` would be written. One atomic load: cheap enough for every call.
bool LogEnabled(spdlog::level::level_enum level);

// One log line under construction. Keys and values are JSON-escaped as they are added (see
// json_escape.h: the line always parses). Written once, by Emit() or the destructor. When the
// level is off at construction nothing is built and every call is a no-op; the HERMES_LOG macro
// goes further and does not evaluate the field arguments at all.
//
// Keys are not checked for duplicates: do not reuse ts, level, service or msg.
class LogLine {
 public:
  LogLine(spdlog::level::level_enum level, absl::string_view msg);
  ~LogLine();  // emits if not yet emitted
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Str(absl::string_view key, absl::string_view value);
  LogLine& Int(absl::string_view key, int64_t value);
  LogLine& Double(absl::string_view key, double value);  // NaN and infinities are written null
  // A duration as a number of milliseconds to the microsecond, trailing zeros cut: 25.45,
  // 0.083, 3 (what an access line's duration_ms needs, at a fraction of Double's cost).
  LogLine& Millis(absl::string_view key, std::chrono::nanoseconds duration);
  LogLine& Bool(absl::string_view key, bool value);

  // Writes the line now. Fields added afterwards are ignored.
  void Emit();

 private:
  void AppendKey(absl::string_view key);

  spdlog::level::level_enum level_;
  bool pending_;      // enabled at construction and not yet emitted
  std::string body_;  // "msg":"...","key":value,... (the part after "service")
};

}  // namespace hermes::telemetry

// The switch makes the macro a single statement with no dangling `else`, so it is safe (and
// warning-free) as the body of an unbraced `if`, the same trick as ABSL_LOG.
#define HERMES_LOG(level, msg)                     \
  switch (0)                                       \
  case 0:                                          \
  default:                                         \
    if (!::hermes::telemetry::LogEnabled(level)) { \
    } else                                         \
      ::hermes::telemetry::LogLine(level, msg)
