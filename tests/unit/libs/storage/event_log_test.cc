#include "libs/storage/event_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
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
    // One statement, one transaction, however many.
    ASSERT_TRUE(
        writer_
            ->Execute(absl::StrCat("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                   "FROM n WHERE i < ",
                                   count, ") INSERT INTO demo_events (payload) SELECT 'e' FROM n"))
            .ok());
  }
  EventLogRange Range() {
    absl::StatusOr<ConnectionPool::Lease> reader = readers_->Acquire();
    EXPECT_TRUE(reader.ok());
    absl::StatusOr<EventLogRange> range = RetainedEvents(**reader, "demo_events");
    EXPECT_TRUE(range.ok()) << range.status();
    return range.value_or(EventLogRange{-1, -1});
  }
  absl::StatusOr<EventsPruned> Prune(int64_t keep, int64_t batch = 1000,
                                     absl::Duration max_duration = absl::Seconds(60)) {
    return PruneEventLog(
        {.table = "demo_events", .keep = keep, .batch = batch, .max_duration = max_duration},
        *readers_, *writer_, write_mu_);
  }

  absl::Mutex write_mu_;
  std::unique_ptr<SqliteDatabase> writer_;
  std::unique_ptr<ConnectionPool> readers_;
};

TEST_F(EventLogTest, Range_NoEventEver_ZeroZero) {
  const EventLogRange range = Range();
  EXPECT_EQ(range.oldest, 0);
  EXPECT_EQ(range.newest, 0);
  EXPECT_EQ(Prune(0)->deleted, 0);
}

TEST_F(EventLogTest, Prune_KeepsTheNewestInBatches_ThenEverything_RangeStaysAboveTheNewest) {
  Append(10);
  EXPECT_EQ(Prune(4, /*batch=*/3)->deleted, 6);
  EXPECT_EQ(Range().oldest, 7);
  EXPECT_EQ(Range().newest, 10);
  EXPECT_EQ(Prune(4)->deleted, 0);

  EXPECT_EQ(Prune(0)->deleted, 4);
  EXPECT_EQ(Range().oldest, 11);  // empty, just above the newest
  EXPECT_EQ(Range().newest, 10);
  Append(1);
  EXPECT_EQ(Range().oldest, 11);  // 11 is issued next, never an old sequence
  EXPECT_EQ(Range().newest, 11);
}

TEST_F(EventLogTest, Prune_OutOfTime_StopsAfterABatch_TheNextRunGoesOn) {
  Append(5);
  absl::StatusOr<EventsPruned> first = Prune(0, /*batch=*/2, /*max_duration=*/absl::ZeroDuration());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->deleted, 2);
  EXPECT_FALSE(first->complete);  // so the pruner runs again at once
  EXPECT_EQ(Range().oldest, 3);
  absl::StatusOr<EventsPruned> second = Prune(0, /*batch=*/2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->deleted, 3);
  EXPECT_TRUE(second->complete);
  EXPECT_EQ(Range().oldest, 6);
}

// A writer that wants the store's write lock while a long prune runs gets it between two
// batches: absl::Mutex is not fair, and a loop that took the lock again at once kept writers
// (the group commit's thread, and everyone queued behind it) out for the whole prune.
TEST_F(EventLogTest, Prune_LongBacklog_AWriterGetsTheLockBetweenBatches) {
  Append(300);
  std::atomic<bool> pruned{false};
  std::thread pruner([&] {
    EXPECT_EQ(Prune(0, /*batch=*/1)->deleted, 300);
    pruned = true;
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (Range().oldest < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_GE(Range().oldest, 3) << "the prune did not start";
  {
    absl::MutexLock lock(&write_mu_);  // as the group commit's thread takes it
    EXPECT_FALSE(pruned) << "the writer waited for the whole prune";
    EXPECT_LT(Range().oldest, 300);
  }
  pruner.join();
  EXPECT_EQ(Range().oldest, 301);
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
