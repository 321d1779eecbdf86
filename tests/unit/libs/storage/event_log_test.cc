#include "libs/storage/event_log.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

// An event log as the stores keep one: AUTOINCREMENT sequences, so a pruned one never returns.
class EventLogTest : public TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    writer_ = OpenOrDie();
    ASSERT_NE(writer_, nullptr);
    ASSERT_TRUE(writer_
                    ->Execute("CREATE TABLE demo_events (sequence INTEGER PRIMARY KEY "
                              "AUTOINCREMENT, payload TEXT NOT NULL) STRICT")
                    .ok());
    readers_ = std::make_unique<ConnectionPool>(
        [this] { return SqliteDatabase::Open(Path(), {.query_only = true}); }, 2);
  }

  void Append(int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(writer_->Execute("INSERT INTO demo_events (payload) VALUES ('e')").ok());
    }
  }
  EventLogRange Range() {
    absl::StatusOr<ConnectionPool::Lease> reader = readers_->Acquire();
    EXPECT_TRUE(reader.ok());
    absl::StatusOr<EventLogRange> range = RetainedEvents(**reader, "demo_events");
    EXPECT_TRUE(range.ok()) << range.status();
    return range.value_or(EventLogRange{-1, -1});
  }
  absl::StatusOr<int64_t> Prune(int64_t keep, int64_t batch = 1000) {
    return PruneEventLog({.table = "demo_events", .keep = keep, .batch = batch}, *readers_,
                         *writer_, write_mu_);
  }

  absl::Mutex write_mu_;
  std::unique_ptr<SqliteDatabase> writer_;
  std::unique_ptr<ConnectionPool> readers_;
};

TEST_F(EventLogTest, Range_NoEventEver_ZeroZero) {
  const EventLogRange range = Range();
  EXPECT_EQ(range.oldest, 0);
  EXPECT_EQ(range.newest, 0);
  EXPECT_EQ(*Prune(0), 0);
}

TEST_F(EventLogTest, Prune_KeepsTheNewestInBatches_ThenEverything_RangeStaysAboveTheNewest) {
  Append(10);
  EXPECT_EQ(*Prune(4, /*batch=*/3), 6);
  EXPECT_EQ(Range().oldest, 7);
  EXPECT_EQ(Range().newest, 10);
  EXPECT_EQ(*Prune(4), 0);

  EXPECT_EQ(*Prune(0), 4);
  EXPECT_EQ(Range().oldest, 11);  // empty, just above the newest
  EXPECT_EQ(Range().newest, 10);
  Append(1);
  EXPECT_EQ(Range().oldest, 11);  // 11 is issued next, never an old sequence
  EXPECT_EQ(Range().newest, 11);
}

TEST_F(EventLogTest, Prune_NegativeKeep_InvalidArgumentAndNothingDeleted) {
  Append(2);
  EXPECT_EQ(Prune(-1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Range().oldest, 1);
}

TEST_F(EventLogTest, TableNameThatIsNotPlain_InternalAndNoSqlRun) {
  Append(2);
  // The first two make valid SQL (SQLite's names are case-insensitive): only the check stops them.
  for (const std::string table : {"DEMO_EVENTS", "demo_events WHERE sequence > 1", ""}) {
    {
      absl::StatusOr<ConnectionPool::Lease> reader = readers_->Acquire();
      ASSERT_TRUE(reader.ok());
      EXPECT_EQ(RetainedEvents(**reader, table).status().code(), absl::StatusCode::kInternal)
          << table;
    }
    EXPECT_EQ(
        PruneEventLog({.table = table, .keep = 0}, *readers_, *writer_, write_mu_).status().code(),
        absl::StatusCode::kInternal)
        << table;
  }
  EXPECT_EQ(Range().oldest, 1);
  EXPECT_EQ(Range().newest, 2);
}

}  // namespace
}  // namespace hermes::storage
