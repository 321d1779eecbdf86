#include "libs/telemetry/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "prometheus/metric_type.h"

namespace hermes::telemetry {
namespace {

// The fields of /proc/self/stat that we use (proc(5), counting from 1 like the man page).
struct ProcStat {
  uint64_t utime_ticks = 0;  // 14
  uint64_t stime_ticks = 0;  // 15
  uint64_t start_ticks = 0;  // 22, since boot
  uint64_t vsize_bytes = 0;  // 23
  uint64_t rss_pages = 0;    // 24
};

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return std::nullopt;
  return std::move(contents).str();
}

std::optional<ProcStat> ReadProcStat() {
  const std::optional<std::string> text = ReadFile("/proc/self/stat");
  if (!text) return std::nullopt;
  // Field 2 is the command name in parentheses and may itself contain spaces and ')': the
  // fixed-format fields start after the last ')'.
  const size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*text).substr(close + 1), ' ', absl::SkipWhitespace());
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  auto field = [&fields](size_t number, uint64_t* out) {
    return number - 3 < fields.size() && absl::SimpleAtoi(fields[number - 3], out);
  };
  ProcStat stat;
  if (!field(14, &stat.utime_ticks) || !field(15, &stat.stime_ticks) ||
      !field(22, &stat.start_ticks) || !field(23, &stat.vsize_bytes) ||
      !field(24, &stat.rss_pages)) {
    return std::nullopt;
  }
  return stat;
}

std::optional<uint64_t> ReadBootTimeSeconds() {
  const std::optional<std::string> text = ReadFile("/proc/stat");
  if (!text) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      uint64_t seconds = 0;
      if (absl::SimpleAtoi(line, &seconds)) return seconds;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> ClockTicksPerSecond() {
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return std::nullopt;
  return static_cast<double>(ticks);
}

std::optional<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir() used to list the directory
}

std::optional<double> MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  return static_cast<double>(limit.rlim_cur);
}

void Add(std::vector<prometheus::MetricFamily>& families, const char* name, const char* help,
         prometheus::MetricType type, std::optional<double> value) {
  if (!value) return;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = *value;
  } else {
    metric.gauge.value = *value;
  }
  families.push_back({name, help, type, {std::move(metric)}});
}

}  // namespace

ProcessCollector::ProcessCollector() {
  const std::optional<ProcStat> stat = ReadProcStat();
  const std::optional<uint64_t> boot = ReadBootTimeSeconds();
  const std::optional<double> ticks = ClockTicksPerSecond();
  if (stat && boot && ticks) {
    start_time_seconds_ =
        static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / *ticks;
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  try {
    const std::optional<ProcStat> stat = ReadProcStat();
    const std::optional<double> ticks = ClockTicksPerSecond();
    const long page_size = sysconf(_SC_PAGESIZE);
    std::optional<double> resident, virtual_bytes, cpu_seconds;
    if (stat) {
      virtual_bytes = static_cast<double>(stat->vsize_bytes);
      if (page_size > 0) {
        resident = static_cast<double>(stat->rss_pages) * static_cast<double>(page_size);
      }
      if (ticks) {
        cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / *ticks;
      }
    }
    using prometheus::MetricType;
    Add(families, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
        MetricType::Counter, cpu_seconds);
    Add(families, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
        CountOpenFds());
    Add(families, "process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
        MaxFds());
    Add(families, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        MetricType::Gauge, virtual_bytes);
    Add(families, "process_resident_memory_bytes", "Resident memory size in bytes.",
        MetricType::Gauge, resident);
    Add(families, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
        start_time_seconds_);
  } catch (...) {
    // Only allocation can fail here; a scrape with fewer metrics beats an exception escaping
    // into the HTTP server's thread.
  }
  return families;
}

}  // namespace hermes::telemetry
