// SqliteUserStore: the embedded UserStore, one SQLite file (WAL) per service instance.
//
//   absl::StatusOr<std::unique_ptr<SqliteUserStore>> store =
//       SqliteUserStore::Open(data_dir + "/user.db");      // or OpenUrl("sqlite:///var/...")
//   (*store)->SetEventListener([&hub](const UserEvent& e) { hub.Publish(e); });
//
// Durability: every write is one savepoint holding the change and its one event, in a
// BEGIN IMMEDIATE transaction that concurrent writes share (a group commit on the store's commit
// thread: one fsync for all of them, libs/storage/group_commit.h), committed with
// synchronous=FULL before the call returns (CreateThen, UpdateThen, DeleteThen: before their
// `done` runs).
//
// Concurrency: one writer connection behind a mutex (SQLite allows one writer at a time
// anyway), and a pool of reader connections, so Get/List/ReadEvents never wait for a write
// in progress. Only one process may write to a file: the listener hears of this process's
// commits only, and the event sequence's gap-freedom relies on one writer. Open takes the
// file's writer lock and fails with FAILED_PRECONDITION while another store has it
// (libs/storage/store_file.h).
//
// The event listener is called on the commit thread after each batch's commit, in commit order,
// one call at a time, with no store lock held (storage::CommitNotifier). A writer returns (or
// its ...Then `done` runs) only after its event has been delivered (every event of a batch is
// delivered before any of its writers is answered), and a slow listener
// delays the next batch (never readers). The listener must not write to this store (the write
// would wait for the thread it is called from); one that throws fails only its own write's
// answer (INTERNAL: the write is durable).
//
// Get is served from a read cache (storage::ReadCache) of the `cache_capacity` most recently
// used users, ~350 bytes each with typical fields (at most ~1 KB): a cached Get costs a hash
// lookup instead of a SQLite read (~12k instructions, an eighth of a GetUser call). Commits
// update it in commit order before the writer returns, so a Get never returns a state older
// than one already acknowledged or read. This relies on the one-writing-process rule above: a
// write to the file from outside the store (the sqlite3 shell, which takes no writer lock) is
// not seen by Get for a user still cached, until this process writes that user or evicts it.
//
// Choices the interface leaves open:
//   - Update with nothing to change still writes: new etag, new updated_at, an UPDATED event.
//     API.md says the etag changes on every update, and every acknowledged UpdateUser then has
//     its event in the log.
//   - Emails are compared exactly (the service lower-cases them before they get here).
//   - Ids are ULID-like (26 characters, lower-case base32, time-ordered then random); etags
//     are 13 random base32 characters, never equal to the previous one.
//   - Times are stored, and returned, with microsecond precision; updated_at never goes
//     backwards, even if the clock does, and a new user's created_at is after every other
//     user's (by 1 µs at least, if the clock says no later: libs/storage/creation_time.h),
//     so ListUsers, oldest first, lists it last.
//   - RetainedEvents after every event was pruned (PruneEvents(0)): {newest + 1, newest}, an
//     empty range that still says where the log continues. {0, 0} only before the first event.
//   - ReadEvents with limit <= 0 returns no events. List needs offset >= 0 and limit >= 1, and
//     PruneEvents keep >= 0 (INVALID_ARGUMENT, no field, otherwise).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/storage/commit_notifier.h"
#include "libs/storage/connection_pool.h"
#include "libs/storage/group_commit.h"
#include "libs/storage/read_cache.h"
#include "libs/storage/sqlite_database.h"
#include "libs/storage/store_file.h"
#include "services/user/user.h"
#include "services/user/user_store.h"

namespace hermes::user {

struct SqliteUserStoreOptions {
  // How long a statement waits for another process's lock before failing with UNAVAILABLE.
  absl::Duration busy_timeout = absl::Seconds(5);
  // Reader connections opened on demand; more concurrent reads wait for one to be free.
  int max_readers = 8;
  // Events deleted per write transaction by PruneEvents; the write lock is released between
  // batches so that writers are held up for one batch at most.
  int64_t prune_batch_size = 1000;
  // Users kept in memory for Get (the most recently read or written; 0 = none). See below.
  size_t cache_capacity = 16384;
  // Where time comes from (tests pin it); empty means absl::Now.
  std::function<absl::Time()> clock;
};

class SqliteUserStore final : public UserStore {
 public:
  // Opens or creates the database at `path`, creating missing parent directories, and brings
  // its schema to the current version. A file another store has open (this process or another
  // one), or one from a newer build, is refused (FAILED_PRECONDITION); a file that is not a
  // database is INTERNAL.
  static absl::StatusOr<std::unique_ptr<SqliteUserStore>> Open(const std::string& path,
                                                               SqliteUserStoreOptions options = {});
  // Open() for a URL of the form sqlite:///absolute/path.db (--database_url); anything else is
  // INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<SqliteUserStore>> OpenUrl(
      absl::string_view url, SqliteUserStoreOptions options = {});

