#include "libs/storage/connection_pool.h"

#include <algorithm>
#include <utility>

namespace hermes::storage {

ConnectionPool::ConnectionPool(Opener open, int max_connections)
    : open_(std::move(open)), max_connections_(std::max(1, max_connections)) {}

bool ConnectionPool::CanAcquire() const { return !idle_.empty() || open_count_ < max_connections_; }

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    // Behind those already waiting, even when a connection is idle: it is the first one's.
    if (waiting_ > 0 || !CanAcquire()) {
      const uint64_t ticket = next_ticket_++;
      auto my_turn = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return now_serving_ == ticket && CanAcquire();
      };
      ++waiting_;
      mu_.Await(absl::Condition(&my_turn));
      --waiting_;
      ++now_serving_;
    }
    if (std::optional<Lease> idle = TakeIdle()) return *std::move(idle);
    ++open_count_;  // reserve the slot; open outside the lock
  }
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> db = open_();
  if (!db.ok()) {
    absl::MutexLock lock(&mu_);
    --open_count_;
    return db.status();
  }
  return Lease(this, *std::move(db));
}

std::optional<ConnectionPool::Lease> ConnectionPool::TryAcquire() {
  absl::MutexLock lock(&mu_);
  // A connection given back while an Acquire() waits is that waiter's, not a newcomer's.
  if (waiting_ > 0) return std::nullopt;
  return TakeIdle();
}

std::optional<ConnectionPool::Lease> ConnectionPool::TakeIdle() {
  if (idle_.empty()) return std::nullopt;
  std::unique_ptr<SqliteDatabase> db = std::move(idle_.back());
  idle_.pop_back();
  return Lease(this, std::move(db));
}

int ConnectionPool::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

int ConnectionPool::size() const {
  absl::MutexLock lock(&mu_);
  return open_count_;
}

void ConnectionPool::GiveBack(std::unique_ptr<SqliteDatabase> db) {
  // Still in a transaction (its ROLLBACK failed, or a caller left one open): its next user would
  // read a frozen snapshot, and its BEGIN would fail. Close it; the next Acquire opens another.
  if (db->InTransaction()) {
    db.reset();
    absl::MutexLock lock(&mu_);
    --open_count_;
    return;
  }
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(db));
}

ConnectionPool::Lease::~Lease() {
  if (db_ != nullptr) pool_->GiveBack(std::move(db_));
}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), db_(std::move(other.db_)) {}

}  // namespace hermes::storage
