// Schema migrations: how a store's tables get to the shape its code expects, at start-up.
//
// A store lists its migrations once, oldest first, numbered 1, 2, 3, ... with no gaps, and
// never edits one that has shipped (a change is a new migration):
//
//   constexpr Migration kMigrations[] = {
//       {.version = 1, .sql = "CREATE TABLE users (...); CREATE INDEX ...;"},
//       {.version = 2, .sql = "ALTER TABLE users ADD COLUMN ...;"},
//   };
//   if (absl::Status status = Migrate(*db, kMigrations); !status.ok()) return status;
//
// The schema version lives in the file (PRAGMA user_version; 0 for a new file). Migrate applies
// every migration above it and sets the version in ONE transaction: a crash or an error part
// way leaves the file exactly as it was. Running it again is a no-op, and a file written by a
// newer build (a version above the last migration) is refused rather than misread.
#pragma once

#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/storage/sqlite_database.h"

namespace hermes::storage {

struct Migration {
  int version = 0;        // 1 for the first; each next one is +1
  absl::string_view sql;  // one or more ';'-separated statements
};

// Brings `db` (not in a transaction) to the version of the last of `migrations`. Errors:
// FAILED_PRECONDITION when the file's version is newer than the last migration (the message
// says both versions); INVALID_ARGUMENT when `migrations` is empty or not numbered 1, 2, 3...;
// a failing migration's status (nothing is applied then).
absl::Status Migrate(SqliteDatabase& db, std::span<const Migration> migrations);

// The file's schema version (PRAGMA user_version).
absl::StatusOr<int> SchemaVersion(SqliteDatabase& db);

}  // namespace hermes::storage
