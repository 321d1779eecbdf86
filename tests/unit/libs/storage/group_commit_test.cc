#include "libs/storage/group_commit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

class GroupCommitTest : public TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    db_ = OpenOrDie();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Execute("CREATE TABLE t (name TEXT PRIMARY KEY)").ok());
    // A deferred foreign key is checked at COMMIT: the one way to make a real COMMIT fail.
    ASSERT_TRUE(db_->Execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)").ok());
    ASSERT_TRUE(db_->Execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
                             "DEFERRABLE INITIALLY DEFERRED)")
                    .ok());
    commits_ = std::make_unique<GroupCommit<std::string>>(*db_, db_mu_);
  }

  // A write that inserts `name` into t and answers it.
  static auto Insert(const std::string& name) {
    return [name](SqliteDatabase& db) -> absl::StatusOr<std::string> {
      if (absl::Status status = db.Execute("INSERT INTO t VALUES ('" + name + "')"); !status.ok()) {
        return status;
      }
      return name;
    };
  }

  std::vector<std::string> Rows() {
    absl::StatusOr<CachedStatement> stmt = db_->Prepare("SELECT name FROM t ORDER BY name");
    EXPECT_TRUE(stmt.ok());
    std::vector<std::string> rows;
    while (stmt.ok() && *(*stmt)->Step()) rows.push_back(std::string((*stmt)->ColumnText(0)));
    return rows;
  }

  using Write = std::function<absl::StatusOr<std::string>(SqliteDatabase&)>;
  using Committed = std::function<void(std::string&)>;

  // Runs a first write ("lead") that, once running as the leader, waits until `writes` (each
  // on its own thread) are all queued behind it, so that they run in the next batch together.
  // Returns every result, lead's first, once all have returned.
  std::vector<absl::StatusOr<std::string>> RunAsOneBatch(std::vector<Write> writes,
                                                         Committed committed) {
    absl::Notification lead_running;
    bool all_queued = false;
    writes.insert(writes.begin(), [&](SqliteDatabase& db) {
      lead_running.Notify();
      absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (!(all_queued = commits_->QueuedForTesting() == writes.size() - 1) &&
             absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      return Insert("lead")(db);
    });
    std::vector<std::future<absl::StatusOr<std::string>>> futures;
    auto run = [&](size_t i) {
      futures.push_back(std::async(std::launch::async, [&, i] {
        return commits_->Run(writes[i], i == 0 ? Committed([](std::string&) {}) : committed);
      }));
    };
    run(0);
    EXPECT_TRUE(lead_running.WaitForNotificationWithTimeout(absl::Seconds(10)));
    for (size_t i = 1; i < writes.size(); ++i) run(i);
    std::vector<absl::StatusOr<std::string>> results;
    for (auto& future : futures) results.push_back(future.get());
    EXPECT_TRUE(all_queued) << "the writes did not queue as one batch";
    return results;
  }

  std::unique_ptr<SqliteDatabase> db_;
  absl::Mutex db_mu_;
  std::unique_ptr<GroupCommit<std::string>> commits_;
};

TEST_F(GroupCommitTest, OneWrite_CommitsAndRunsCommitted) {
  std::string seen;
  absl::StatusOr<std::string> result =
      commits_->Run(Insert("ada"), [&](std::string& name) { seen = name; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, "ada");
  EXPECT_EQ(seen, "ada");
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Rows(), std::vector<std::string>{"ada"});
}

