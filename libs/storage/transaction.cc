#include "libs/storage/transaction.h"

#include <utility>

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {
absl::StatusOr<Transaction> Transaction::Begin(SqliteDatabase& db, Mode mode) {
  if (db.InTransaction() && db.leftover_transaction()) {
    // A transaction whose ROLLBACK failed (see the destructor): undone now, or the connection
    // would refuse every write from here on.
    HERMES_LOG(spdlog::level::warn, "rolling back a transaction left open on this connection");
    if (absl::Status status = db.Run("ROLLBACK"); !status.ok()) return status;
  }
  db.set_leftover_transaction(false);
  if (db.InTransaction()) {
    HERMES_LOG(spdlog::level::err, "nested transaction refused");
    return errors::Error(absl::StatusCode::kInternal, "storage error");
  }
  absl::Status status = db.Run(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!status.ok()) return status;
  return Transaction(&db);
}

Transaction::~Transaction() {
  // SQLite rolls back by itself after some errors (I/O, out of memory); then there is nothing
  // left to undo.
  if (db_ == nullptr || !db_->InTransaction()) return;
  if (absl::Status status = db_->Run("ROLLBACK"); !status.ok()) {
    HERMES_LOG(spdlog::level::err, "rollback failed").Str("status", status.ToString());
    db_->set_leftover_transaction(db_->InTransaction());
  }
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

absl::Status Transaction::Commit() {
  if (db_ == nullptr) {
    HERMES_LOG(spdlog::level::err, "commit of a finished transaction");
    return errors::Error(absl::StatusCode::kInternal, "storage error");
  }
  absl::Status status = db_->Run("COMMIT");
  if (status.ok()) db_ = nullptr;
  return status;
}

}  // namespace hermes::storage
