// SqliteError: what a store returns when SQLite could not do something.
//
// SQLite's result codes become absl::Status codes that mean something to a caller (and, at the
// handler edge, to a client), with a generic message that never contains SQL, file paths or
// SQLite's own text. Those details go to the log instead, once, where the error happens:
//
//   if (rc != SQLITE_OK) return SqliteError(rc, "prepare", sqlite3_errmsg(db));
//
//   busy, locked, I/O, cannot open, read-only, out of memory           -> UNAVAILABLE
//   disk full                                                           -> RESOURCE_EXHAUSTED
//   UNIQUE and PRIMARY KEY constraints                                  -> ALREADY_EXISTS
//   FOREIGN KEY constraints                                             -> FAILED_PRECONDITION
//   corrupt file, not a database                                        -> INTERNAL
//   anything else (SQL errors, CHECK/NOT NULL violations, misuse)       -> INTERNAL
//
// The statuses name no request field: a store that knows which field a constraint protects
// builds its own error (errors::AlreadyExists("email", ...)) instead of passing this one on.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hermes::storage {

// The status code for SQLite result code `rc` (primary or extended), per the table above.
// SQLITE_OK, SQLITE_ROW and SQLITE_DONE give kOk.
absl::StatusCode StatusCodeForSqlite(int rc);

// The status for a failed SQLite call: code per StatusCodeForSqlite, a generic message. Logs
// `operation` (what was attempted, e.g. "step"), `detail` (SQLite's message, the SQL) and the
// result code, at warning level for busy/constraint and error level otherwise, and counts the
// failure in hermes_storage_errors_total{kind} (busy, full, io, unwritable, corrupt, other;
// constraint refusals are answers, not failures, and are not counted).
absl::Status SqliteError(int rc, absl::string_view operation, absl::string_view detail);

// Puts every kind of hermes_storage_errors_total on /metrics at 0 (a store calls it when it
// opens), so that an alert on its increase sees the first failure.
void RegisterStorageErrorCounters();

}  // namespace hermes::storage