TEST_F(GroupCommitTest, Batch_RefusalRolledBackAlone_OthersCommitInOrder) {
  ASSERT_TRUE(commits_->Run(Insert("taken"), [](std::string&) {}).ok());
  absl::Mutex seen_mu;
  std::vector<std::string> seen;
  auto committed = [&](std::string& name) {
    absl::MutexLock lock(&seen_mu);
    seen.push_back(name);
  };
  auto fails_after_writing = [](SqliteDatabase& db) -> absl::StatusOr<std::string> {
    EXPECT_TRUE(db.Execute("INSERT INTO t VALUES ('half')").ok());
    return db.Execute("INSERT INTO t VALUES ('taken')");  // the primary key refuses it
  };
  auto results = RunAsOneBatch({Insert("b"), fails_after_writing, Insert("d")}, committed);

  EXPECT_TRUE(results[0].ok());
  const absl::StatusOr<std::string>& b = results[1];
  const absl::StatusOr<std::string>& refused = results[2];
  const absl::StatusOr<std::string>& d = results[3];
  EXPECT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(d.ok()) << d.status();
  // Neither row of the refused write stays ("half" was written before it failed).
  EXPECT_EQ(Rows(), (std::vector<std::string>{"b", "d", "lead", "taken"}));
  absl::MutexLock lock(&seen_mu);
  EXPECT_EQ(seen.size(), 2u);  // the refused write is not reported committed
}

// Some errors (I/O, a full disk, an interrupt) make SQLite roll the whole transaction back
// from inside a write. Every writer of the batch hears that write's error (here UNAVAILABLE, as
// an I/O error is), not an INTERNAL "no such savepoint", and the next batch runs as usual.
TEST_F(GroupCommitTest, WriteWhoseErrorEndedTheTransaction_TheBatchGetsThatError) {
  auto abandons_the_transaction = [](SqliteDatabase& db) -> absl::StatusOr<std::string> {
    EXPECT_TRUE(db.Execute("INSERT INTO t VALUES ('lost')").ok());
    EXPECT_TRUE(db.Run("ROLLBACK").ok());  // what SQLite does itself after such an error
    return absl::UnavailableError("storage is unavailable");
  };
  auto results = RunAsOneBatch({Insert("b"), abandons_the_transaction}, [](std::string&) {});
  EXPECT_TRUE(results[0].ok());  // the lead commits in a batch of its own, before
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_EQ(results[i].status(), absl::UnavailableError("storage is unavailable"));
  }
  EXPECT_EQ(Rows(), std::vector<std::string>{"lead"});
  EXPECT_TRUE(commits_->Run(Insert("next"), [](std::string&) {}).ok());
  EXPECT_EQ(Rows(), (std::vector<std::string>{"lead", "next"}));
}

TEST_F(GroupCommitTest, CommitFails_EveryItemOfTheBatchGetsTheError_NothingStays) {
  auto orphan = [](SqliteDatabase& db) -> absl::StatusOr<std::string> {
    if (absl::Status status = db.Execute("INSERT INTO child VALUES (42)"); !status.ok()) {
      return status;
    }
    return std::string("orphan");
  };
  // "dup" is refused only because "dup" earlier in the batch was written; that one is undone
  // by the failed commit, so the refusal must not be reported either.
  bool committed_ran = false;
  auto results = RunAsOneBatch({Insert("dup"), Insert("dup"), orphan},
                               [&](std::string&) { committed_ran = true; });

  EXPECT_TRUE(results[0].ok());
  const absl::StatusOr<std::string>& first = results[1];
  const absl::StatusOr<std::string>& second = results[2];
  const absl::StatusOr<std::string>& orphaned = results[3];
  ASSERT_FALSE(orphaned.ok());
  EXPECT_EQ(first.status(), orphaned.status());
  EXPECT_EQ(second.status(), orphaned.status());
  EXPECT_FALSE(committed_ran);
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Rows(), std::vector<std::string>{"lead"});
  // And the store goes on.
  EXPECT_TRUE(commits_->Run(Insert("after"), [](std::string&) {}).ok());
}

TEST_F(GroupCommitTest, WriteThrows_InternalForIt_OthersCommit_NoOneHangs) {
  auto throws = [](SqliteDatabase& db) -> absl::StatusOr<std::string> {
    EXPECT_TRUE(db.Execute("INSERT INTO t VALUES ('half')").ok());
    throw std::runtime_error("boom");
  };
  auto results = RunAsOneBatch({Insert("b"), throws}, [](std::string&) {});
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[1].ok());
  const absl::StatusOr<std::string>& thrown = results[2];
  EXPECT_EQ(thrown.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(thrown.status().message().find("boom"), std::string::npos);
  EXPECT_EQ(Rows(), (std::vector<std::string>{"b", "lead"}));
}

