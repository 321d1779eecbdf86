#include "libs/telemetry/log.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>
#include <grpc/support/log.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hermes::telemetry {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Keeps what the logger writes in memory. It owns its buffer (unlike ostream_sink), so a
// logger that outlives the test can never write into a destroyed stream.
class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string Contents() {
    std::lock_guard<std::mutex> lock(mutex_);
    return contents_;
  }
  std::vector<std::string> Lines() { return absl::StrSplit(Contents(), '\n', absl::SkipEmpty()); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    contents_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string contents_;
};

google::protobuf::Struct ParseOrFail(const std::string& line) {
  google::protobuf::Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\nline: " << line;
  return parsed;
}

// The field `key` of a parsed line, or a failure and a null value when it is missing.
google::protobuf::Value Field(const google::protobuf::Struct& line, const std::string& key) {
  const auto it = line.fields().find(key);
  if (it == line.fields().end()) {
    ADD_FAILURE() << "no field \"" << key << "\"";
    return google::protobuf::Value();
  }
  return it->second;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(spdlog::level::info); }
  void TearDown() override { ShutdownLogging(); }

  void Init(spdlog::level::level_enum level, const std::string& service = "user",
            bool async = false) {
    sink_ = std::make_shared<CapturingSink>();
    InitLogging({.service = service, .level = level, .sink = sink_, .async = async});
  }

  // Every line written so far, each checked to parse as a JSON object.
  std::vector<google::protobuf::Struct> ParsedLines() {
    std::vector<google::protobuf::Struct> parsed;
    for (const std::string& line : sink_->Lines()) parsed.push_back(ParseOrFail(line));
    return parsed;
  }

  // The one line written so far.
  google::protobuf::Struct OnlyLine() {
    std::vector<google::protobuf::Struct> lines = ParsedLines();
    EXPECT_EQ(lines.size(), 1u) << sink_->Contents();
    return lines.empty() ? google::protobuf::Struct() : lines.front();
  }

  std::shared_ptr<CapturingSink> sink_;
};

TEST_F(LogTest, LogLine_Fields_AreWrittenWithTheirJsonTypes) {
  HERMES_LOG(spdlog::level::info, "rpc finished")
      .Str("method", "/user.v1.UserService/GetUser")
      .Int("messages", -42)
      .Double("duration_ms", 0.25)
      .Bool("ok", true);

  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "level").string_value(), "info");
  EXPECT_EQ(Field(line, "service").string_value(), "user");
  EXPECT_EQ(Field(line, "msg").string_value(), "rpc finished");
  EXPECT_EQ(Field(line, "method").string_value(), "/user.v1.UserService/GetUser");
  EXPECT_EQ(Field(line, "messages").kind_case(), google::protobuf::Value::kNumberValue);
  EXPECT_EQ(Field(line, "messages").number_value(), -42);
  EXPECT_EQ(Field(line, "duration_ms").number_value(), 0.25);
  EXPECT_EQ(Field(line, "ok").kind_case(), google::protobuf::Value::kBoolValue);
  EXPECT_TRUE(Field(line, "ok").bool_value());
  EXPECT_THAT(sink_->Contents(),
              HasSubstr(R"("level":"info","service":"user","msg":"rpc finished","method":)"));
}

// An access line's duration_ms: milliseconds to the microsecond, the shortest way to write them,
// a JSON number whatever the value.
TEST_F(LogTest, LogLine_Millis_MicrosecondsAsTheShortestNumber) {
  using std::chrono::microseconds;
  using std::chrono::nanoseconds;
  HERMES_LOG(spdlog::level::info, "durations")
      .Millis("a", microseconds(25450))
      .Millis("b", nanoseconds(83999))  // below a microsecond is cut, not rounded
      .Millis("c", microseconds(3000))
      .Millis("d", nanoseconds(0))
      .Millis("e", microseconds(1007))
      .Millis("f", microseconds(-1500))
      .Millis("g", nanoseconds(std::numeric_limits<int64_t>::min()));

  const std::string contents = sink_->Contents();
  EXPECT_THAT(contents, HasSubstr(R"("a":25.45,"b":0.083,"c":3,"d":0,"e":1.007,"f":-1.5,)"));
  EXPECT_THAT(contents, HasSubstr(R"("g":-9223372036854.775})"));
  const google::protobuf::Struct line = OnlyLine();  // valid JSON, every value a number
  EXPECT_EQ(Field(line, "a").number_value(), 25.45);
  EXPECT_EQ(Field(line, "g").kind_case(), google::protobuf::Value::kNumberValue);
}

