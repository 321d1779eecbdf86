#include "libs/storage/migrations.h"

#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/match.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

constexpr Migration kV1[] = {
    {.version = 1, .sql = "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
};
constexpr Migration kV2[] = {
    {.version = 1, .sql = "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
    {.version = 2, .sql = "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z INTEGER);"},
};

class MigrationsTest : public TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    db_ = OpenOrDie();
    ASSERT_NE(db_, nullptr);
  }

  int Version() {
    absl::StatusOr<int> version = SchemaVersion(*db_);
    EXPECT_TRUE(version.ok()) << version.status();
    return version.value_or(-1);
  }

  bool TableExists(absl::string_view name) {
    absl::StatusOr<CachedStatement> stmt =
        db_->Prepare("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    EXPECT_TRUE(stmt.ok());
    (*stmt)->BindText(1, name);
    EXPECT_TRUE(*(*stmt)->Step());
    return (*stmt)->ColumnInt64(0) == 1;
  }

  std::unique_ptr<SqliteDatabase> db_;
};

TEST_F(MigrationsTest, Migrate_NewFile_AppliesAllAndSetsVersion) {
  EXPECT_EQ(Version(), 0);
  ASSERT_TRUE(Migrate(*db_, kV2).ok());
  EXPECT_EQ(Version(), 2);
  EXPECT_TRUE(TableExists("a"));
  EXPECT_TRUE(TableExists("b"));
  EXPECT_FALSE(db_->InTransaction());
}

TEST_F(MigrationsTest, Migrate_Again_ChangesNothing) {
  ASSERT_TRUE(Migrate(*db_, kV1).ok());
  ASSERT_TRUE(Migrate(*db_, kV1).ok());  // would fail if the CREATE TABLE ran twice
  EXPECT_EQ(Version(), 1);
  absl::StatusOr<CachedStatement> count = db_->Prepare("SELECT COUNT(*) FROM a");
  ASSERT_TRUE(count.ok() && *(*count)->Step());
  EXPECT_EQ((*count)->ColumnInt64(0), 1);
  EXPECT_FALSE(db_->InTransaction());
}

TEST_F(MigrationsTest, Migrate_OlderFile_AppliesOnlyTheNewMigrations) {
  ASSERT_TRUE(Migrate(*db_, kV1).ok());
  ASSERT_TRUE(Migrate(*db_, kV2).ok());
  EXPECT_EQ(Version(), 2);
  EXPECT_TRUE(TableExists("b"));
}

TEST_F(MigrationsTest, Migrate_FailingMigration_LeavesTheFileAsItWas) {
  constexpr Migration kBroken[] = {
      kV2[0],
      {.version = 2, .sql = "CREATE TABLE c (x INTEGER); THIS IS NOT SQL;"},
  };
  EXPECT_FALSE(Migrate(*db_, kBroken).ok());
  EXPECT_EQ(Version(), 0);
  EXPECT_FALSE(TableExists("a"));  // migration 1 of the same run is undone too
  EXPECT_FALSE(TableExists("c"));
  EXPECT_FALSE(db_->InTransaction());
}

TEST_F(MigrationsTest, Migrate_NewerFile_FailedPreconditionNamingBothVersions) {
  ASSERT_TRUE(Migrate(*db_, kV2).ok());
  const absl::Status status = Migrate(*db_, kV1);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(status.message(), "version 2")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "(1)")) << status;
  EXPECT_EQ(Version(), 2);
}

TEST_F(MigrationsTest, Migrate_BadNumbering_InvalidArgument) {
  constexpr Migration kGap[] = {{.version = 1, .sql = "SELECT 1"},
                                {.version = 3, .sql = "SELECT 1"}};
  constexpr Migration kFromZero[] = {{.version = 0, .sql = "SELECT 1"}};
  EXPECT_EQ(Migrate(*db_, kGap).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(*db_, kFromZero).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(*db_, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Version(), 0);
}

}  // namespace
}  // namespace hermes::storage
