#include "libs/runtime/config_reloads.h"

#include "absl/time/clock.h"
#include "libs/telemetry/log.h"

namespace hermes::runtime {

ConfigReloads::ConfigReloads(prometheus::Registry& registry, Options options)
    : options_(std::move(options)),
      successful_(prometheus::BuildGauge()
                      .Name("hermes_config_last_reload_successful")
                      .Help("Whether the last reload of the configuration files (or their load at "
                            "start-up) put them in force.")
                      .Register(registry)
                      .Add({{"config", options_.config}})),
      success_time_(prometheus::BuildGauge()
                        .Name("hermes_config_last_reload_success_timestamp_seconds")
                        .Help("When a reload last found the configuration files on disk in force.")
                        .Register(registry)
                        .Add({{"config", options_.config}})) {}

void ConfigReloads::Loaded() {
  successful_.Set(1);
  success_time_.Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
}

void ConfigReloads::Report(const absl::Status& outcome) {
  if (outcome.ok()) {
    Loaded();
    HERMES_LOG(spdlog::level::info, "configuration reloaded")
        .Str("config", options_.config)
        .Str("path", options_.path);
    return;
  }
  successful_.Set(0);
  HERMES_LOG(spdlog::level::err, "configuration change rejected")
      .Str("config", options_.config)
      .Str("path", options_.path)
      .Str("error", outcome.message())
      .Str("in_force", options_.kept);
}

}  // namespace hermes::runtime