TEST_F(LogTest, LogLine_Timestamp_IsUtcWithMicroseconds) {
  const absl::Time before = absl::Now();
  HERMES_LOG(spdlog::level::info, "tick");
  const absl::Time after = absl::Now();

  const std::string ts = Field(OnlyLine(), "ts").string_value();
  EXPECT_THAT(ts,
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
  absl::Time parsed;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, ts, &parsed, &error)) << error;
  // The trailing Z is the truth only if the clock reading was formatted in UTC.
  EXPECT_GE(parsed, absl::FromUnixMicros(absl::ToUnixMicros(before)));
  EXPECT_LE(parsed, after);
}

// The formatter keeps the date and time to the second from the line before: a line in another
// second (later, earlier: the clock may step back) must not reuse it.
TEST_F(LogTest, Timestamps_AcrossSecondsBothWaysAndBefore1970_AreEachLinesOwn) {
  const auto at = [](int64_t unix_micros) {
    return spdlog::log_clock::time_point(std::chrono::microseconds(unix_micros));
  };
  constexpr int64_t kSecond = 1'000'000;
  constexpr int64_t k20261204T050607 = 1'796'360'767;  // 2026-12-04T05:06:07Z
  const int64_t times[] = {
      k20261204T050607 * kSecond + 123'456,       // the first line fills the cache
      k20261204T050607 * kSecond + 999'999,       // same second
      (k20261204T050607 + 1) * kSecond,           // the next one
      (k20261204T050607 - 86'400) * kSecond + 1,  // a day back
      -kSecond / 2,                               // half a second before the epoch
  };
  for (const int64_t time : times) {
    spdlog::default_logger_raw()->log(at(time), spdlog::source_loc{}, spdlog::level::info, "t");
  }
  std::vector<std::string> stamps;
  for (const google::protobuf::Struct& line : ParsedLines()) {
    stamps.push_back(Field(line, "ts").string_value());
  }
  EXPECT_THAT(stamps,
              ::testing::ElementsAre("2026-12-04T05:06:07.123456Z", "2026-12-04T05:06:07.999999Z",
                                     "2026-12-04T05:06:08.000000Z", "2026-12-03T05:06:07.000001Z",
                                     "1969-12-31T23:59:59.500000Z"));
}

TEST_F(LogTest, LogLine_QuotesBackslashesNewlines_AreEscapedAndLineParses) {
  const std::string tricky = "say \"hi\"\nfrom C:\\temp\\ \r\n}";
  HERMES_LOG(spdlog::level::info, tricky).Str("detail", tricky).Str("key \"q\"\n", "v");

  const std::string contents = sink_->Contents();
  EXPECT_EQ(std::count(contents.begin(), contents.end(), '\n'), 1) << contents;
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "msg").string_value(), tricky);
  EXPECT_EQ(Field(line, "detail").string_value(), tricky);
  EXPECT_EQ(Field(line, "key \"q\"\n").string_value(), "v");
}

TEST_F(LogTest, LogLine_ControlCharacters_AreEscapedAndLineParses) {
  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls.push_back(c);
  controls.push_back('\0');
  controls += "end";
  HERMES_LOG(spdlog::level::info, "controls").Str("value", controls);

  EXPECT_THAT(sink_->Contents(), HasSubstr(R"(\u0001\u0002)"));
  EXPECT_THAT(sink_->Contents(), HasSubstr(R"(\u001f\u0000end)"));
  EXPECT_EQ(Field(OnlyLine(), "value").string_value(), controls);
}

TEST_F(LogTest, LogLine_InvalidUtf8_IsReplacedAndLineParses) {
  HERMES_LOG(spdlog::level::info, "bad \xC3")
      .Str("k\xFF",
           "a\xED\xA0\x80"
           "b\xF0\x9F\x98");

  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "msg").string_value(), "bad \uFFFD");
  EXPECT_EQ(Field(line, "k\uFFFD").string_value(), "a\uFFFD\uFFFD\uFFFDb\uFFFD");
}

TEST_F(LogTest, LogLine_WellFormedUnicode_IsKeptAsIs) {
  HERMES_LOG(spdlog::level::info, "caf\u00e9").Str("emoji", "\U0001F600 \u20ac");
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "msg").string_value(), "caf\u00e9");
  EXPECT_EQ(Field(line, "emoji").string_value(), "\U0001F600 \u20ac");
}

