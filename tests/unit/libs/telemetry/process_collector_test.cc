#include "libs/telemetry/process_collector.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hermes::telemetry {
namespace {

struct Reading {
  prometheus::MetricType type;
  double value;
};

std::map<std::string, Reading> Collect(const ProcessCollector& collector) {
  std::map<std::string, Reading> readings;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    if (family.metric.empty()) continue;
    const prometheus::ClientMetric& metric = family.metric.front();
    EXPECT_TRUE(metric.label.empty()) << family.name;
    EXPECT_FALSE(family.help.empty()) << family.name;
    const double value =
        family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
    readings[family.name] = {family.type, value};
  }
  return readings;
}

TEST(ProcessCollector, Collect_ReportsEveryStandardMetricWithItsType) {
  const std::map<std::string, Reading> readings = Collect(ProcessCollector());
  const std::map<std::string, prometheus::MetricType> expected = {
      {"process_resident_memory_bytes", prometheus::MetricType::Gauge},
      {"process_virtual_memory_bytes", prometheus::MetricType::Gauge},
      {"process_cpu_seconds_total", prometheus::MetricType::Counter},
      {"process_open_fds", prometheus::MetricType::Gauge},
      {"process_max_fds", prometheus::MetricType::Gauge},
      {"process_start_time_seconds", prometheus::MetricType::Gauge},
  };
  ASSERT_EQ(readings.size(), expected.size());
  for (const auto& [name, type] : expected) {
    ASSERT_EQ(readings.count(name), 1u) << name;
    EXPECT_EQ(readings.at(name).type, type) << name;
  }
}

// When this test program's static objects were initialised: a moment after it started.
const double kLoaded = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());

TEST(ProcessCollector, StartTime_IsThisProcessesStart) {
  const std::map<std::string, Reading> readings = Collect(ProcessCollector());
  const double start = readings.at("process_start_time_seconds").value;
  // Just before the program's own first moments (its loading and the sanitizers' start-up, and
  // the kernel's boot time in whole seconds), not the machine's boot or an earlier process.
  EXPECT_GE(start, kLoaded - 10);
  EXPECT_LE(start, kLoaded + 1.5);
}

TEST(ProcessCollector, OpenFds_CountsNewlyOpenedDescriptors) {
  ProcessCollector collector;
  const double before = Collect(collector).at("process_open_fds").value;
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const double during = Collect(collector).at("process_open_fds").value;
  for (int fd : fds) close(fd);

  EXPECT_EQ(during - before, 8);
  EXPECT_GE(Collect(collector).at("process_max_fds").value, during);
}

TEST(ProcessCollector, CpuSeconds_GrowWithWork) {
  ProcessCollector collector;
  const double before = Collect(collector).at("process_cpu_seconds_total").value;
  // Spin until the kernel has charged at least one more clock tick, or give up after 10 s.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  double after = before;
  volatile uint64_t sink = 0;
  while (after <= before && absl::Now() < deadline) {
    for (int i = 0; i < 1'000'000; ++i) sink = sink + static_cast<uint64_t>(i);
    after = Collect(collector).at("process_cpu_seconds_total").value;
  }
  EXPECT_GT(after, before);
}

TEST(ProcessCollector, Memory_ResidentIsPositiveAndWithinVirtual) {
  const std::map<std::string, Reading> readings = Collect(ProcessCollector());
  EXPECT_GT(readings.at("process_resident_memory_bytes").value, 0);
  EXPECT_GE(readings.at("process_virtual_memory_bytes").value,
            readings.at("process_resident_memory_bytes").value);
}

}  // namespace
}  // namespace hermes::telemetry
