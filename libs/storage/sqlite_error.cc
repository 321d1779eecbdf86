#include "libs/storage/sqlite_error.h"

#include <sqlite3.h>

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {
namespace {

absl::string_view MessageFor(int rc, absl::StatusCode code) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "storage is busy, try again";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "storage is corrupted";
    default:
      break;
  }
  switch (code) {
    case absl::StatusCode::kUnavailable:
      return "storage is unavailable";
    case absl::StatusCode::kAlreadyExists:
      return "record already exists";
    case absl::StatusCode::kFailedPrecondition:
      return "a referenced record does not exist";
    default:
      return "storage error";
  }
}

}  // namespace

absl::StatusCode StatusCodeForSqlite(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return absl::StatusCode::kFailedPrecondition;
    default:
      break;
  }
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::StatusCode::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return absl::StatusCode::kUnavailable;
    default:  // CORRUPT, NOTADB, ERROR, other constraints, MISUSE, RANGE, ...
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteError(int rc, absl::string_view operation, absl::string_view detail) {
  const absl::StatusCode code = StatusCodeForSqlite(rc);
  const bool expected = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ||
                        (rc & 0xff) == SQLITE_CONSTRAINT;
  HERMES_LOG(expected ? spdlog::level::warn : spdlog::level::err, "sqlite call failed")
      .Str("operation", operation)
      .Int("sqlite_code", rc)
      .Str("sqlite_error", sqlite3_errstr(rc))
      .Str("detail", detail);
  return errors::Error(code == absl::StatusCode::kOk ? absl::StatusCode::kInternal : code,
                       MessageFor(rc, code));
}

}  // namespace hermes::storage
