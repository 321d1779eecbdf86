#include "libs/telemetry/log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace hermes::telemetry {
namespace {

// spdlog's stdout sink flushes after every line: a write(2) per call on the logger thread,
// on the core that serves calls. This one leaves batching to stdio; flush_every (1 s) and
// flush_on(warn) bound how long a line waits, and shutdown flushes.
class BufferedStdoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    formatted_.clear();  // keeps its capacity: an access line (~400 bytes) outgrows the inline 250
    formatter_->format(msg, formatted_);
    std::fwrite(formatted_.data(), 1, formatted_.size(), stdout);
  }
  void flush_() override { std::fflush(stdout); }

 private:
  spdlog::memory_buf_t formatted_;  // used under base_sink's mutex
};

constexpr size_t kQueueSize = 8192;
constexpr size_t kLineReserve = 512;  // one allocation for a typical line (an access line: ~320)

// LogLine marks its messages by passing this exact pointer as the source file name: the
// formatter then knows the payload is already a JSON fragment, while any other message (a
// plain spdlog::info call) is prose that must be escaped into "msg".
constexpr char kLogLineMarker[] = "hermes::telemetry::LogLine";

void Append(spdlog::memory_buf_t& dest, absl::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

void AppendEscapedString(absl::string_view text, spdlog::memory_buf_t& dest) {
  std::string escaped;
  AppendJsonEscaped(text, &escaped);
  Append(dest, escaped);
}

// The "msg" and fields part of a line.
void AppendMessageAndFields(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  if (msg.source.filename == kLogLineMarker) {
    Append(dest, absl::string_view(msg.payload.data(), msg.payload.size()));
    return;
  }
  Append(dest, "\"msg\":\"");
  AppendEscapedString(absl::string_view(msg.payload.data(), msg.payload.size()), dest);
  dest.push_back('"');
  if (!msg.source.empty() && msg.source.filename != nullptr) {
    Append(dest, ",\"file\":\"");
    AppendEscapedString(msg.source.filename, dest);
    Append(dest, absl::StrCat("\",\"line\":", msg.source.line));
  }
}

// Every line: {"ts":"2026-12-04T05:06:07.123456Z","level":"info","service":"user",<msg and
// fields>} and a newline. Written directly rather than by spdlog's pattern_formatter, which
// spent ~1,800 instructions a line on its flags (tests/bench/instructions.sh); the date and
// time to the second are formatted once a second. A formatter is only used under its sink's
// lock (or by the async writer thread), so its cache needs none.
class JsonLineFormatter final : public spdlog::formatter {
 public:
  explicit JsonLineFormatter(std::string service_json) : service_json_(std::move(service_json)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const int64_t micros =
        std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
    int64_t seconds = micros / 1000000;
    int64_t fraction = micros % 1000000;
    if (fraction < 0) {  // before 1970: floor, not truncation
      fraction += 1000000;
      --seconds;
    }
    if (seconds != cached_second_ || cached_length_ == 0) {
      const std::time_t time = static_cast<std::time_t>(seconds);
      std::tm utc{};
      gmtime_r(&time, &utc);
      cached_length_ = std::strftime(cached_.data(), cached_.size(), "%Y-%m-%dT%H:%M:%S", &utc);
      cached_second_ = seconds;
    }
    char digits[7];
    for (int i = 5; i >= 0; --i, fraction /= 10) digits[i] = static_cast<char>('0' + fraction % 10);
    digits[6] = 'Z';

    Append(dest, "{\"ts\":\"");
    Append(dest, absl::string_view(cached_.data(), cached_length_));
    dest.push_back('.');
    Append(dest, absl::string_view(digits, sizeof(digits)));
    Append(dest, "\",\"level\":\"");
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    Append(dest, absl::string_view(level.data(), level.size()));
    Append(dest, "\",\"service\":\"");
    Append(dest, service_json_);
    Append(dest, "\",");
    AppendMessageAndFields(msg, dest);
    Append(dest, "}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>(service_json_);
  }

 private:
  const std::string service_json_;  // escaped once: fixed per process
  std::array<char, 32> cached_{};   // "2026-12-04T05:06:07" of cached_second_
  size_t cached_length_ = 0;
  int64_t cached_second_ = 0;
};

std::unique_ptr<spdlog::formatter> JsonFormatter(absl::string_view service) {
  return std::make_unique<JsonLineFormatter>(JsonEscape(service));
}

// The process-wide logging state (CONVENTIONS: process-wide registries are the one exception
// to "no global mutable state"; this is spdlog's default logger plus what keeps it working).
struct LoggingState {
  absl::Mutex mu;
  std::shared_ptr<spdlog::details::thread_pool> pool ABSL_GUARDED_BY(mu);  // null when sync
  std::vector<std::shared_ptr<spdlog::logger>> retired ABSL_GUARDED_BY(mu);
  std::string service ABSL_GUARDED_BY(mu);
  bool initialized ABSL_GUARDED_BY(mu) = false;  // InitLogging ran and ShutdownLogging did not
  bool grpc_routed ABSL_GUARDED_BY(mu) = false;
  bool flusher_started ABSL_GUARDED_BY(mu) = false;
};

// Never destroyed: gRPC threads may still log while static destructors run at exit, and the
// writer thread must not outlive the spdlog objects it uses. ShutdownLogging() is the orderly end.
LoggingState& State() {
  static LoggingState* const state = std::make_unique<LoggingState>().release();
  return *state;
}

// gRPC's INFO lines are start-up chatter about its internals (epoll fds, poller counts), which
// an operator reading our info level does not need: they are logged one level lower, as debug,
// and its DEBUG lines as trace. gRPC has no warning severity.
gpr_log_severity GrpcVerbosityFor(spdlog::level::level_enum level) {
  if (level <= spdlog::level::trace) return GPR_LOG_SEVERITY_DEBUG;
  if (level == spdlog::level::debug) return GPR_LOG_SEVERITY_INFO;
  return GPR_LOG_SEVERITY_ERROR;
}

void SyncGrpcVerbosity() {
  gpr_set_log_verbosity(GrpcVerbosityFor(spdlog::default_logger_raw()->level()));
}

void GrpcLogToJson(gpr_log_func_args* args) {
  spdlog::level::level_enum level = spdlog::level::err;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      level = spdlog::level::trace;
      break;
    case GPR_LOG_SEVERITY_INFO:
      level = spdlog::level::debug;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      level = spdlog::level::err;
      break;
  }
  if (!LogEnabled(level)) return;
  LogLine(level, args->message != nullptr ? args->message : "")
      .Str("component", "grpc")
      .Str("file", args->file != nullptr ? args->file : "")
      .Int("line", args->line);
}

void ProtobufLogToJson(google::protobuf::LogLevel severity, const char* filename, int line,
                       const std::string& message) {
  spdlog::level::level_enum level = spdlog::level::warn;
  switch (severity) {
    case google::protobuf::LOGLEVEL_INFO:
      level = spdlog::level::debug;
      break;
    case google::protobuf::LOGLEVEL_WARNING:
    case google::protobuf::LOGLEVEL_ERROR:
      // Parsing, protobuf complains about bytes a client sent (a string that is not valid
      // UTF-8), once per message: the call's own line reports it, and a flushed warning per
      // message would let a client fill the log. Anything else stays a warning.
      level = absl::StrContains(message, "when parsing a protocol buffer") ? spdlog::level::debug
                                                                           : spdlog::level::warn;
      break;
    case google::protobuf::LOGLEVEL_FATAL:
      level = spdlog::level::critical;
      break;
  }
  if (!LogEnabled(level)) return;
  LogLine(level, absl::StripAsciiWhitespace(message))
      .Str("component", "protobuf")
      .Str("file", filename != nullptr ? filename : "")
      .Int("line", line);
}

// Makes `logger` the default and retires the previous one, after writing out everything it
// still holds: dropping the old pool makes its destructor write every queued line and join the
// writer thread, and the sinks are flushed directly because an async logger cannot flush
// without its pool.
void InstallDefault(LoggingState& state, std::shared_ptr<spdlog::logger> logger,
                    std::shared_ptr<spdlog::details::thread_pool> pool)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu) {
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  spdlog::set_default_logger(std::move(logger));
  std::shared_ptr<spdlog::details::thread_pool> old_pool = std::exchange(state.pool, pool);
  old_pool.reset();
  if (previous == nullptr) return;
  for (const spdlog::sink_ptr& sink : previous->sinks()) sink->flush();
  state.retired.push_back(std::move(previous));
}

}  // namespace

