#include "tests/support/captured_log.h"

#include <spdlog/sinks/ostream_sink.h>

#include <memory>

#include "libs/telemetry/log.h"

namespace hermes::testing {

CapturedLog::CapturedLog(spdlog::level::level_enum level) {
  telemetry::InitLogging({.service = "test",
                          .level = level,
                          .sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_),
                          .async = false});
}

CapturedLog::~CapturedLog() { telemetry::ShutdownLogging(); }

std::string CapturedLog::Text() const {
  telemetry::FlushLogs();
  return lines_.str();
}

}  // namespace hermes::testing