TEST_F(LogTest, LogLine_Int64Extremes_AreWrittenExactly) {
  HERMES_LOG(spdlog::level::info, "extremes")
      .Int("max", std::numeric_limits<int64_t>::max())
      .Int("min", std::numeric_limits<int64_t>::min());
  EXPECT_THAT(sink_->Contents(), HasSubstr(R"("max":9223372036854775807,)"));
  EXPECT_THAT(sink_->Contents(), HasSubstr(R"("min":-9223372036854775808})"));
  OnlyLine();
}

TEST_F(LogTest, LogLine_NonFiniteDouble_IsWrittenNull) {
  HERMES_LOG(spdlog::level::info, "doubles")
      .Double("nan", std::nan(""))
      .Double("inf", -std::numeric_limits<double>::infinity())
      .Double("big", 1e300);
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "nan").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(Field(line, "inf").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(Field(line, "big").number_value(), 1e300);
}

TEST_F(LogTest, HermesLog_LevelOff_WritesNothingAndDoesNotEvaluateFields) {
  int evaluations = 0;
  auto expensive = [&evaluations] {
    ++evaluations;
    return std::string("expensive");
  };
  HERMES_LOG(spdlog::level::debug, "hidden").Str("value", expensive());
  HERMES_LOG(spdlog::level::trace, "hidden").Str("value", expensive());

  EXPECT_EQ(evaluations, 0);
  EXPECT_EQ(sink_->Contents(), "");
}

TEST_F(LogTest, HermesLog_LevelOn_EvaluatesFieldsOnceAndWritesOneLine) {
  Init(spdlog::level::debug);
  int evaluations = 0;
  auto expensive = [&evaluations] {
    ++evaluations;
    return std::string("expensive");
  };
  HERMES_LOG(spdlog::level::debug, "shown").Str("value", expensive());

  EXPECT_EQ(evaluations, 1);
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "level").string_value(), "debug");
  EXPECT_EQ(Field(line, "value").string_value(), "expensive");
}

TEST_F(LogTest, HermesLog_AsBodyOfUnbracedIf_KeepsTheCallersElse) {
  bool took_else = false;
  if (false)
    HERMES_LOG(spdlog::level::info, "not this");
  else
    took_else = true;
  EXPECT_TRUE(took_else);
  EXPECT_EQ(sink_->Contents(), "");
}

TEST_F(LogTest, LogLine_DirectlyAtDisabledLevel_WritesNothing) {
  LogLine(spdlog::level::debug, "hidden").Str("k", "v").Int("n", 1);
  EXPECT_EQ(sink_->Contents(), "");
}

TEST_F(LogTest, LogLine_ExplicitEmit_WritesOnceAndIgnoresLaterFields) {
  {
    LogLine line(spdlog::level::warn, "early");
    line.Str("before", "yes");
    line.Emit();
    line.Str("after", "no");
    line.Emit();
  }
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "level").string_value(), "warning");  // spdlog's name for warn
  EXPECT_EQ(Field(line, "before").string_value(), "yes");
  EXPECT_EQ(line.fields().count("after"), 0u);
}

TEST_F(LogTest, LogEnabled_FollowsTheConfiguredLevel) {
  EXPECT_FALSE(LogEnabled(spdlog::level::debug));
  EXPECT_TRUE(LogEnabled(spdlog::level::info));
  EXPECT_TRUE(LogEnabled(spdlog::level::err));
  Init(spdlog::level::err);
  EXPECT_FALSE(LogEnabled(spdlog::level::warn));
  EXPECT_TRUE(LogEnabled(spdlog::level::err));
}

TEST_F(LogTest, PlainSpdlogCall_IsEscapedIntoMsgAndLineParses) {
  spdlog::warn("listening on {} with \"quotes\" and {{braces}}\n", "0.0.0.0:50051");
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "level").string_value(), "warning");
  EXPECT_EQ(Field(line, "msg").string_value(),
            "listening on 0.0.0.0:50051 with \"quotes\" and {braces}\n");
  EXPECT_EQ(line.fields().count("file"), 0u);
}

TEST_F(LogTest, SpdlogMacroWithSourceLocation_AddsFileAndLine) {
  const int expected_line = __LINE__ + 1;
  SPDLOG_INFO("from a macro {}", 1);
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "msg").string_value(), "from a macro 1");
  EXPECT_THAT(Field(line, "file").string_value(), EndsWith("log_test.cc"));
  EXPECT_EQ(Field(line, "line").number_value(), expected_line);
}

