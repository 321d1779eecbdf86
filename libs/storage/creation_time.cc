#include "libs/storage/creation_time.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

#include "libs/telemetry/log.h"

namespace hermes::storage {
namespace {

// A wall clock behind the newest record by this much or more is worth an operator's look (a
// step back, a restored database): below it, the floor only orders records written in the same
// microsecond, which is routine under load.
constexpr absl::Duration kBehindWorthLogging = absl::Seconds(1);
// While the clock is behind, every new record hits the floor: one line a minute says so.
constexpr std::chrono::steady_clock::duration kLogInterval = std::chrono::minutes(1);

// When the next warning may be logged, in steady_clock nanoseconds.
std::atomic<int64_t> next_log_ns{std::numeric_limits<int64_t>::min()};

void LogClockBehind(absl::Time now, absl::Time newest) {
  const int64_t at = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
  int64_t due = next_log_ns.load(std::memory_order_relaxed);
  const int64_t interval = std::chrono::nanoseconds(kLogInterval).count();
  if (at < due || !next_log_ns.compare_exchange_strong(due, at + interval)) return;
  HERMES_LOG(spdlog::level::warn,
             "the wall clock is behind the newest record: new records are dated just after it "
             "until the clock catches up (said at most once a minute)")
      .Int("behind_ms", absl::ToInt64Milliseconds(newest - now))
      .Str("newest_created_at",
           absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", newest, absl::UTCTimeZone()));
}

}  // namespace

namespace internal {
void ResetClockBehindLogForTesting() {
  next_log_ns.store(std::numeric_limits<int64_t>::min(), std::memory_order_relaxed);
}
}  // namespace internal

absl::StatusOr<absl::Time> NewCreatedAt(Statement& newest, absl::Time now) {
  absl::StatusOr<bool> row = newest.Step();
  if (!row.ok()) return row.status();
  if (!*row || newest.ColumnIsNull(0)) return now;
  const absl::Time newest_time = absl::FromUnixMicros(newest.ColumnInt64(0));
  if (newest_time - now >= kBehindWorthLogging) LogClockBehind(now, newest_time);
  return std::max(now, newest_time + absl::Microseconds(1));
}

}  // namespace hermes::storage
