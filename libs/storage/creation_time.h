// NewCreatedAt: the created_at of a new record, strictly after every record it is listed with,
// whatever the wall clock does.
//
// Lists are ordered by created_at, then id — users oldest first, a user's orders newest first —
// and paged by offset. Taken from the wall clock as it is, a new record sorts among older ones
// when the clock steps back (NTP, a restored VM), and, within one microsecond of the one before,
// in the random order of its id: either way it lands inside the list instead of at its end (or
// start), and a client paging through meanwhile sees a record twice or misses one. One
// microsecond after the newest so far, when the clock says no later, keeps every new record at
// the end; the times still follow the clock whenever it moves forward. The newest is read in
// the write itself (an index makes it one lookup), so it holds across restarts and needs no
// state beside the database.
//
//   absl::StatusOr<CachedStatement> newest = db.Prepare(
//       "SELECT MAX(created_at) FROM orders WHERE user_id = ?1");   // an index on (user_id,
//       created_at)
//   (*newest)->BindText(1, user_id);
//   absl::StatusOr<absl::Time> created_at = NewCreatedAt(**newest, Now());
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/storage/statement.h"

namespace hermes::storage {

// `now`, or one microsecond after the newest created_at (Unix microseconds, as stored) that
// `newest` reads, when `now` is not later. `newest` is a SELECT of one value with its
// parameters bound; NULL (no record yet) means no floor. `now` has microsecond precision.
absl::StatusOr<absl::Time> NewCreatedAt(Statement& newest, absl::Time now);

}  // namespace hermes::storage
