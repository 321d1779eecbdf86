// Transaction: a scope in which a connection's statements form one transaction. It rolls back
// when it ends without a successful Commit(), so every early return undoes its work:
//
//   absl::StatusOr<Transaction> txn = Transaction::Begin(db, Transaction::Mode::kImmediate);
//   if (!txn.ok()) return txn.status();
//   ...statements on db; `return status;` on error rolls back...
//   if (absl::Status status = txn->Commit(); !status.ok()) return status;
//
// kImmediate takes the database's write lock at BEGIN (waiting up to the busy timeout), so a
// read-then-write transaction cannot fail half-way because another connection wrote first;
// use it for every write. kDeferred is for reads that must see one snapshot (in WAL mode it
// never blocks nor is blocked by the writer). Transactions do not nest.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/storage/sqlite_database.h"

namespace hermes::storage {

class Transaction {
 public:
  enum class Mode { kDeferred, kImmediate };

  // Starts a transaction on `db`, which must outlive it and must not be in one already
  // (INTERNAL). UNAVAILABLE when the write lock stays taken past the busy timeout.
  static absl::StatusOr<Transaction> Begin(SqliteDatabase& db, Mode mode);

  ~Transaction();  // rolls back unless committed
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Commits; the changes are durable when it returns OK (see sqlite_database.h). On failure
  // the transaction is rolled back when this object goes away. Calling it twice is an error.
  absl::Status Commit();

 private:
  explicit Transaction(SqliteDatabase* db) : db_(db) {}

  SqliteDatabase* db_;  // nullptr once committed or moved from
};

}  // namespace hermes::storage
