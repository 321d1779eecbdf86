// SqliteDatabase: one connection to an SQLite database file, set up the way every Hermes store
// needs it, with a cache of prepared statements.
//
//   absl::StatusOr<std::unique_ptr<SqliteDatabase>> db = SqliteDatabase::Open(path, {});
//   absl::StatusOr<CachedStatement> get = (*db)->Prepare("SELECT name FROM t WHERE id = ?1");
//   get->BindText(1, id);  ...get->Step()...   // reset for reuse when `get` goes out of scope
//
// Every connection runs with:
//   - journal_mode=WAL: readers never block the writer nor each other; one writer at a time.
//   - synchronous=FULL: the WAL is fsync'ed at every commit. With NORMAL, WAL commits survive
//     a crash of the process (kill -9) but the last ones can be lost on power loss or an OS
//     crash; Hermes acknowledges a write only once it is durable, so it pays one fsync per
//     commit.
//   - busy_timeout: a connection waits (up to the timeout) for another one's lock instead of
//     failing at once; past it, calls fail with UNAVAILABLE.
//   - foreign_keys=ON, and extended result codes (so UNIQUE violations can be told apart).
//
// A connection is used by one thread at a time (it is opened without SQLite's own mutex):
// guard it with a mutex (a writer) or lease it from a ConnectionPool (readers). In-memory
// databases are refused, as a store's connections must all see the same data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/storage/statement.h"

struct sqlite3;

namespace hermes::storage {

struct ConnectionOptions {
  absl::Duration busy_timeout = absl::Seconds(5);
  // Read-only use (PRAGMA query_only): for reader connections, so that a bug cannot write
  // through them. The file must already exist.
  bool query_only = false;
};

class CachedStatement;

class SqliteDatabase {
 public:
  // Opens (creating it if missing, unless query_only) the database file at `path`, whose
  // parent directory must exist (see CreateParentDirectories), and applies the settings above.
  // Fails with INVALID_ARGUMENT for an empty or in-memory path, UNAVAILABLE when the file
  // cannot be opened, INTERNAL when it is not a database or WAL cannot be enabled.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(const std::string& path,
                                                              const ConnectionOptions& options);

  ~SqliteDatabase();  // finalizes the cached statements, then closes the connection
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  // Runs one or more ';'-separated statements that return no rows that matter (DDL, PRAGMA
  // settings, BEGIN/COMMIT). Not cached: for set-up and rare calls.
  absl::Status Execute(absl::string_view sql);

  // Runs one statement that takes no parameters and returns no rows (BEGIN, COMMIT, SAVEPOINT),
  // prepared once and cached (Prepare): for the statements of every write.
  absl::Status Run(absl::string_view sql);

  // The prepared statement for `sql` (exactly one statement), compiled on first use and kept
  // until the connection closes. The handle resets the statement when it goes out of scope.
  // Asking for a statement that is still in use (the same SQL, nested) fails with INTERNAL.
  absl::StatusOr<CachedStatement> Prepare(absl::string_view sql);

  // About the last INSERT/UPDATE/DELETE on this connection.
  int64_t LastInsertRowId() const;
  int64_t Changes() const;

  // Whether a transaction is open (SQLite ends some on errors by itself).
  bool InTransaction() const;

  // Set by a Transaction whose ROLLBACK failed: the transaction open on this connection is a
  // leftover, which the next Transaction::Begin rolls back (any other open transaction makes
  // Begin refuse, as nesting is a bug).
  void set_leftover_transaction(bool leftover) { leftover_transaction_ = leftover; }
  bool leftover_transaction() const { return leftover_transaction_; }

  sqlite3* handle() const { return db_; }

 private:
  friend class CachedStatement;
  struct CacheEntry {
    Statement statement;
    bool in_use = false;
  };

  explicit SqliteDatabase(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  bool leftover_transaction_ = false;
  // std::string keys with absl's transparent hashing: lookups by string_view do not allocate.
  absl::flat_hash_map<std::string, std::unique_ptr<CacheEntry>> cache_;
};

// A statement borrowed from a connection's cache; resets it and gives it back on destruction.
// Must not outlive the connection.
class CachedStatement {
 public:
  ~CachedStatement();
  CachedStatement(CachedStatement&& other) noexcept;
  CachedStatement& operator=(CachedStatement&& other) = delete;
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;

  Statement& operator*() const { return entry_->statement; }
  Statement* operator->() const { return &entry_->statement; }

 private:
  friend class SqliteDatabase;
  explicit CachedStatement(SqliteDatabase::CacheEntry* entry) : entry_(entry) {}

  SqliteDatabase::CacheEntry* entry_;
};

// Runs `sql` (no rows expected) on `db`'s cached statement, with the parameters `bind` sets:
//   RunStatement(db, "DELETE FROM t WHERE id = ?1", [&](Statement& s) { s.BindText(1, id); });
template <typename Bind>
absl::Status RunStatement(SqliteDatabase& db, absl::string_view sql, Bind bind) {
  absl::StatusOr<CachedStatement> stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  bind(**stmt);
  return (*stmt)->Run();
}

// INVALID_ARGUMENT when `path` names no file that connections can share ("", ":memory:"): what
// SqliteDatabase::Open refuses, for callers that must refuse it before doing anything else.
absl::Status CheckDatabaseFilePath(const std::string& path);

// Creates the directories above `path` (a database file) that are missing. UNAVAILABLE on
// failure; the path and the reason are logged, not put in the message.
absl::Status CreateParentDirectories(const std::string& path);

// The file path in a database URL of the form sqlite:///absolute/path.db (percent-escapes
// decoded). INVALID_ARGUMENT for another scheme, a relative path, a host, a query or a fragment.
absl::StatusOr<std::string> SqlitePathFromUrl(absl::string_view url);

}  // namespace hermes::storage
