// Statement: one prepared SQLite statement, owned (finalized by the destructor).
//
// Bind with 1-based parameter indexes (?1, ?2, ... in the SQL), step through the rows, read
// columns by 0-based index, then Reset() to run it again with new values:
//
//   stmt.BindText(1, id);
//   absl::StatusOr<bool> row = stmt.Step();   // true: a row is there; false: done
//   if (!row.ok()) return row.status();
//   if (*row) name = stmt.ColumnText(0);
//
// A failed bind is remembered and reported by the next Step() or Run(), so a run of binds needs
// no checks of its own. Errors come from SqliteError (sqlite_error.h): generic messages, details
// logged. Statements are usually borrowed from SqliteDatabase's cache rather than built here.
// Like its connection, a statement is used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hermes::storage {

class Statement {
 public:
  // Compiles the first statement of `sql` on `db`. Fails (INTERNAL) on a syntax error or on
  // text after the first statement, which would otherwise be silently ignored.
  static absl::StatusOr<Statement> Prepare(sqlite3* db, absl::string_view sql);

  Statement() = default;  // no statement; only for moving into
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Values are copied, so they need not outlive the call. An empty string binds '' (not NULL).
  Statement& BindInt64(int index, int64_t value);
  Statement& BindText(int index, absl::string_view value);
  Statement& BindNull(int index);

  // Advances to the next row: true when one is available, false when the statement is done.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring any rows: for INSERT, UPDATE, DELETE and the like.
  absl::Status Run();

  // Columns of the current row (valid after Step() returned true). NULL reads as 0 or "".
  int64_t ColumnInt64(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

  // Makes the statement ready to run again: resets it, clears the bindings and any remembered
  // bind error. Ends the read transaction that an unfinished SELECT keeps open.
  void Reset();

  sqlite3_stmt* handle() const { return stmt_; }

 private:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  void NoteBind(int rc, int index);

  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_status_;
};

}  // namespace hermes::storage