  // No call may be in progress.
  ~SqliteUserStore() override = default;

  void SetEventListener(EventListener listener) override;

  // The writes are queued for the commit thread; Create, Update and Delete wait for their
  // ...Then's `done`.
  absl::StatusOr<User> Create(const NewUser& user) override;
  absl::StatusOr<User> Update(const UserUpdate& update) override;
  absl::Status Delete(absl::string_view id) override;
  void CreateThen(const NewUser& user, Abandoned abandoned, UserDone done) override;
  void UpdateThen(const UserUpdate& update, Abandoned abandoned, UserDone done) override;
  void DeleteThen(absl::string_view id, Abandoned abandoned, StatusDone done) override;
  absl::StatusOr<User> Get(absl::string_view id) override;
  // From the cache, or read on an idle reader connection.
  std::optional<absl::StatusOr<User>> TryGet(absl::string_view id) override;
  absl::StatusOr<UserPage> List(const ListUsersQuery& query) override;

  absl::StatusOr<EventPage> ReadEvents(const EventQuery& query) override;
  absl::StatusOr<EventRange> RetainedEvents() override;
  absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) override
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // The SQL ReadEvents runs for a query with `status`: for tests of its query plan.
  static absl::string_view EventsSqlForTesting(std::optional<UserStatus> status);

  // Hits and misses of Get's cache: for tests.
  storage::ReadCache<User>::Stats CacheStatsForTesting() const { return cache_.GetStats(); }
  // The connections of Get, List and the writes' checks (not the event log's): for tests.
  storage::ConnectionPool& ReadersForTesting() { return readers_; }

 private:
  SqliteUserStore(storage::StoreFile file, std::string path, SqliteUserStoreOptions options);

  // Now, truncated to what the database keeps (microseconds).
  absl::Time Now() const;

  // Queues `change` (which applies one write and returns its event, without sequence) and the
  // event's append, in a savepoint of a group commit (concurrent writes share one transaction
  // and one fsync); once committed, the commit thread applies it to the cache, delivers it to
  // the listener and hands it to `done`. `id` is the user updated or deleted (see
  // storage::ReadCache); a create goes through CreateThen.
  using EventDone = std::function<void(absl::StatusOr<UserEvent>)>;
  template <typename Change>
  void WriteThen(absl::string_view id, Abandoned abandoned, Change change, EventDone done);
  // `event` once delivered to the listener (on the commit thread), or INTERNAL if the listener
  // threw (the write stands); an error passes through.
  absl::StatusOr<UserEvent> Delivered(int64_t ticket, absl::StatusOr<UserEvent> event);
  // A create's write (CreateThen's work, in its savepoint): the user's row, its id and etag new,
  // its created_at past the newest user's; its event is still to append.
  absl::StatusOr<UserEvent> InsertNewUser(storage::SqliteDatabase& db, const NewUser& user);

  storage::WriterLock lock_;  // first, so released last: after every connection is closed
  const SqliteUserStoreOptions options_;

  absl::Mutex write_mu_;
  const std::unique_ptr<storage::SqliteDatabase> writer_ ABSL_PT_GUARDED_BY(write_mu_);

  storage::ConnectionPool readers_;
  // The event log's reads (WatchUsers: RetainedEvents on gRPC's callback threads as a stream
  // starts, ReadEvents on the delivery thread as it replays) on connections of their own: with
  // readers_ they would wait behind a burst of ListUsers pages for a connection, and every
  // stream served by that thread with them.
  storage::ConnectionPool event_readers_;
  storage::ReadCache<User> cache_;  // updated by commits, under write_mu_, in commit order

  storage::CommitNotifier<UserEvent> notifier_;  // its tickets are taken by commits_, in order
  // Over writer_, holding write_mu_ per batch. Last: its commit thread, whose callbacks use the
  // members above, starts after them and is joined before any of them goes.
  storage::GroupCommit<UserEvent> commits_;
};

}  // namespace hermes::user