TEST_F(LogTest, ServiceName_WithQuotesAndPatternCharacters_IsEscaped) {
  const std::string service = "we\"ird%Y%v\\{";
  Init(spdlog::level::info, service);
  HERMES_LOG(spdlog::level::info, "hello");
  EXPECT_EQ(Field(OnlyLine(), "service").string_value(), service);
}

TEST_F(LogTest, InitLogging_Again_ReplacesSinkAndLevel) {
  std::shared_ptr<CapturingSink> first = sink_;
  HERMES_LOG(spdlog::level::info, "to first");
  Init(spdlog::level::debug, "order");
  HERMES_LOG(spdlog::level::debug, "to second");

  EXPECT_EQ(first->Lines().size(), 1u);
  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "msg").string_value(), "to second");
  EXPECT_EQ(Field(line, "service").string_value(), "order");
}

TEST_F(LogTest, AsyncLogger_ShutdownLogging_WritesEveryQueuedLineFromEveryThread) {
  Init(spdlog::level::info, "user", /*async=*/true);
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 2500;  // more than the queue holds: exercises blocking
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLinesPerThread; ++i) {
        HERMES_LOG(spdlog::level::info, "async").Int("thread", t).Int("i", i);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ShutdownLogging();

  const std::vector<google::protobuf::Struct> lines = ParsedLines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLinesPerThread));
  std::vector<int> next(kThreads, 0);  // each thread's lines arrive in its own order
  for (const google::protobuf::Struct& line : lines) {
    const int thread = static_cast<int>(Field(line, "thread").number_value());
    ASSERT_EQ(Field(line, "i").number_value(), next[thread]++);
  }
}

TEST_F(LogTest, ShutdownLogging_Twice_IsSafeAndLaterLinesGoToStdoutAsJson) {
  Init(spdlog::level::info, "user", /*async=*/true);
  HERMES_LOG(spdlog::level::info, "before");
  ShutdownLogging();
  ::testing::internal::CaptureStdout();
  ShutdownLogging();
  HERMES_LOG(spdlog::level::info, "after");  // e.g. gRPC winding down after main's shutdown
  spdlog::info("plain after");
  ShutdownLogging();  // flushes stdout
  const std::string captured = ::testing::internal::GetCapturedStdout();

  // The caller's sink is let go of: it got only the line from before the shutdown.
  const std::vector<google::protobuf::Struct> lines = ParsedLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "msg").string_value(), "before");
  const std::vector<std::string> late = absl::StrSplit(captured, '\n', absl::SkipEmpty());
  ASSERT_EQ(late.size(), 2u) << captured;
  EXPECT_EQ(Field(ParseOrFail(late[0]), "msg").string_value(), "after");
  EXPECT_EQ(Field(ParseOrFail(late[1]), "msg").string_value(), "plain after");
  EXPECT_EQ(Field(ParseOrFail(late[1]), "service").string_value(), "user");
  EXPECT_FALSE(LogEnabled(spdlog::level::debug));  // the level survives the shutdown
}

TEST(LogBeforeInit, ShutdownLogging_WithoutInitLogging_IsHarmless) {
  ShutdownLogging();
  EXPECT_TRUE(LogEnabled(spdlog::level::err));
}

TEST(ParseLogLevel, KnownNames_MapToLevels) {
  EXPECT_EQ(ParseLogLevel("trace").value(), spdlog::level::trace);
  EXPECT_EQ(ParseLogLevel("debug").value(), spdlog::level::debug);
  EXPECT_EQ(ParseLogLevel("info").value(), spdlog::level::info);
  EXPECT_EQ(ParseLogLevel("warn").value(), spdlog::level::warn);
  EXPECT_EQ(ParseLogLevel("error").value(), spdlog::level::err);
}