TEST_F(GroupCommitTest, CommittedCallbackThrows_InternalForItsWriter_NextWriterIsNotStuck) {
  auto throwing_committed = [](std::string&) { throw std::runtime_error("callback failed"); };
  absl::StatusOr<std::string> thrown = commits_->Run(Insert("a"), throwing_committed);
  EXPECT_EQ(thrown.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(thrown.status().message().find("callback failed"), std::string::npos);
  // The leader whose callback threw still hands the lead on: the next writer is not stuck.
  std::future<absl::StatusOr<std::string>> next = std::async(
      std::launch::async, [&] { return commits_->Run(Insert("b"), [](std::string&) {}); });
  ASSERT_EQ(next.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(next.get().ok());
  EXPECT_EQ(Rows(), (std::vector<std::string>{"a", "b"}));  // "a" did commit
}

// One item's callback failing must not cost the others theirs: a store takes each writer's
// commit-order ticket there, and a writer told OK without one would never be delivered.
TEST_F(GroupCommitTest, CommittedCallbackThrowsInABatch_OnlyThatItemFails_TheOthersCallbacksRun) {
  absl::Mutex ran_mu;
  std::vector<std::string> ran;
  auto committed = [&](std::string& name) {
    if (name == "b") throw std::runtime_error("b's callback failed");
    absl::MutexLock lock(&ran_mu);
    ran.push_back(name);
  };
  auto results = RunAsOneBatch({Insert("a"), Insert("b"), Insert("c")}, committed);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[1].value_or("failed"), "a");
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(results[2].status().message().find("b's callback failed"), std::string::npos);
  EXPECT_EQ(results[3].value_or("failed"), "c");
  absl::MutexLock lock(&ran_mu);  // the three queued in whatever order their threads ran

  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(Rows(), (std::vector<std::string>{"a", "b", "c", "lead"}));  // every write is durable
}

// `publish` runs for every item of a batch, in order, before any item's `done`: listeners hear
// of all of a batch's events before the commit thread answers its writers. Its result is what
// `done` gets (a step that fails one write fails that write alone), and a failed write passes
// through it too.
TEST_F(GroupCommitTest, Publish_EveryItemOfTheBatchBeforeAnyDone_ItsResultIsWhatDoneGets) {
  std::vector<std::string> steps;  // only the commit thread touches it until `all_done`
  absl::Notification all_done;
  std::vector<absl::StatusOr<std::string>> outcomes(3, absl::UnknownError("not run"));
  const std::vector<std::string> names = {"a", "taken", "c"};
  ASSERT_TRUE(commits_->Run(Insert("taken"), [](std::string&) {}).ok());
  {
    // The commit thread takes "lead" as a batch of its own and waits for this lock; meanwhile
    // the three queue, and run as the next batch.
    absl::MutexLock hold(&db_mu_);
    commits_->Submit(
        Insert("lead"), [](std::string&) {}, [](absl::StatusOr<std::string>) {});
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (commits_->QueuedForTesting() > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(commits_->QueuedForTesting(), 0u);
    for (int i = 0; i < 3; ++i) {
      commits_->Submit(
          Insert(names[i]), [](std::string&) {},
          [&, i](absl::StatusOr<std::string> outcome) {
            steps.push_back("done " + names[i]);
            outcomes[i] = std::move(outcome);
            if (i == 2) all_done.Notify();
          },
          [&, i](absl::StatusOr<std::string> result) -> absl::StatusOr<std::string> {
            steps.push_back("publish " + names[i]);
            if (i == 2) return absl::InternalError("telling the listener failed");
            return result;
          });
    }
    EXPECT_EQ(commits_->QueuedForTesting(), 3u);
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(steps, (std::vector<std::string>{"publish a", "publish taken", "publish c", "done a",
                                             "done taken", "done c"}));
  EXPECT_TRUE(outcomes[0].ok());
  EXPECT_FALSE(outcomes[1].ok()) << "the refused write passed through publish as it was";
  EXPECT_EQ(outcomes[2].status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Rows(), (std::vector<std::string>{"a", "c", "lead", "taken"}));
}

}  // namespace
}  // namespace hermes::storage