void InitLogging(const LogOptions& options) {
  LoggingState& state = State();
  absl::MutexLock lock(&state.mu);
  std::shared_ptr<spdlog::sinks::sink> sink =
      options.sink != nullptr ? options.sink : std::make_shared<BufferedStdoutSink>();
  std::shared_ptr<spdlog::details::thread_pool> pool;
  std::shared_ptr<spdlog::logger> logger;
  if (options.async) {
    pool = std::make_shared<spdlog::details::thread_pool>(kQueueSize, 1);
    logger = std::make_shared<spdlog::async_logger>("", sink, pool,
                                                    spdlog::async_overflow_policy::block);
  } else {
    logger = std::make_shared<spdlog::logger>("", sink);
  }
  logger->set_formatter(JsonFormatter(options.service));
  logger->set_level(options.level);
  logger->flush_on(spdlog::level::warn);
  InstallDefault(state, std::move(logger), std::move(pool));
  state.service = options.service;
  state.initialized = true;
  if (!state.flusher_started) {
    // Without it a quiet service's lines would sit in stdout's buffer when it is a pipe.
    spdlog::flush_every(std::chrono::seconds(1));
    state.flusher_started = true;
  }
  if (state.grpc_routed) SyncGrpcVerbosity();
}

void RouteGrpcLogs() {
  LoggingState& state = State();
  absl::MutexLock lock(&state.mu);
  gpr_set_log_function(&GrpcLogToJson);
  state.grpc_routed = true;
  SyncGrpcVerbosity();
}

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&ProtobufLogToJson); }

