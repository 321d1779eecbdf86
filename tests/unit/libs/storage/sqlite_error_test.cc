#include "libs/storage/sqlite_error.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "libs/errors/app_error.h"

namespace hermes::storage {
namespace {

TEST(SqliteErrorTest, StatusCodeForSqlite_MapsEachFamily) {
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_OK), absl::StatusCode::kOk);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_DONE), absl::StatusCode::kOk);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_BUSY), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_BUSY_SNAPSHOT), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_LOCKED), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_IOERR_FSYNC), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_FULL), absl::StatusCode::kUnavailable);
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

}  // namespace
}  // namespace hermes::storage
