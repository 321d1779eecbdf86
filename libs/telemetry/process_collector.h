// ProcessCollector: the standard process_* metrics of the Prometheus client libraries.
//
// Dashboards and alerts written for Go services (memory, CPU, file descriptors, restarts via
// start time) work unchanged for Hermes because the names and meanings are the same:
//
//   process_resident_memory_bytes  gauge    resident set size
//   process_virtual_memory_bytes   gauge    virtual memory size
//   process_cpu_seconds_total      counter  user + system CPU time
//   process_open_fds               gauge    open file descriptors
//   process_max_fds                gauge    the soft RLIMIT_NOFILE
//   process_start_time_seconds     gauge    process start, Unix seconds
//
// Values are read from /proc at every scrape (Linux only). A value that cannot be read is left
// out of that scrape rather than reported as 0; Collect() never throws. MetricsEndpoint serves
// one next to its registry; use it directly only to serve process metrics some other way:
//
//   exposer.RegisterCollectable(std::make_shared<ProcessCollector>());
#pragma once

#include <optional>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace hermes::telemetry {

class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // Fixed for the life of the process, so read once (it needs all of /proc/stat for btime).
  std::optional<double> start_time_seconds_;
};

}  // namespace hermes::telemetry
