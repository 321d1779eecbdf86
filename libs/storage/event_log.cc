#include "libs/storage/event_log.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/storage/statement.h"
#include "libs/storage/transaction.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {

namespace {

// Table names are spliced into SQL: only the code's own, never anything else.
absl::Status CheckTableName(absl::string_view table) {
  const bool plain = !table.empty() && std::all_of(table.begin(), table.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || c == '_';
  });
  if (plain) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("not an event log table name: \"", table, "\""));
}

}  // namespace

absl::StatusOr<EventLogRange> RetainedEvents(SqliteDatabase& db, absl::string_view table) {
  if (absl::Status status = CheckTableName(table); !status.ok()) return status;
  const std::string sql =
      absl::StrCat("SELECT (SELECT MIN(sequence) FROM ", table,
                   "), (SELECT seq FROM sqlite_sequence WHERE name = '", table, "')");
  absl::StatusOr<CachedStatement> stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  EventLogRange range;
  range.newest = (*stmt)->ColumnInt64(1);  // NULL (no event ever) reads as 0
  range.oldest = (*stmt)->ColumnIsNull(0) ? (range.newest == 0 ? 0 : range.newest + 1)
                                          : (*stmt)->ColumnInt64(0);
  return range;
}

absl::StatusOr<EventsPruned> PruneEventLog(const EventLogPrune& prune, ConnectionPool& readers,
                                           SqliteDatabase& writer, absl::Mutex& write_mu) {
  if (prune.keep < 0) return errors::InvalidArgument("", "keep must not be negative");
  absl::StatusOr<EventLogRange> range;
  {
    absl::StatusOr<ConnectionPool::Lease> reader = readers.Acquire();
    if (!reader.ok()) return reader.status();
    range = RetainedEvents(**reader, prune.table);  // the lease goes back before deleting
  }
  if (!range.ok()) return range.status();
  const int64_t last_to_delete = range->newest - prune.keep;
  if (range->oldest == 0 || last_to_delete < range->oldest) return EventsPruned{};

  const std::string sql =
      absl::StrCat("DELETE FROM ", prune.table, " WHERE sequence IN (SELECT sequence FROM ",
                   prune.table, " WHERE sequence <= ?1 ORDER BY sequence LIMIT ?2)");
  const int64_t batch = std::max<int64_t>(1, prune.batch);
  const absl::Time stop_at = absl::Now() + prune.max_duration;
  int64_t deleted = 0;
  bool done = false;
  while (!done) {
    absl::Duration held;
    {
      absl::MutexLock lock(&write_mu);  // per batch: writers wait for one batch at most
      const absl::Time locked_at = absl::Now();
      absl::StatusOr<Transaction> txn = Transaction::Begin(writer, Transaction::Mode::kImmediate);
      absl::Status status = txn.status();
      if (status.ok()) {
        status = RunStatement(writer, sql, [&](Statement& stmt) {
          stmt.BindInt64(1, last_to_delete).BindInt64(2, batch);
        });
      }
      const int64_t batch_deleted = status.ok() ? writer.Changes() : 0;
      if (status.ok()) status = txn->Commit();
      if (!status.ok()) {
        HERMES_LOG(spdlog::level::warn, "pruning the event log stopped")
            .Str("table", prune.table)
            .Int("deleted", deleted)
            .Str("error", status.message());
        return status;
      }
      deleted += batch_deleted;
      done = batch_deleted < batch;
      held = absl::Now() - locked_at;
    }
    if (done || absl::Now() >= stop_at) break;
    // absl::Mutex is not fair: taken again at once, the lock would go back to this loop batch
    // after batch while the group commit's thread, and every writer queued behind it, waited
    // for the whole prune. Leaving it alone as long as the batch held it lets them in.
    absl::SleepFor(std::max(held, absl::Milliseconds(1)));
  }
  HERMES_LOG(spdlog::level::info, "pruned the event log")
      .Str("table", prune.table)
      .Int("deleted", deleted)
      .Int("through_sequence", last_to_delete)
      .Bool("complete", done);  // false: out of time, the next run goes on
  return EventsPruned{.deleted = deleted, .complete = done};
}

}  // namespace hermes::storage
