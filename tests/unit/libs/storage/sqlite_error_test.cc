#include "libs/storage/sqlite_error.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <sqlite3.h>

#include <string>

#include "libs/errors/app_error.h"
#include "libs/telemetry/metrics.h"

namespace hermes::storage {
namespace {

TEST(SqliteErrorTest, StatusCodeForSqlite_MapsEachFamily) {
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_OK), absl::StatusCode::kOk);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_DONE), absl::StatusCode::kOk);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_BUSY), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_BUSY_SNAPSHOT), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_LOCKED), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_IOERR_FSYNC), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_FULL), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CANTOPEN), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_READONLY), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_UNIQUE), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_PRIMARYKEY), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_FOREIGNKEY),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_CHECK), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_NOTNULL), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CORRUPT), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_NOTADB), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_ERROR), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_MISUSE), absl::StatusCode::kInternal);
}

TEST(SqliteErrorTest, SqliteError_KeepsDetailsOutOfTheMessage) {
  const absl::Status status =
      SqliteError(SQLITE_IOERR_WRITE, "step", "disk I/O error; sql: INSERT INTO secret_table");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "storage is unavailable");
  EXPECT_EQ(errors::FieldOf(status), "");
}

TEST(SqliteErrorTest, SqliteError_BusyAndCorrupt_HaveTheirOwnMessages) {
  EXPECT_EQ(SqliteError(SQLITE_BUSY, "step", "").message(), "storage is busy, try again");
  const absl::Status corrupt = SqliteError(SQLITE_CORRUPT, "step", "/var/user/user.db");
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(corrupt.message(), "storage is corrupted");
}

TEST(SqliteErrorTest, SqliteError_WithASuccessCode_IsStillAnError) {
  EXPECT_EQ(SqliteError(SQLITE_OK, "misuse", "").code(), absl::StatusCode::kInternal);
}

// Operators alert on a full disk, I/O errors or corruption: each is counted by kind; a
// constraint refusing a write (a duplicate email) is an answer, not a storage failure.
TEST(SqliteErrorTest, SqliteError_CountsStorageFailuresByKind_NotConstraints) {
  auto count = [](const std::string& kind) {
    for (const prometheus::MetricFamily& family : telemetry::MetricsRegistry()->Collect()) {
      if (family.name != "hermes_storage_errors_total") continue;
      for (const prometheus::ClientMetric& metric : family.metric) {
        if (metric.label.size() == 1 && metric.label[0].value == kind) return metric.counter.value;
      }
    }
    return 0.0;
  };
  const double full = count("full"), io = count("io"), other = count("other");
  (void)SqliteError(SQLITE_FULL, "step", "database or disk is full");
  (void)SqliteError(SQLITE_IOERR_FSYNC, "step", "disk I/O error");
  (void)SqliteError(SQLITE_CONSTRAINT_UNIQUE, "step", "UNIQUE constraint failed");
  EXPECT_EQ(count("full"), full + 1);
  EXPECT_EQ(count("io"), io + 1);
  EXPECT_EQ(count("other"), other);
}

TEST(SqliteErrorTest, DiskFull_ResourceExhaustedStorageIsFull) {
  const absl::Status status = SqliteError(SQLITE_FULL, "step", "database or disk is full");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "storage is full");
}

}  // namespace
}  // namespace hermes::storage
