// The event log's retention, shared by the stores. Each service's event log is a table whose
// `sequence` column is an INTEGER PRIMARY KEY AUTOINCREMENT: SQLite then keeps the highest
// sequence ever issued in sqlite_sequence, so a pruned sequence is never issued again.
//
//   absl::StatusOr<storage::EventLogRange> range =
//       storage::RetainedEvents(**reader, "user_events");
//   absl::StatusOr<storage::EventsPruned> pruned = storage::PruneEventLog(
//       {.table = "user_events", .keep = 1000000, .batch = 1000}, readers, *writer, write_mu);
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/storage/connection_pool.h"
#include "libs/storage/events_pruned.h"
#include "libs/storage/sqlite_database.h"

namespace hermes::storage {

// The sequences a log still holds. No event ever: {0, 0}. Every event pruned: {newest + 1,
// newest}, an empty range just above the newest, so that whoever compares a sequence with
// `oldest` sees that the events up to `newest` are gone.
struct EventLogRange {
  int64_t oldest = 0;
  int64_t newest = 0;
};

// Read in one statement, so from one snapshot. `table` is one of the code's own table names
// (lower-case letters and '_': anything else is INTERNAL), never input.
absl::StatusOr<EventLogRange> RetainedEvents(SqliteDatabase& db, absl::string_view table);

struct EventLogPrune {
  absl::string_view table;  // the log, e.g. "user_events"
  int64_t keep = 0;         // the newest events to keep; INVALID_ARGUMENT when negative
  int64_t batch = 1000;     // events deleted per write transaction (at least 1)
  // A run stops after about this long (and at least one batch), leaving the rest to the next
  // run: a backlog (a lowered --event_retention, the first prune of a long log) is worked off
  // over several runs rather than in one that a shutdown would wait for.
  absl::Duration max_duration = absl::Seconds(1);
};

// Deletes the events of `prune.table` older than its `keep` newest as of the call (events
// written meanwhile are all kept), `batch` at a time, each batch its own IMMEDIATE transaction
// on `writer` under `write_mu` (the lock the store's writes hold). Between two batches it
// leaves the lock alone for as long as the batch held it (at least 1 ms), so a writer waits for
// one batch at most. The range is read first on a connection of `readers`, given back before
// the deleting starts. Returns how many events were deleted and whether that was all that was
// due (not when the run ran out of `max_duration`); on an error the batches committed before it
// stay deleted.
absl::StatusOr<EventsPruned> PruneEventLog(const EventLogPrune& prune, ConnectionPool& readers,
                                           SqliteDatabase& writer, absl::Mutex& write_mu);

}  // namespace hermes::storage
