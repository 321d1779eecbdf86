// NewCreatedAt: the created_at of a new record, strictly after every record it is listed with,
// whatever the wall clock does.
//
// Lists are ordered by created_at, then id: users oldest first, a user's orders newest first.
// Taken from the wall clock as it is, a new record sorts among older ones when the clock steps
// back (NTP, a restored VM), and, within one microsecond of the one before, in the random order
// of its id. ListUsers, paged by offset, then puts a new user inside the list instead of at its
// end, and a client paging through meanwhile sees a user twice or misses one; ListOrders lists
// a new order below older ones, though it is the newest. One microsecond after the newest so
// far, when the clock says no later, keeps every new record at the end (or start). The newest
// is read in the write itself (an index makes it one lookup), so it holds across restarts and
// needs no state beside the database.
//
// The price: after the clock was ahead (a forward jump, then corrected; a database restored
// from a host whose clock was ahead), new records carry the newest time so far, plus a
// microsecond each, until the clock catches up with it. Their ids, made from the same time,
// too. A clock a second or more behind the newest record is logged as a warning (how far behind,
// and the newest time), at most once a minute per process.
//
//   // orders_by_user_created, on (user_id, created_at DESC, ...), makes this one lookup.
//   absl::StatusOr<absl::Time> created_at = NewCreatedAt(
//       db, "SELECT MAX(created_at) FROM orders WHERE user_id = ?1",
//       [&](Statement& newest) { newest.BindText(1, user_id); }, Now());
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/storage/sqlite_database.h"
#include "libs/storage/statement.h"

namespace hermes::storage {

// `now`, or one microsecond after the newest created_at (Unix microseconds, as stored) that
// `newest` reads, when `now` is not later. `newest` is a SELECT of one value with its
// parameters bound; NULL (no record yet) means no floor. `now` has microsecond precision.
absl::StatusOr<absl::Time> NewCreatedAt(Statement& newest, absl::Time now);

// The same, running `newest_sql` on `db`'s cached statement with the parameters `bind` sets,
// as RunStatement runs a write.
template <typename Bind>
absl::StatusOr<absl::Time> NewCreatedAt(SqliteDatabase& db, absl::string_view newest_sql, Bind bind,
                                        absl::Time now) {
  absl::StatusOr<CachedStatement> newest = db.Prepare(newest_sql);
  if (!newest.ok()) return newest.status();
  bind(**newest);
  return NewCreatedAt(**newest, now);
}

namespace internal {
// Lets the next clock-behind warning be logged at once: tests share the process's minute.
void ResetClockBehindLogForTesting();
}  // namespace internal

}  // namespace hermes::storage
