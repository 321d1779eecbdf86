// ConfigReloads: how a service tells operators about the files it reloads while it runs (the
// authorization policy, the TLS material): one log line per outcome, and, named as Prometheus
// reports its own configuration's reloads,
//   hermes_config_last_reload_successful{config}                 1 after a reload (or the
//       start-up load) that put the files in force, 0 after one that did not: the files in force
//       are older than the files on disk, and an alert can say so;
//   hermes_config_last_reload_success_timestamp_seconds{config}  when that last happened (a
//       reload, or files that could not be read found readable again, unchanged).
//
//   ConfigReloads reloads(*registry, {.config = "authz_policy", .kept = "the previous policy",
//                                     .path = path});
//   reloads.Loaded();                              // before the watcher starts: the first load
//   ...on_reload = [&reloads](const absl::Status& outcome) { reloads.Report(outcome); }
#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "absl/status/status.h"

namespace hermes::runtime {

class ConfigReloads {
 public:
  struct Options {
    std::string config;  // the metrics' `config` label and the log lines' field: "tls", ...
    std::string kept;    // what a rejected change leaves in force, for the log line
    std::string path;    // the file (or the first of them), logged with each outcome
  };

  // The gauges live in `registry` (which must outlive this object) and read 0 until Loaded().
  ConfigReloads(prometheus::Registry& registry, Options options);

  // The files were loaded at start-up (not logged: the service logs what it serves). Call it
  // before the watcher starts, so that a reload reported at once is not overwritten.
  void Loaded();

  // The outcome of a reload: OK when the files on disk are in force, the error otherwise. Safe
  // from any thread.
  void Report(const absl::Status& outcome);

 private:
  const Options options_;
  prometheus::Gauge& successful_;
  prometheus::Gauge& success_time_;
};

}  // namespace hermes::runtime
