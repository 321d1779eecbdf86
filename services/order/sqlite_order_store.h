// SqliteOrderStore: the embedded OrderStore, one SQLite file (WAL) per service instance.
//
//   absl::StatusOr<std::unique_ptr<SqliteOrderStore>> store =
//       SqliteOrderStore::Open(data_dir + "/order.db");      // or OpenUrl("sqlite:///var/...")
//   (*store)->SetEventListener([&hub](const OrderEvent& e) { hub.Publish(e); });
//
// Built like SqliteUserStore (services/user/sqlite_user_store.h), on libs/storage:
//
// Durability: every write is one savepoint holding the change and its one event, in a BEGIN
// IMMEDIATE transaction that concurrent writes share (a group commit on the store's commit
// thread, libs/storage/group_commit.h), committed with synchronous=FULL before the call returns
// (CreateThen, TransitionThen: before their `done` runs). A Create that finds its request_id
// already used writes nothing and appends no event.
//
// Concurrency: one writer connection behind a mutex and a pool of reader connections, so Get and
// List never wait for a write in progress. Only one process may write to a file (the listener
// hears of this process's commits only): Open takes the file's writer lock and fails with
// FAILED_PRECONDITION while another store has it (libs/storage/store_file.h).
//
// The event listener is called on the commit thread after each batch's commit, in commit order,
// one call at a time, with no store lock held (storage::CommitNotifier). A writer returns (or
// its ...Then `done` runs) only after its event was delivered (every event of a batch is
// delivered before any of its writers is answered); the listener must not write to
// this store, and one that throws fails only its own write's answer (INTERNAL: the write is
// durable).
//
// Choices the interface leaves open:
//   - Idempotency is per user: the key is (user_id, request_id). A repeat returns the first
//     order as it is now (its current status), whatever items the repeat carries.
//   - Ids are ULID-like (26 characters, lower-case base32, time-ordered then random).
//   - Times are stored, and returned, with microsecond precision; updated_at never goes
//     backwards, even if the clock does, and a new order's created_at is after every other
//     order of its user's (by 1 µs at least, if the clock says no later:
//     libs/storage/creation_time.h), so ListOrders, newest first, lists it first.
//   - cancel_reason is only written by a transition to CANCELLED; other transitions keep it.
//   - List needs a non-empty user_id (INVALID_ARGUMENT "user_id"), offset >= 0 and limit >= 1
//     (INVALID_ARGUMENT, no field).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/storage/commit_notifier.h"
#include "libs/storage/connection_pool.h"
#include "libs/storage/group_commit.h"
#include "libs/storage/sqlite_database.h"
#include "libs/storage/store_file.h"
#include "services/order/order.h"
#include "services/order/order_store.h"

namespace hermes::order {

struct SqliteOrderStoreOptions {
  // How long a statement waits for another process's lock before failing with UNAVAILABLE.
  absl::Duration busy_timeout = absl::Seconds(5);
  // Reader connections opened on demand; more concurrent reads wait for one to be free.
  int max_readers = 8;
  // Events deleted per write transaction by PruneEvents; the write lock is released between
  // batches so that writers are held up for one batch at most.
  int64_t prune_batch_size = 1000;
  // Where time comes from (tests pin it); empty means absl::Now.
  std::function<absl::Time()> clock;
};

class SqliteOrderStore final : public OrderStore {
 public:
  // Opens or creates the database at `path`, creating missing parent directories, and brings
  // its schema to the current version. A file another store has open (this process or another
  // one), or one from a newer build, is refused (FAILED_PRECONDITION); a file that is not a
  // database is INTERNAL.
  static absl::StatusOr<std::unique_ptr<SqliteOrderStore>> Open(
      const std::string& path, SqliteOrderStoreOptions options = {});
  // Open() for a URL of the form sqlite:///absolute/path.db (--database_url); anything else is
  // INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<SqliteOrderStore>> OpenUrl(
      absl::string_view url, SqliteOrderStoreOptions options = {});

  // No call may be in progress.
  ~SqliteOrderStore() override = default;

  void SetEventListener(EventListener listener) override;

  // The writes are queued for the commit thread; Create and Transition wait for their ...Then's
  // `done`.
  absl::StatusOr<Order> Create(const NewOrder& order) override;
  void CreateThen(const NewOrder& order, Abandoned abandoned, OrderDone done) override;
  void TransitionThen(absl::string_view id, OrderStatus to, absl::string_view reason,
                      absl::string_view id_field, absl::string_view field_for_status,
                      Abandoned abandoned, OrderDone done) override;
  absl::StatusOr<Order> Get(absl::string_view id) override;
  // Read on an idle reader connection.
  std::optional<absl::StatusOr<Order>> TryGet(absl::string_view id) override;
  absl::StatusOr<std::optional<Order>> FindByRequestId(absl::string_view user_id,
                                                       absl::string_view request_id) override;
  absl::StatusOr<OrderPage> List(const ListOrdersQuery& query) override;
  absl::StatusOr<Order> Transition(absl::string_view id, OrderStatus to, absl::string_view reason,
                                   absl::string_view id_field,
                                   absl::string_view field_for_status) override;
  absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) override
      ABSL_LOCKS_EXCLUDED(write_mu_);

 private:
  SqliteOrderStore(storage::StoreFile file, std::string path, SqliteOrderStoreOptions options);

  // Now, truncated to what the database keeps (microseconds).
  absl::Time Now() const;

  // Queues `apply` for a savepoint of a group commit (concurrent writes share one transaction
  // and one fsync), unless `abandoned` says its caller has gone by then. `apply` returns the
  // order and whether it changed it; a change gets its event appended and, once committed,
  // delivered to the listener on the commit thread; no change writes nothing. `done` gets the
  // order there.
  template <typename Apply>
  void WriteThen(Apply apply, Abandoned abandoned, OrderDone done);

  storage::WriterLock lock_;  // first, so released last: after every connection is closed
  const SqliteOrderStoreOptions options_;

  absl::Mutex write_mu_;
  const std::unique_ptr<storage::SqliteDatabase> writer_ ABSL_PT_GUARDED_BY(write_mu_);
  // What a write did: the order as it now is, and whether it changed (an event is due).
  struct WriteOutcome {
    Order order;
    bool changed = false;
  };
  // What one write of a group commit leaves: the outcome and, for a change, its event.
  struct Written {
    WriteOutcome outcome;
    OrderEvent event;
  };
  storage::ConnectionPool readers_;

  storage::CommitNotifier<OrderEvent> notifier_;  // its tickets are taken by commits_, in order
  // Over writer_, holding write_mu_ per batch. Last: its commit thread, whose callbacks use the
  // members above, starts after them and is joined before any of them goes.
  storage::GroupCommit<Written> commits_;
};

}  // namespace hermes::order
