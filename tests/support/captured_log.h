// CapturedLog: the process's log lines (libs/telemetry's JSON lines, from every thread) kept in
// memory for a test to read back, for as long as it lives.
//
//   testing::CapturedLog log(spdlog::level::info);      // lines at info and above
//   ... run what logs ...
//   EXPECT_THAT(log.Text(), HasSubstr(R"("msg":"pruned the event log")"));
//
// The logger is process-wide: one CapturedLog at a time. Its destruction shuts the capture down
// (telemetry::ShutdownLogging: logging goes back to stdout), so it must outlive what may still
// log through it: declare it before the servers and stores of a test, or reset them first.
#pragma once

#include <spdlog/common.h>

#include <sstream>
#include <string>

namespace hermes::testing {

class CapturedLog {
 public:
  explicit CapturedLog(spdlog::level::level_enum level = spdlog::level::info);
  ~CapturedLog();
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  // Every line logged so far, each ending in '\n'.
  std::string Text() const;

 private:
  std::ostringstream lines_;
};

}  // namespace hermes::testing
