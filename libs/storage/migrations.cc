#include "libs/storage/migrations.h"

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/storage/transaction.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {

absl::StatusOr<int> SchemaVersion(SqliteDatabase& db) {
  absl::StatusOr<CachedStatement> stmt = db.Prepare("PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<int>((*stmt)->ColumnInt64(0)) : 0;
}

absl::Status Migrate(SqliteDatabase& db, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return errors::InvalidArgument("", "migrations must be numbered 1, 2, 3, ... in order");
    }
  }
  if (migrations.empty()) return errors::InvalidArgument("", "no migrations");
  const int latest = migrations.back().version;

  // The version is read inside the write transaction, so two processes starting together
  // cannot both apply the same migration.
  absl::StatusOr<Transaction> txn = Transaction::Begin(db, Transaction::Mode::kImmediate);
  if (!txn.ok()) return txn.status();
  absl::StatusOr<int> current = SchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current < 0) {
    HERMES_LOG(spdlog::level::err, "database schema version is negative")
        .Int("schema_version", *current);
    return errors::FailedPrecondition("", "the database has an unknown schema version");
  }
  if (*current > latest) {
    HERMES_LOG(spdlog::level::err, "database schema is newer than this build")
        .Int("schema_version", *current)
        .Int("latest_known", latest);
    return errors::FailedPrecondition("", absl::StrCat("the database has schema version ", *current,
                                                       ", newer than the latest this build knows (",
                                                       latest, "); run a newer build"));
  }
  if (*current == latest) return absl::OkStatus();  // the destructor ends the transaction

  for (const Migration& migration : migrations.subspan(static_cast<size_t>(*current))) {
    if (absl::Status status = db.Execute(migration.sql); !status.ok()) {
      HERMES_LOG(spdlog::level::err, "schema migration failed").Int("version", migration.version);
      return status;
    }
  }
  // PRAGMA takes no parameters; `latest` is an int we own.
  if (absl::Status status = db.Execute(absl::StrCat("PRAGMA user_version = ", latest));
      !status.ok()) {
    return status;
  }
  if (absl::Status status = txn->Commit(); !status.ok()) return status;
  HERMES_LOG(spdlog::level::info, "database schema migrated")
      .Int("from_version", *current)
      .Int("to_version", latest);
  return absl::OkStatus();
}

}  // namespace hermes::storage
