#include "libs/storage/creation_time.h"

#include <algorithm>

namespace hermes::storage {

absl::StatusOr<absl::Time> NewCreatedAt(Statement& newest, absl::Time now) {
  absl::StatusOr<bool> row = newest.Step();
  if (!row.ok()) return row.status();
  if (!*row || newest.ColumnIsNull(0)) return now;
  return std::max(now, absl::FromUnixMicros(newest.ColumnInt64(0)) + absl::Microseconds(1));
}

}  // namespace hermes::storage