TEST(ParseLogLevel, UnknownName_IsInvalidArgumentListingValidNames) {
  for (const char* name : {"verbose", "", "INFO", "warning", "err", "off"}) {
    const absl::StatusOr<spdlog::level::level_enum> level = ParseLogLevel(name);
    ASSERT_FALSE(level.ok()) << name;
    EXPECT_EQ(level.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(level.status().message(), HasSubstr(std::string("\"") + name + "\""));
    EXPECT_THAT(level.status().message(), HasSubstr("trace, debug, info, warn, error"));
  }
}

TEST_F(LogTest, RouteGrpcLogs_GprError_IsAJsonLineWithComponentGrpc) {
  RouteGrpcLogs();
  const int expected_line = __LINE__ + 1;
  gpr_log(GPR_ERROR, "connection %d failed: \"%s\"", 7, "reset");

  const google::protobuf::Struct line = OnlyLine();
  EXPECT_EQ(Field(line, "level").string_value(), "error");
  EXPECT_EQ(Field(line, "service").string_value(), "user");
  EXPECT_EQ(Field(line, "msg").string_value(), "connection 7 failed: \"reset\"");
  EXPECT_EQ(Field(line, "component").string_value(), "grpc");
  EXPECT_THAT(Field(line, "file").string_value(), EndsWith("log_test.cc"));
  EXPECT_EQ(Field(line, "line").number_value(), expected_line);
}

TEST_F(LogTest, RouteGrpcLogs_SeveritiesMapOneLevelDown_ErrorsStayErrors) {
  Init(spdlog::level::trace);
  RouteGrpcLogs();
  gpr_log(GPR_DEBUG, "d");
  gpr_log(GPR_INFO, "i");
  gpr_log(GPR_ERROR, "e");

  const std::vector<google::protobuf::Struct> lines = ParsedLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Field(lines[0], "level").string_value(), "trace");
  EXPECT_EQ(Field(lines[1], "level").string_value(), "debug");
  EXPECT_EQ(Field(lines[2], "level").string_value(), "error");
}

// protobuf's complaints become JSON lines, not bare "[libprotobuf ERROR ...]" lines on stderr:
// a warning when it serializes a string that is not valid UTF-8 (our own data), debug when it
// parses one (a client's bytes, once per message; the call's own line reports the error).
TEST_F(LogTest, RouteProtobufLogs_InvalidUtf8_WarningSerializingDebugParsing) {
  Init(spdlog::level::debug);
  google::protobuf::LogHandler* const original = google::protobuf::SetLogHandler(nullptr);
  RouteProtobufLogs();
  google::protobuf::Struct parsed;
  google::protobuf::Value text;
  text.set_string_value("caf\xC3");
  (*parsed.mutable_fields())["note"] = text;
  google::protobuf::Struct reparsed;
  EXPECT_FALSE(reparsed.ParseFromString(parsed.SerializeAsString()));
  google::protobuf::SetLogHandler(original);

  const std::vector<google::protobuf::Struct> lines = ParsedLines();
  ASSERT_EQ(lines.size(), 2u) << sink_->Contents();
  EXPECT_EQ(Field(lines[0], "level").string_value(), "warning");
  EXPECT_THAT(Field(lines[0], "msg").string_value(), HasSubstr("when serializing"));
  const google::protobuf::Struct& line = lines[1];
  EXPECT_EQ(Field(line, "level").string_value(), "debug");
  EXPECT_EQ(Field(line, "component").string_value(), "protobuf");
  EXPECT_THAT(Field(line, "msg").string_value(),
              HasSubstr("contains invalid UTF-8 data when parsing"));
  EXPECT_THAT(Field(line, "msg").string_value(), EndsWith("raw bytes."));
  EXPECT_THAT(Field(line, "file").string_value(), HasSubstr("wire_format_lite"));
  EXPECT_GT(Field(line, "line").number_value(), 0);
}

TEST_F(LogTest, RouteGrpcLogs_GrpcVerbosityFollowsTheLevel) {
  RouteGrpcLogs();  // at info: gRPC's internal INFO chatter is not even formatted
  EXPECT_EQ(gpr_should_log(GPR_LOG_SEVERITY_INFO), 0);
  EXPECT_NE(gpr_should_log(GPR_LOG_SEVERITY_ERROR), 0);
  gpr_log(GPR_INFO, "dropped before formatting");
  EXPECT_EQ(sink_->Contents(), "");

  Init(spdlog::level::debug);  // a later InitLogging keeps gRPC in step
  EXPECT_NE(gpr_should_log(GPR_LOG_SEVERITY_INFO), 0);
  EXPECT_EQ(gpr_should_log(GPR_LOG_SEVERITY_DEBUG), 0);
  Init(spdlog::level::trace);
  EXPECT_NE(gpr_should_log(GPR_LOG_SEVERITY_DEBUG), 0);

  Init(spdlog::level::warn);
  EXPECT_EQ(gpr_should_log(GPR_LOG_SEVERITY_INFO), 0);
  EXPECT_NE(gpr_should_log(GPR_LOG_SEVERITY_ERROR), 0);
}

}  // namespace
}  // namespace hermes::telemetry
