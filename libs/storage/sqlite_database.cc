#include "libs/storage/sqlite_database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/storage/sqlite_error.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {
namespace {

constexpr absl::string_view kSqliteScheme = "sqlite://";

// Runs a PRAGMA that answers with one text value (journal_mode) and returns that value.
absl::StatusOr<std::string> QueryText(sqlite3* db, absl::string_view sql) {
  absl::StatusOr<Statement> stmt = Statement::Prepare(db, sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->ColumnText(0) : std::string();
}

absl::Status Configure(sqlite3* db, const ConnectionOptions& options) {
  sqlite3_extended_result_codes(db, 1);
  const int64_t timeout_ms = absl::ToInt64Milliseconds(options.busy_timeout);
  sqlite3_busy_timeout(db, static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX)));

  // The first statement reads the file's header: a file that is not a database fails here.
  absl::StatusOr<std::string> mode = QueryText(db, "PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.status();
  if (absl::AsciiStrToLower(*mode) != "wal") {
    HERMES_LOG(spdlog::level::err, "sqlite refused WAL journal mode").Str("journal_mode", *mode);
    return errors::Error(absl::StatusCode::kInternal, "storage cannot enable its journal");
  }
  for (absl::string_view pragma : {"PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON"}) {
    absl::StatusOr<Statement> stmt = Statement::Prepare(db, pragma);
    if (!stmt.ok()) return stmt.status();
    if (absl::Status status = stmt->Run(); !status.ok()) return status;
  }
  // The WAL file grows during a burst (a long prune, a migration's backfill) and SQLite keeps it
  // at its largest size; past 64 MiB it is cut back after each checkpoint that empties it.
  if (absl::StatusOr<std::string> limit = QueryText(db, "PRAGMA journal_size_limit = 67108864");
      !limit.ok()) {
    return limit.status();
  }
  if (options.query_only) {
    absl::StatusOr<Statement> stmt = Statement::Prepare(db, "PRAGMA query_only = ON");
    if (!stmt.ok()) return stmt.status();
    return stmt->Run();
  }
  return absl::OkStatus();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(
    const std::string& path, const ConnectionOptions& options) {
  if (absl::Status status = CheckDatabaseFilePath(path); !status.ok()) return status;
  if (!options.query_only) {
    // A new database is readable by its owner only: it holds users' data, and SQLite would make
    // it 0644. SQLite gives the -wal and -shm files the database file's mode. (An empty file is
    // an empty database. A failure here, a missing directory say, is SQLite's to report.)
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  const int flags = SQLITE_OPEN_READWRITE | (options.query_only ? 0 : SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  // From here the handle is ours, even when opening failed.
  std::unique_ptr<SqliteDatabase> database(new SqliteDatabase(db));
  if (rc != SQLITE_OK) {
    return SqliteError(rc, "open",
                       absl::StrCat(db ? sqlite3_errmsg(db) : "out of memory", "; path: ", path));
  }
  if (absl::Status status = Configure(db, options); !status.ok()) {
    HERMES_LOG(spdlog::level::err, "sqlite database could not be set up").Str("path", path);
    return status;
  }
  return database;
}

SqliteDatabase::~SqliteDatabase() {
  cache_.clear();  // finalize before closing
  sqlite3_close_v2(db_);
}

absl::Status SqliteDatabase::Execute(absl::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return absl::OkStatus();
  const std::string detail = absl::StrCat(message ? message : sqlite3_errmsg(db_), "; sql: ", sql);
  sqlite3_free(message);
  return SqliteError(rc, "execute", detail);
}

absl::Status SqliteDatabase::Run(absl::string_view sql) {
  absl::StatusOr<CachedStatement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  return (*stmt)->Run();
}

absl::StatusOr<CachedStatement> SqliteDatabase::Prepare(absl::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    absl::StatusOr<Statement> statement = Statement::Prepare(db_, sql);
    if (!statement.ok()) return statement.status();
    it = cache_
             .emplace(std::string(sql),
                      std::make_unique<CacheEntry>(CacheEntry{.statement = *std::move(statement)}))
             .first;
  }
  CacheEntry* entry = it->second.get();
  if (entry->in_use) {
    HERMES_LOG(spdlog::level::err, "cached statement requested while in use").Str("sql", sql);
    return errors::Error(absl::StatusCode::kInternal, "storage error");
  }
  entry->in_use = true;
  return CachedStatement(entry);
}

int64_t SqliteDatabase::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int64_t SqliteDatabase::Changes() const { return sqlite3_changes64(db_); }

bool SqliteDatabase::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

CachedStatement::~CachedStatement() {
  if (entry_ != nullptr) {
    entry_->statement.Reset();
    entry_->in_use = false;
  }
}

CachedStatement::CachedStatement(CachedStatement&& other) noexcept
    : entry_(std::exchange(other.entry_, nullptr)) {}

absl::Status CheckDatabaseFilePath(const std::string& path) {
  // "" opens a private temporary database and ":memory:" an in-memory one: neither is shared
  // between connections, so a store would silently lose data between them.
  if (path.empty() || path == ":memory:") {
    return errors::InvalidArgument("", "the database must be a file");
  }
  return absl::OkStatus();
}

absl::Status CreateParentDirectories(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) {
    HERMES_LOG(spdlog::level::err, "cannot create the database directory")
        .Str("path", parent.string())
        .Str("error", error.message());
    return errors::Error(absl::StatusCode::kUnavailable, "cannot create the database directory");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqlitePathFromUrl(absl::string_view url) {
  const auto invalid = [] {
    return errors::InvalidArgument("", "a database URL must read sqlite:///absolute/path.db");
  };
  if (!absl::StartsWith(url, kSqliteScheme)) return invalid();
  const absl::string_view encoded = url.substr(kSqliteScheme.size());
  // A host (sqlite://host/...) is not a local file; a query or fragment would be silently
  // ignored, which is worse than refusing it.
  if (!absl::StartsWith(encoded, "/") || absl::StrContains(encoded, "?") ||
      absl::StrContains(encoded, "#")) {
    return invalid();
  }
  std::string path;
  path.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      path.push_back(encoded[i]);
      continue;
    }
    const int high = i + 2 < encoded.size() ? HexValue(encoded[i + 1]) : -1;
    const int low = i + 2 < encoded.size() ? HexValue(encoded[i + 2]) : -1;
    if (high < 0 || low < 0 || (high == 0 && low == 0)) return invalid();
    path.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  if (path.size() < 2 || path.back() == '/') return invalid();  // "/" or a directory
  return path;
}

}  // namespace hermes::storage
