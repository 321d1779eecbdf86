#include "libs/storage/transaction.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

class TransactionTest : public TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    db_ = Open();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Execute("CREATE TABLE t (x INTEGER)").ok());
  }

  std::unique_ptr<SqliteDatabase> Open(absl::Duration busy_timeout = absl::Seconds(5)) {
    return OpenOrDie({.busy_timeout = busy_timeout});
  }

  static int64_t Count(SqliteDatabase& db) {
    absl::StatusOr<CachedStatement> stmt = db.Prepare("SELECT COUNT(*) FROM t");
    EXPECT_TRUE(stmt.ok() && *(*stmt)->Step());
    return (*stmt)->ColumnInt64(0);
  }

  std::unique_ptr<SqliteDatabase> db_;
};

TEST_F(TransactionTest, Commit_MakesChangesVisibleToOtherConnections) {
  {
    absl::StatusOr<Transaction> txn = Transaction::Begin(*db_, Transaction::Mode::kImmediate);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db_->Execute("INSERT INTO t VALUES (1)").ok());
    EXPECT_TRUE(db_->InTransaction());
    ASSERT_TRUE(txn->Commit().ok());
    EXPECT_FALSE(db_->InTransaction());
  }
  std::unique_ptr<SqliteDatabase> other = Open();
  EXPECT_EQ(Count(*other), 1);
}

TEST_F(TransactionTest, Destructor_WithoutCommit_RollsBack) {
  {
    absl::StatusOr<Transaction> txn = Transaction::Begin(*db_, Transaction::Mode::kImmediate);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db_->Execute("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Count(*db_), 0);
}

TEST_F(TransactionTest, Commit_Twice_Internal) {
  absl::StatusOr<Transaction> txn = Transaction::Begin(*db_, Transaction::Mode::kDeferred);
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->Commit().code(), absl::StatusCode::kInternal);
}

TEST_F(TransactionTest, Begin_Nested_Internal) {
  absl::StatusOr<Transaction> outer = Transaction::Begin(*db_, Transaction::Mode::kImmediate);
  ASSERT_TRUE(outer.ok());
  EXPECT_EQ(Transaction::Begin(*db_, Transaction::Mode::kImmediate).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(db_->InTransaction());  // the outer one is untouched
}

// A transaction left open on the connection because its ROLLBACK failed would make it refuse
// every write from then on: the next Begin undoes it and goes on.
TEST_F(TransactionTest, Begin_AfterARollbackFailed_UndoesTheLeftoverAndBegins) {
  ASSERT_TRUE(db_->Execute("CREATE TABLE left_open (x INTEGER)").ok());
  ASSERT_TRUE(db_->Run("BEGIN IMMEDIATE").ok());
  ASSERT_TRUE(db_->Execute("INSERT INTO left_open VALUES (1)").ok());  // never committed
  db_->set_leftover_transaction(true);  // as ~Transaction marks it when its ROLLBACK fails
  absl::StatusOr<Transaction> txn = Transaction::Begin(*db_, Transaction::Mode::kImmediate);
  ASSERT_TRUE(txn.ok()) << txn.status();
  ASSERT_TRUE(db_->Execute("INSERT INTO left_open VALUES (2)").ok());
  ASSERT_TRUE(txn->Commit().ok());
  absl::StatusOr<CachedStatement> count = db_->Prepare("SELECT group_concat(x) FROM left_open");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->ColumnText(0), "2");
}

TEST_F(TransactionTest, Begin_ImmediateWhileAnotherWrites_UnavailableAfterTimeout) {
  absl::StatusOr<Transaction> held = Transaction::Begin(*db_, Transaction::Mode::kImmediate);
  ASSERT_TRUE(held.ok());
  std::unique_ptr<SqliteDatabase> other = Open(absl::Milliseconds(20));
  EXPECT_EQ(Transaction::Begin(*other, Transaction::Mode::kImmediate).status().code(),
            absl::StatusCode::kUnavailable);
  // A reader is not blocked by the writer (WAL).
  absl::StatusOr<Transaction> read = Transaction::Begin(*other, Transaction::Mode::kDeferred);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(Count(*other), 0);
}

TEST_F(TransactionTest, Deferred_SeesOneSnapshot) {
  std::unique_ptr<SqliteDatabase> reader = Open();
  absl::StatusOr<Transaction> read = Transaction::Begin(*reader, Transaction::Mode::kDeferred);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(Count(*reader), 0);  // the snapshot starts with the first read
  ASSERT_TRUE(db_->Execute("INSERT INTO t VALUES (1)").ok());
  EXPECT_EQ(Count(*reader), 0);
  ASSERT_TRUE(read->Commit().ok());
  EXPECT_EQ(Count(*reader), 1);
}

}  // namespace
}  // namespace hermes::storage
