#include "libs/storage/sqlite_error.h"

#include <prometheus/counter.h>
#include <sqlite3.h>

#include <array>
#include <string>

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"
#include "libs/telemetry/metrics.h"

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
    case SQLITE_FULL:
      return "storage is full";
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

// What hermes_storage_errors_total counts a failure as: a small fixed set, so the label stays
// bounded (kFailureKinds names each). kNotAFailure for a constraint refusing a write: that is an
// answer (a duplicate email), not a failure of the storage.
enum FailureKind { kBusy, kFull, kIo, kUnwritable, kCorrupt, kOther, kNotAFailure };
constexpr std::array<absl::string_view, kNotAFailure> kFailureKinds = {
    "busy", "full", "io", "unwritable", "corrupt", "other"};

FailureKind KindOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return kNotAFailure;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return kBusy;
    case SQLITE_FULL:
      return kFull;
    case SQLITE_IOERR:
      return kIo;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
      return kUnwritable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return kCorrupt;
    default:
      return kOther;
  }
}

// hermes_storage_errors_total's counters, one per kind, registered on the process's registry on
// first use, all at 0 (so that an alert sees the first failure as an increase).
const std::array<prometheus::Counter*, kFailureKinds.size()>& FailureCounters() {
  static const std::array<prometheus::Counter*, kFailureKinds.size()> counters = [] {
    auto& family =
        prometheus::BuildCounter()
            .Name("hermes_storage_errors_total")
            .Help("SQLite calls that failed, by kind: busy, full, io, unwritable, corrupt, other.")
            .Register(*telemetry::MetricsRegistry());
    std::array<prometheus::Counter*, kFailureKinds.size()> made{};
    for (size_t i = 0; i < kFailureKinds.size(); ++i) {
      made[i] = &family.Add({{"kind", std::string(kFailureKinds[i])}});
    }
    return made;
  }();
  return counters;
}

void CountFailure(int rc) {
  if (const FailureKind kind = KindOf(rc); kind != kNotAFailure) {
    FailureCounters()[kind]->Increment();
  }
}

}  // namespace

void RegisterStorageErrorCounters() { FailureCounters(); }

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
    case SQLITE_FULL:  // gRPC's own example of RESOURCE_EXHAUSTED: "out of space"
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
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
  CountFailure(rc);
  HERMES_LOG(expected ? spdlog::level::warn : spdlog::level::err, "sqlite call failed")
      .Str("operation", operation)
      .Int("sqlite_code", rc)
      .Str("sqlite_error", sqlite3_errstr(rc))
      .Str("detail", detail);
  return errors::Error(code == absl::StatusCode::kOk ? absl::StatusCode::kInternal : code,
                       MessageFor(rc, code));
}

}  // namespace hermes::storage
