#include "libs/storage/statement.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/storage/sqlite_error.h"

namespace hermes::storage {
namespace {

// The statement's SQL and SQLite's last message on its connection, for the log.
std::string Detail(sqlite3_stmt* stmt) {
  const char* sql = sqlite3_sql(stmt);
  return absl::StrCat(sqlite3_errmsg(sqlite3_db_handle(stmt)), "; sql: ", sql ? sql : "");
}

}  // namespace

absl::StatusOr<Statement> Statement::Prepare(sqlite3* db, absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    return SqliteError(rc, "prepare", absl::StrCat(sqlite3_errmsg(db), "; sql: ", sql));
  }
  Statement statement(stmt);
  if (stmt == nullptr) {  // only whitespace or comments
    return SqliteError(SQLITE_MISUSE, "prepare", absl::StrCat("empty statement; sql: ", sql));
  }
  const absl::string_view rest =
      absl::StripAsciiWhitespace(sql.substr(static_cast<size_t>(tail - sql.data())));
  if (!rest.empty() && rest != ";") {
    return SqliteError(SQLITE_MISUSE, "prepare",
                       absl::StrCat("more than one statement; sql: ", sql));
  }
  return statement;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }  // a no-op for nullptr

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

void Statement::NoteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = SqliteError(rc, "bind", absl::StrCat("parameter ", index, "; ", Detail(stmt_)));
  }
}

Statement& Statement::BindInt64(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::BindText(int index, absl::string_view value) {
  // A null data pointer would bind NULL; an empty value must stay an empty string.
  const char* data = value.data() != nullptr ? value.data() : "";
  NoteBind(sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
           index);
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(rc, "step", Detail(stmt_));
}

absl::Status Statement::Run() {
  for (;;) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  // sqlite3_column_bytes after sqlite3_column_text: the length of the UTF-8 form just made.
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

void Statement::Reset() {
  sqlite3_reset(stmt_);  // returns the last step's error, already reported by Step()
  sqlite3_clear_bindings(stmt_);
  bind_status_ = absl::OkStatus();
}

}  // namespace hermes::storage
