// GroupCommit: concurrent writers share one write transaction, and so one fsync.
//
// With `PRAGMA synchronous = FULL` every commit waits for the disk; one transaction per write
// caps a store at one write per fsync, however many callers wait. Here a writer queues its
// work; the first writer to find no batch running becomes the leader, takes everything queued
// (its own work included) and runs each item in its own SAVEPOINT inside one IMMEDIATE
// transaction, then commits once. An item that fails (or throws: it becomes INTERNAL) is
// rolled back to its savepoint alone; the others commit. When the transaction itself fails
// (BEGIN, a savepoint, COMMIT), every item of the batch gets that error, refusals included,
// since a refusal may have been caused by a write that is now undone. Nobody returns before the
// commit that holds their write is durable, so durability is unchanged; while one batch commits,
// the next one queues.
//
//   GroupCommit<UserEvent> commits(writer_db, writer_mu);
//   absl::StatusOr<UserEvent> event = commits.Run(
//       [&](SqliteDatabase& db) { return InsertUserAndEvent(db); },   // inside a savepoint
//       [&](UserEvent& event) { ticket = notifier.TakeTicket(); });   // after the commit
//
// `committed` runs for every successful item, in the order the items ran (the order their
// rows were written, so sequence order), while no other batch can start: the place to take
// commit-order tickets. If it throws, its item's writer gets INTERNAL (the write is durable)
// and the rest of the batch goes on, so it must not throw once it has taken a ticket: take the
// ticket last. Both callbacks run on the leader's thread, the caller waiting.
#pragma once

#include <exception>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/storage/sqlite_database.h"
#include "libs/storage/transaction.h"

namespace hermes::storage {

template <typename Result>
class GroupCommit {
 public:
  using Work = absl::FunctionRef<absl::StatusOr<Result>(SqliteDatabase&)>;
  using Committed = absl::FunctionRef<void(Result&)>;

  // `db` is the store's write connection; a leader holds `db_mu` while its batch runs, so
  // other users of the connection (pruning) just lock it too.
  GroupCommit(SqliteDatabase& db, absl::Mutex& db_mu) : db_(db), db_mu_(db_mu) {}

  absl::StatusOr<Result> Run(Work work, Committed committed) {
    Pending mine{work, committed};
    std::vector<Pending*> batch;
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(&mine);
      auto my_turn = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return mine.done || !leading_; };
      mu_.Await(absl::Condition(&my_turn));
      if (mine.done) return std::move(mine.result);  // a leader ran it
      leading_ = true;
      batch.swap(queue_);
    }
    bool durable = false;  // the batch's COMMIT succeeded
    try {
      absl::MutexLock lock(&db_mu_);
      RunBatch(batch, durable);
    } catch (...) {
      // RunBatch catches what `work` and `committed` throw, so only an allocation failure in
      // its own bookkeeping gets here, before the commit (the transaction rolls back) or after
      // it. Nobody may be left waiting on a leader that is gone, nor told "OK" without its
      // callback having run.
      for (Pending* pending : batch) {
        if (pending != &mine && !pending->reported) {
          pending->result = absl::InternalError(
              durable ? "write committed, but a callback after the commit failed; its outcome "
                        "is unknown"
                      : "write not made: its batch failed before the commit");
        }
      }
      Finish(batch);
      // The leader's own callback ran (it may have taken a commit-order ticket, which its
      // caller must deliver): its result stands. Otherwise the exception is its answer.
      if (mine.reported) return std::move(mine.result);
      throw;
    }
    Finish(batch);
    return std::move(mine.result);
  }

  // Writers waiting for a batch to take them (not counting the batch running): for tests.
  size_t QueuedForTesting() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Pending {
    Work work;
    Committed committed;
    absl::StatusOr<Result> result = absl::UnknownError("not run");
    bool reported = false;  // result final: failed, or committed and `committed` has run
    bool done = false;      // guarded by mu_: its writer may return
  };

  void Finish(const std::vector<Pending*>& batch) {
    absl::MutexLock lock(&mu_);
    for (Pending* pending : batch) pending->done = true;
    leading_ = false;
  }

  // Runs `pending`'s work in a savepoint; a failure, or an exception, undoes that item alone.
  // Not OK only when the savepoint itself fails, which dooms the whole transaction.
  absl::Status RunOne(Pending& pending) {
    if (absl::Status status = db_.Run("SAVEPOINT hermes_write"); !status.ok()) return status;
    try {
      pending.result = pending.work(db_);
    } catch (const std::exception& e) {
      pending.result = absl::InternalError(absl::StrCat("write threw: ", e.what()));
    } catch (...) {
      pending.result = absl::InternalError("write threw a non-standard exception");
    }
    if (!pending.result.ok()) {
      // Some errors (I/O, a full disk in some statements, an interrupt) make SQLite roll the
      // whole transaction back: the batch is lost, and the cause every item should hear is this
      // write's error, not the "no such savepoint" of the ROLLBACK TO that would follow.
      if (!db_.InTransaction()) return pending.result.status();
      if (absl::Status status = db_.Run("ROLLBACK TO hermes_write"); !status.ok()) {
        return status;
      }
    }
    return db_.Run("RELEASE hermes_write");
  }

  // Sets `durable` as soon as the COMMIT has succeeded.
  void RunBatch(const std::vector<Pending*>& batch, bool& durable) {
    // Nothing of the batch stays when the transaction fails: a write refused in it may have
    // been refused because of another one (the same email twice) that is now undone, so every
    // item gets the transaction's error, refusals included.
    auto fail_all = [&](const absl::Status& status) {
      for (Pending* pending : batch) {
        pending->result = status;
        pending->reported = true;
      }
    };
    absl::StatusOr<Transaction> txn = Transaction::Begin(db_, Transaction::Mode::kImmediate);
    if (!txn.ok()) return fail_all(txn.status());
    for (Pending* pending : batch) {
      if (absl::Status status = RunOne(*pending); !status.ok()) return fail_all(status);
    }
    if (absl::Status status = txn->Commit(); !status.ok()) return fail_all(status);
    durable = true;
    for (Pending* pending : batch) {
      if (pending->result.ok()) RunCommitted(*pending);
      pending->reported = true;
    }
  }

  // A callback that throws fails its own item (its write is durable, but what was to follow
  // the commit did not happen); the other items' callbacks still run, in order.
  static void RunCommitted(Pending& pending) {
    try {
      pending.committed(*pending.result);
    } catch (const std::exception& e) {
      pending.result = absl::InternalError(
          absl::StrCat("write committed, but a step after the commit failed: ", e.what()));
    } catch (...) {
      pending.result = absl::InternalError(
          "write committed, but a step after the commit threw a non-standard "
          "exception");
    }
  }

  SqliteDatabase& db_;
  absl::Mutex& db_mu_;
  mutable absl::Mutex mu_;
  std::vector<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hermes::storage
