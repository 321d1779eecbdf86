#include "libs/storage/sqlite_database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

class SqliteDatabaseTest : public TempDatabaseTest {
 protected:
  static std::string QueryText(SqliteDatabase& db, absl::string_view sql) {
    absl::StatusOr<CachedStatement> stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status();
    if (!stmt.ok()) return "";
    absl::StatusOr<bool> row = (*stmt)->Step();
    EXPECT_TRUE(row.ok() && *row) << sql;
    return row.ok() && *row ? (*stmt)->ColumnText(0) : "";
  }
};

TEST_F(SqliteDatabaseTest, Open_AppliesDurabilitySettings) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie({.busy_timeout = absl::Milliseconds(1234)});
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(QueryText(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(*db, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(QueryText(*db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(QueryText(*db, "PRAGMA busy_timeout"), "1234");
  EXPECT_EQ(QueryText(*db, "PRAGMA journal_size_limit"), "67108864");  // the WAL cut back to 64 MiB
  EXPECT_EQ(QueryText(*db, "PRAGMA query_only"), "0");
  EXPECT_TRUE(std::filesystem::exists(Path()));
}

// Users' data is not for other accounts on the host: a new database and its WAL files are 0600.
// A file that exists keeps the mode its owner gave it.
TEST_F(SqliteDatabaseTest, Open_NewFile_OwnerOnly_ExistingFileKeepsItsMode) {
  namespace fs = std::filesystem;
  {
    std::unique_ptr<SqliteDatabase> db = OpenOrDie();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Execute("CREATE TABLE t (x INTEGER)").ok());
    ASSERT_TRUE(db->Execute("INSERT INTO t VALUES (1)").ok());
    for (const std::string& file : {Path(), Path() + "-wal", Path() + "-shm"}) {
      ASSERT_TRUE(fs::exists(file)) << file;
      EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
                fs::perms::owner_read | fs::perms::owner_write)
          << file;
    }
  }
  const std::string shared = Path("shared.db");
  std::ofstream{shared};
  fs::permissions(shared, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> db = SqliteDatabase::Open(shared, {});
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(fs::status(shared).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

TEST_F(SqliteDatabaseTest, Open_QueryOnly_RefusesWrites) {
  std::unique_ptr<SqliteDatabase> writer = OpenOrDie();
  ASSERT_TRUE(writer->Execute("CREATE TABLE t (x INTEGER)").ok());
  std::unique_ptr<SqliteDatabase> reader = OpenOrDie({.query_only = true});
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(QueryText(*reader, "PRAGMA query_only"), "1");
  EXPECT_FALSE(reader->Execute("INSERT INTO t VALUES (1)").ok());
}

TEST_F(SqliteDatabaseTest, Open_QueryOnlyOnMissingFile_Unavailable) {
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> db =
      SqliteDatabase::Open(Path("missing.db"), {.query_only = true});
  EXPECT_EQ(db.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(std::filesystem::exists(Path("missing.db")));
}

TEST_F(SqliteDatabaseTest, Open_EmptyOrInMemoryPath_InvalidArgument) {
  EXPECT_EQ(SqliteDatabase::Open("", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteDatabase::Open(":memory:", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteDatabaseTest, Open_NotADatabase_InternalWithoutPathInMessage) {
  std::ofstream(Path()) << std::string(8192, 'x');
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> db = SqliteDatabase::Open(Path(), {});
  EXPECT_EQ(db.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(absl::StrContains(db.status().message(), dir_));
}

TEST_F(SqliteDatabaseTest, Open_MissingDirectory_Unavailable) {
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> db =
      SqliteDatabase::Open(dir_ + "/no/such/dir/test.db", {});
  EXPECT_EQ(db.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SqliteDatabaseTest, Prepare_SameSql_ReturnsTheCachedStatement) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  sqlite3_stmt* first = nullptr;
  {
    absl::StatusOr<CachedStatement> stmt = db->Prepare("SELECT 1");
    ASSERT_TRUE(stmt.ok());
    first = (*stmt)->handle();
  }
  absl::StatusOr<CachedStatement> again = db->Prepare("SELECT 1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->handle(), first);
}

TEST_F(SqliteDatabaseTest, Prepare_StatementStillInUse_Internal) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  absl::StatusOr<CachedStatement> outer = db->Prepare("SELECT 1");
  ASSERT_TRUE(outer.ok());
  EXPECT_EQ(db->Prepare("SELECT 1").status().code(), absl::StatusCode::kInternal);
}

TEST_F(SqliteDatabaseTest, CachedStatement_OnRelease_ResetsBindingsAndCursor) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  ASSERT_TRUE(db->Execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);").ok());
  {
    absl::StatusOr<CachedStatement> stmt = db->Prepare("SELECT x FROM t WHERE x >= ?1 ORDER BY x");
    ASSERT_TRUE(stmt.ok());
    (*stmt)->BindInt64(1, 2);
    ASSERT_TRUE(*(*stmt)->Step());
    EXPECT_EQ((*stmt)->ColumnInt64(0), 2);
  }  // released mid-iteration
  absl::StatusOr<CachedStatement> stmt = db->Prepare("SELECT x FROM t WHERE x >= ?1 ORDER BY x");
  ASSERT_TRUE(stmt.ok());
  (*stmt)->BindInt64(1, 1);
  ASSERT_TRUE(*(*stmt)->Step());
  EXPECT_EQ((*stmt)->ColumnInt64(0), 1);
}

// Run: the statements of every write (SAVEPOINT, RELEASE, BEGIN, COMMIT), from the cache, and
// the same statement again works (it was reset after its last run).
TEST_F(SqliteDatabaseTest, Run_SameStatementTwice_EachTakesEffect_FailureReported) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  ASSERT_TRUE(db->Execute("CREATE TABLE t (x INTEGER)").ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(db->Run("SAVEPOINT one").ok());
    ASSERT_TRUE(db->Execute("INSERT INTO t VALUES (1)").ok());
    ASSERT_TRUE(db->Run("RELEASE one").ok());
  }
  absl::StatusOr<CachedStatement> count = db->Prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->ColumnInt64(0), 2);
  EXPECT_FALSE(db->Run("RELEASE never_opened").ok());
}

TEST_F(SqliteDatabaseTest, Prepare_SyntaxError_InternalWithoutSqlInMessage) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  absl::StatusOr<CachedStatement> stmt = db->Prepare("SELEKT nonsense FROM nowhere");
  EXPECT_EQ(stmt.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(absl::StrContains(stmt.status().message(), "nowhere"));
}

TEST_F(SqliteDatabaseTest, Prepare_TwoStatements_Refused) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  EXPECT_EQ(db->Prepare("SELECT 1; SELECT 2").status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(db->Prepare("SELECT 1;").ok());
}

TEST_F(SqliteDatabaseTest, Statement_BindsAndReadsValues) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  ASSERT_TRUE(db->Execute("CREATE TABLE t (i INTEGER, s TEXT, n TEXT)").ok());
  {
    absl::StatusOr<CachedStatement> insert = db->Prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
    ASSERT_TRUE(insert.ok());
    (*insert)->BindInt64(1, INT64_MIN).BindText(2, std::string("a\0b", 3)).BindNull(3);
    ASSERT_TRUE((*insert)->Run().ok());
    EXPECT_EQ(db->Changes(), 1);
    EXPECT_EQ(db->LastInsertRowId(), 1);
  }
  absl::StatusOr<CachedStatement> select = db->Prepare("SELECT i, s, n FROM t");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*(*select)->Step());
  EXPECT_EQ((*select)->ColumnInt64(0), INT64_MIN);
  EXPECT_EQ((*select)->ColumnText(1), std::string("a\0b", 3));
  EXPECT_TRUE((*select)->ColumnIsNull(2));
  EXPECT_EQ((*select)->ColumnText(2), "");
  EXPECT_FALSE(*(*select)->Step());
}

TEST_F(SqliteDatabaseTest, Statement_EmptyText_BindsEmptyStringNotNull) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  absl::StatusOr<CachedStatement> stmt = db->Prepare("SELECT ?1 IS NULL, length(?1)");
  ASSERT_TRUE(stmt.ok());
  (*stmt)->BindText(1, absl::string_view());
  ASSERT_TRUE(*(*stmt)->Step());
  EXPECT_EQ((*stmt)->ColumnInt64(0), 0);
  EXPECT_EQ((*stmt)->ColumnInt64(1), 0);
}

TEST_F(SqliteDatabaseTest, Statement_BadBindIndex_ReportedByStep) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  absl::StatusOr<CachedStatement> stmt = db->Prepare("SELECT ?1");
  ASSERT_TRUE(stmt.ok());
  (*stmt)->BindInt64(7, 1);
  EXPECT_EQ((*stmt)->Step().status().code(), absl::StatusCode::kInternal);
  (*stmt)->Reset();
  EXPECT_TRUE((*stmt)->Step().ok());
}

TEST_F(SqliteDatabaseTest, Statement_UniqueViolation_AlreadyExists) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  ASSERT_TRUE(db->Execute("CREATE TABLE t (x TEXT UNIQUE); INSERT INTO t VALUES ('a');").ok());
  absl::StatusOr<CachedStatement> stmt = db->Prepare("INSERT INTO t VALUES ('a')");
  ASSERT_TRUE(stmt.ok());
  EXPECT_EQ((*stmt)->Run().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(SqliteDatabaseTest, Statement_ForeignKeysEnforced_FailedPrecondition) {
  std::unique_ptr<SqliteDatabase> db = OpenOrDie();
  ASSERT_TRUE(db->Execute("CREATE TABLE p (id INTEGER PRIMARY KEY);"
                          "CREATE TABLE c (p INTEGER REFERENCES p (id));")
                  .ok());
  EXPECT_EQ(db->Execute("INSERT INTO c VALUES (42)").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteDatabaseTest, Execute_WhileAnotherConnectionWrites_UnavailableAfterTimeout) {
  std::unique_ptr<SqliteDatabase> holder = OpenOrDie();
  std::unique_ptr<SqliteDatabase> waiter = OpenOrDie({.busy_timeout = absl::Milliseconds(50)});
  ASSERT_TRUE(holder->Execute("BEGIN IMMEDIATE").ok());
  const absl::Time start = absl::Now();
  const absl::Status status = waiter->Execute("BEGIN IMMEDIATE");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(40));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "storage is busy, try again");
  EXPECT_TRUE(holder->InTransaction());
  EXPECT_FALSE(waiter->InTransaction());
}

TEST_F(SqliteDatabaseTest, CreateParentDirectories_CreatesEveryMissingLevel) {
  const std::string path = dir_ + "/a/b/c/test.db";
  ASSERT_TRUE(CreateParentDirectories(path).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/a/b/c"));
  EXPECT_TRUE(CreateParentDirectories(path).ok());  // already there
  EXPECT_TRUE(CreateParentDirectories("relative.db").ok());
}

TEST_F(SqliteDatabaseTest, CreateParentDirectories_BlockedByAFile_Unavailable) {
  std::ofstream(dir_ + "/file") << "x";
  const absl::Status status = CreateParentDirectories(dir_ + "/file/sub/test.db");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(absl::StrContains(status.message(), dir_));
}

TEST(SqlitePathFromUrlTest, AbsolutePath_ReturnsIt) {
  EXPECT_EQ(*SqlitePathFromUrl("sqlite:///var/lib/hermes/user.db"), "/var/lib/hermes/user.db");
  EXPECT_EQ(*SqlitePathFromUrl("sqlite:///data/my%20db.db"), "/data/my db.db");
}

TEST(SqlitePathFromUrlTest, AnythingElse_InvalidArgument) {
  for (absl::string_view url :
       {"", "sqlite://", "sqlite:///", "sqlite://relative.db", "sqlite://host/abs.db",
        "sqlite:///dir/", "sqlite:///a.db?mode=ro", "sqlite:///a.db#x", "sqlite:///a%2",
        "sqlite:///a%zz", "sqlite:///a%00b", "postgresql://user@host/db", "file:///a.db",
        "/a.db"}) {
    EXPECT_EQ(SqlitePathFromUrl(url).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

}  // namespace
}  // namespace hermes::storage
