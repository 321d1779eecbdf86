// GroupCommit: concurrent writers share one write transaction, and so one fsync.
//
// With `PRAGMA synchronous = FULL` every commit waits for the disk; one transaction per write
// caps a store at one write per fsync, however many callers wait. Here a writer queues its
// work, and the store's commit thread takes everything queued (a batch) and runs each item in
// its own SAVEPOINT inside one IMMEDIATE transaction, then commits once; meanwhile the next
// batch queues. An item that fails (or throws: it becomes INTERNAL) is rolled back to its
// savepoint alone; the others commit. When the transaction itself fails (BEGIN, a savepoint,
// COMMIT), every item of the batch gets that error, refusals included, since a refusal may
// have been caused by a write that is now undone. Nobody hears of a write before the commit
// that holds it is durable, so durability is unchanged.
//
// Run waits for its result; Submit does not: its `done` gets the result on the commit thread,
// so a caller answering a request from there (the services' writes) neither holds a thread nor
// needs one woken per write while the commit runs. (Before, the first writer to
// find no batch running led the batch on its own thread and the others waited to be woken: at
// 64 creates in flight ~4 context switches a create, half of them that wait, on a machine where
// a switch costs more than the SQL.)
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
// ticket last. `publish` (may be null), after the commit and outside `db_mu`, runs for every item
// of the batch, in order, before any item's `done`: the place to tell listeners of the batch's
// events, so that they hear of all of them before the commit thread spends its time answering.
// `work`, `committed`, `publish` and `done` all run on the commit thread, in that order for each
// item, and `done` in the batch's order; none may wait for another write of this GroupCommit
// (it would wait for itself).
#pragma once

#include <pthread.h>

#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/storage/sqlite_database.h"
#include "libs/storage/transaction.h"
#include "libs/storage/write_then.h"

namespace hermes::storage {

template <typename Result>
class GroupCommit {
 public:
  using Work = std::function<absl::StatusOr<Result>(SqliteDatabase&)>;
  using Committed = std::function<void(Result&)>;
  using Done = std::function<void(absl::StatusOr<Result>)>;
  // Takes an item's result (an error too) and returns what its `done` gets.
  using Publish = std::function<absl::StatusOr<Result>(absl::StatusOr<Result>)>;

  // `db` is the store's write connection; the commit thread holds `db_mu` while a batch runs,
  // so other users of the connection (pruning) just lock it too. Starts the commit thread.
  GroupCommit(SqliteDatabase& db, absl::Mutex& db_mu)
      : db_(db), db_mu_(db_mu), thread_([this] { CommitLoop(); }) {}

  // Commits what is queued, then stops the thread. No Run or Submit may be in progress.
  ~GroupCommit() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Queues `work` and waits for its result.
  absl::StatusOr<Result> Run(Work work, Committed committed) {
    return AwaitDone<absl::StatusOr<Result>>(
        [&](Done done) { Submit(std::move(work), std::move(committed), std::move(done)); });
  }

  // Queues `work`; `done` gets its result once its batch has committed or failed (through
  // `publish` first, when there is one). Once the GroupCommit is being destroyed (a bug: no
  // write may be in progress then), `done` gets UNAVAILABLE at once, on the caller's thread, and
  // nothing is written.
  void Submit(Work work, Committed committed, Done done, Publish publish = nullptr) {
    auto pending = std::make_unique<Pending>(
        Pending{std::move(work), std::move(committed), std::move(done), std::move(publish)});
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        queue_.push_back(std::move(pending));
        return;
      }
    }
    pending->done(absl::UnavailableError("the store is closing; nothing was written"));
  }

  // Writes queued for the next batch (not counting the batch running): for tests.
  size_t QueuedForTesting() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Pending {
    Work work;
    Committed committed;
    Done done;
    Publish publish;
    absl::StatusOr<Result> result = absl::UnknownError("not run");
    bool reported = false;  // result final: failed, or committed and `committed` has run
  };
  using Batch = std::vector<std::unique_ptr<Pending>>;

  void CommitLoop() {
    pthread_setname_np(pthread_self(), "hermes-commit");  // at most 15 characters
    for (;;) {
      Batch batch;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !queue_.empty() || stopping_;
        };
        mu_.Await(absl::Condition(&ready));
        if (queue_.empty()) return;  // stopping, and everything queued has been committed
        batch.swap(queue_);
      }
      CommitAndReport(batch);
    }
  }

  void CommitAndReport(Batch& batch) {
    bool durable = false;  // the batch's COMMIT succeeded
    try {
      absl::MutexLock lock(&db_mu_);
      RunBatch(batch, durable);
    } catch (...) {
      // RunBatch catches what `work` and `committed` throw, so only an allocation failure in
      // its own bookkeeping gets here, before the commit (the transaction rolls back) or after
      // it. Nobody may be left waiting, nor told "OK" without its callback having run.
      for (const std::unique_ptr<Pending>& pending : batch) {
        if (!pending->reported) {
          pending->result = absl::InternalError(
              durable ? "write committed, but a callback after the commit failed; its outcome "
                        "is unknown"
                      : "write not made: its batch failed before the commit");
        }
      }
    }
    for (const std::unique_ptr<Pending>& pending : batch) {
      if (!pending->publish) continue;
      try {
        pending->result = pending->publish(std::move(pending->result));
      } catch (...) {  // as a `committed` that throws: its own item fails
        pending->result = absl::InternalError(
            "a step after the batch failed; the outcome of this write is "
            "unknown");
      }
    }
    for (const std::unique_ptr<Pending>& pending : batch) {
      try {
        pending->done(std::move(pending->result));
      } catch (...) {  // a `done` that throws loses its own answer, not the commit thread
      }
    }
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
  void RunBatch(const Batch& batch, bool& durable) {
    // Nothing of the batch stays when the transaction fails: a write refused in it may have
    // been refused because of another one (the same email twice) that is now undone, so every
    // item gets the transaction's error, refusals included.
    auto fail_all = [&](const absl::Status& status) {
      for (const std::unique_ptr<Pending>& pending : batch) {
        pending->result = status;
        pending->reported = true;
      }
    };
    absl::StatusOr<Transaction> txn = Transaction::Begin(db_, Transaction::Mode::kImmediate);
    if (!txn.ok()) return fail_all(txn.status());
    for (const std::unique_ptr<Pending>& pending : batch) {
      if (absl::Status status = RunOne(*pending); !status.ok()) return fail_all(status);
    }
    if (absl::Status status = txn->Commit(); !status.ok()) return fail_all(status);
    durable = true;
    for (const std::unique_ptr<Pending>& pending : batch) {
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
  Batch queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once everything it uses is
};

}  // namespace hermes::storage