void FlushLogs() {
  if (std::shared_ptr<spdlog::logger> logger = spdlog::default_logger()) logger->flush();
}

void ShutdownLogging() {
  LoggingState& state = State();
  absl::MutexLock lock(&state.mu);
  std::shared_ptr<spdlog::logger> current = spdlog::default_logger();
  if (!state.initialized || current == nullptr) {
    if (current != nullptr) current->flush();
    return;
  }
  state.initialized = false;
  // Stdout, not the caller's sink: that sink may write into something the caller is about to
  // destroy (a test's stream), while late lines (gRPC threads winding down) must still go
  // somewhere safe, in the same format.
  auto fallback =
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  fallback->set_formatter(JsonFormatter(state.service));
  fallback->set_level(current->level());
  fallback->flush_on(spdlog::level::warn);
  InstallDefault(state, std::move(fallback), nullptr);
}

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(absl::string_view name) {
  static constexpr std::array<std::pair<absl::string_view, spdlog::level::level_enum>, 5> kLevels =
      {{{"trace", spdlog::level::trace},
        {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},
        {"error", spdlog::level::err}}};
  for (const auto& [level_name, level] : kLevels) {
    if (name == level_name) return level;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown log level \"", name,
                                                 "\"; valid levels: trace, debug, info, warn, "
                                                 "error"));
}

bool LogEnabled(spdlog::level::level_enum level) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  return logger != nullptr && logger->should_log(level);
}

LogLine::LogLine(spdlog::level::level_enum level, absl::string_view msg)
    : level_(level), pending_(LogEnabled(level)) {
  if (!pending_) return;
  body_.reserve(kLineReserve);
  body_.append("\"msg\":\"");
  AppendJsonEscaped(msg, &body_);
  body_.push_back('"');
}

LogLine::~LogLine() { Emit(); }

void LogLine::AppendKey(absl::string_view key) {
  body_.append(",\"");
  AppendJsonEscaped(key, &body_);
  body_.append("\":");
}

LogLine& LogLine::Str(absl::string_view key, absl::string_view value) {
  if (!pending_) return *this;
  AppendKey(key);
  body_.push_back('"');
  AppendJsonEscaped(value, &body_);
  body_.push_back('"');
  return *this;
}

LogLine& LogLine::Int(absl::string_view key, int64_t value) {
  if (!pending_) return *this;
  AppendKey(key);
  char digits[24];
  const std::to_chars_result result = std::to_chars(digits, digits + sizeof(digits), value);
  body_.append(digits, result.ptr);
  return *this;
}

LogLine& LogLine::Double(absl::string_view key, double value) {
  if (!pending_) return *this;
  AppendKey(key);
  if (!std::isfinite(value)) {
    body_.append("null");  // JSON has no NaN or infinity
    return *this;
  }
  // Shortest round-trip form; always valid JSON ("1e+20", "0.5", "-3").
  char digits[32];
  const std::to_chars_result result = std::to_chars(digits, digits + sizeof(digits), value);
  body_.append(digits, result.ptr);
  return *this;
}

LogLine& LogLine::Millis(absl::string_view key, std::chrono::nanoseconds duration) {
  if (!pending_) return *this;
  AppendKey(key);
  int64_t micros = duration.count() / 1000;  // toward zero: |micros| < 2^63 / 1000
  if (micros < 0) {
    body_.push_back('-');
    micros = -micros;
  }
  char digits[24];
  const std::to_chars_result result = std::to_chars(digits, digits + sizeof(digits), micros / 1000);
  body_.append(digits, result.ptr);
  const int fraction = static_cast<int>(micros % 1000);
  if (fraction == 0) return *this;
  char decimals[4] = {'.', static_cast<char>('0' + fraction / 100),
                      static_cast<char>('0' + fraction / 10 % 10),
                      static_cast<char>('0' + fraction % 10)};
  size_t length = sizeof(decimals);
  while (decimals[length - 1] == '0') --length;
  body_.append(decimals, length);
  return *this;
}

LogLine& LogLine::Bool(absl::string_view key, bool value) {
  if (!pending_) return *this;
  AppendKey(key);
  body_.append(value ? "true" : "false");
  return *this;
}

void LogLine::Emit() {
  if (!pending_) return;
  pending_ = false;
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (logger == nullptr) return;
  logger->log(spdlog::source_loc(kLogLineMarker, 0, nullptr), level_,
              spdlog::string_view_t(body_.data(), body_.size()));
}

}  // namespace hermes::telemetry
