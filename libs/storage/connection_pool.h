// ConnectionPool: connections that threads borrow one at a time, so that reads run in parallel
// (WAL lets any number of readers work while one writer writes).
//
//   ConnectionPool readers([path] { return SqliteDatabase::Open(path, {.query_only = true}); },
//                          /*max_connections=*/8);
//   absl::StatusOr<ConnectionPool::Lease> db = readers.Acquire();
//   if (!db.ok()) return db.status();
//   ...(*db)->Prepare(...)...   // given back when the lease goes out of scope
//
// Connections are opened on demand, up to `max_connections`, and kept (with their cached
// statements) for the next borrower. When all are lent out, Acquire() waits for one to come
// back; waiters are served in the order they came (a connection given back while some wait is
// the first waiter's, never a newcomer's). A connection whose opening failed is not counted, so
// the next Acquire() tries again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/storage/sqlite_database.h"

namespace hermes::storage {

class ConnectionPool {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<SqliteDatabase>>()>;

  // `open` is called without any lock held, possibly from several threads at once.
  ConnectionPool(Opener open, int max_connections);
  // Every lease must have been given back.
  ~ConnectionPool() = default;
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // One borrowed connection; the pool must outlive it.
  class Lease {
   public:
    ~Lease();
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    SqliteDatabase& operator*() const { return *db_; }
    SqliteDatabase* operator->() const { return db_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<SqliteDatabase> db)
        : pool_(pool), db_(std::move(db)) {}

    ConnectionPool* pool_;
    std::unique_ptr<SqliteDatabase> db_;
  };

  // An idle connection, a new one if fewer than max_connections exist, or else, after the
  // Acquire() calls already waiting have had theirs, the first one given back. Fails only when
  // opening a new connection fails.
  absl::StatusOr<Lease> Acquire();
  // An idle connection, or std::nullopt when none is or when an Acquire() is waiting (a
  // connection given back is left to that waiter): never waits, nor opens a connection (for a
  // caller that has somewhere better to wait, see UnaryMethods).
  std::optional<Lease> TryAcquire();

  // Connections opened and not closed (idle or lent out).
  int size() const;
  // Acquire() calls waiting for a connection to come back.
  int waiting() const;

 private:
  void GiveBack(std::unique_ptr<SqliteDatabase> db);
  bool CanAcquire() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<Lease> TakeIdle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Opener open_;
  const int max_connections_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<SqliteDatabase>> idle_ ABSL_GUARDED_BY(mu_);
  int open_count_ ABSL_GUARDED_BY(mu_) = 0;  // idle + lent out + being opened
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;     // in Acquire(), until a connection can be had
  // absl::Mutex wakes its waiters in no particular order, so they queue by ticket: each takes
  // next_ticket_ and goes when now_serving_ reaches it.
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t now_serving_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hermes::storage
