#include "services/user/user_schema.h"

namespace hermes::user {
namespace {

// Shipped migrations are never edited: a change of schema is a new entry.
//
// Times are Unix microseconds. users_by_created serves the unfiltered List's order,
// users_by_status_created the filtered one's; user_counts (v2) their totals. Events carry the
// user's state as plain columns, readable with the sqlite3 shell and free of any encoding to
// version. AUTOINCREMENT keeps the highest sequence ever issued in sqlite_sequence, so a sequence
// is never reissued, even after every event was pruned.
constexpr storage::Migration kMigrations[] = {
    {.version = 1, .sql = R"sql(
CREATE TABLE users (
  id           TEXT    NOT NULL PRIMARY KEY,
  email        TEXT    NOT NULL UNIQUE,
  display_name TEXT    NOT NULL,
  status       INTEGER NOT NULL CHECK (status IN (1, 2, 3)),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  etag         TEXT    NOT NULL
) STRICT;
CREATE INDEX users_by_created ON users (created_at, id);
CREATE INDEX users_by_status_created ON users (status, created_at, id);
CREATE TABLE user_events (
  sequence     INTEGER PRIMARY KEY AUTOINCREMENT,
  type         INTEGER NOT NULL CHECK (type IN (1, 2, 3)),
  event_time   INTEGER NOT NULL,
  user_id      TEXT    NOT NULL,
  email        TEXT    NOT NULL,
  display_name TEXT    NOT NULL,
  status       INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  etag         TEXT    NOT NULL
) STRICT;
)sql"},
    // ListUsers returns an exact total with every page. COUNT(*) walks a whole index (a
    // millisecond per call at 70k users, most of ListUsers' cost); these counts are kept by
    // triggers in the transaction of every write, so they are as durable and exact as the rows.
    {.version = 2, .sql = R"sql(
CREATE TABLE user_counts (
  status INTEGER NOT NULL PRIMARY KEY,
  n      INTEGER NOT NULL CHECK (n >= 0)
) STRICT;
INSERT INTO user_counts (status, n)
  SELECT s.status, (SELECT COUNT(*) FROM users WHERE users.status = s.status)
  FROM (SELECT 1 AS status UNION ALL SELECT 2 UNION ALL SELECT 3) AS s;
CREATE TRIGGER users_counted_on_insert AFTER INSERT ON users BEGIN
  UPDATE user_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER users_counted_on_delete AFTER DELETE ON users BEGIN
  UPDATE user_counts SET n = n - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER users_counted_on_status AFTER UPDATE OF status ON users
  WHEN OLD.status <> NEW.status BEGIN
  UPDATE user_counts SET n = n - 1 WHERE status = OLD.status;
  UPDATE user_counts SET n = n + 1 WHERE status = NEW.status;
END;
)sql"},
    // WatchUsers with a status_filter replays only the matching events. Through this index a
    // replay for INACTIVE or BANNED users over a long stretch of the log that matches nothing
    // reads nothing of it. It holds only the events of users who are not ACTIVE, the few: a
    // create (ACTIVE) does not write to it. An index of every event cost ~9 % of CreateUser's
    // throughput at 64 in flight; a filter on ACTIVE matches most events, and SQLite reads the
    // range of the log for it, skipping the others.
    {.version = 3, .sql = R"sql(
CREATE INDEX user_events_not_active ON user_events (status) WHERE status <> 1;
)sql"},
    // The same tables with `BETWEEN 1 AND 3` for v1's `IN (1, 2, 3)` checks, which allow the same
    // values (the columns are STRICT integers): SQLite evaluates an IN list by building a
    // temporary b-tree of its values, once in every INSERT or UPDATE, and the two checks cost a
    // quarter of a CreateUser's instructions (224k a call against 164k, callgrind). A CHECK cannot
    // be altered in place, so both tables are rebuilt as SQLite's documented procedure does
    // (https://sqlite.org/lang_altertable.html, "other kinds of table schema changes"): create
    // the new shape, copy, drop, rename, then the indexes and triggers that went with the old
    // table. The highest sequence ever issued (sqlite_sequence) is carried over, as the events
    // may all have been pruned. user_counts is not touched: the rows it counts are the same.
    {.version = 4, .sql = R"sql(
CREATE TABLE users_v4 (
  id           TEXT    NOT NULL PRIMARY KEY,
  email        TEXT    NOT NULL UNIQUE,
  display_name TEXT    NOT NULL,
  status       INTEGER NOT NULL CHECK (status BETWEEN 1 AND 3),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  etag         TEXT    NOT NULL
) STRICT;
INSERT INTO users_v4 (id, email, display_name, status, created_at, updated_at, etag)
  SELECT id, email, display_name, status, created_at, updated_at, etag FROM users;
DROP TABLE users;
ALTER TABLE users_v4 RENAME TO users;
CREATE INDEX users_by_created ON users (created_at, id);
CREATE INDEX users_by_status_created ON users (status, created_at, id);
CREATE TRIGGER users_counted_on_insert AFTER INSERT ON users BEGIN
  UPDATE user_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER users_counted_on_delete AFTER DELETE ON users BEGIN
  UPDATE user_counts SET n = n - 1 WHERE status = OLD.status;
END;
CREATE TRIGGER users_counted_on_status AFTER UPDATE OF status ON users
  WHEN OLD.status <> NEW.status BEGIN
  UPDATE user_counts SET n = n - 1 WHERE status = OLD.status;
  UPDATE user_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TABLE user_events_v4 (
  sequence     INTEGER PRIMARY KEY AUTOINCREMENT,
  type         INTEGER NOT NULL CHECK (type BETWEEN 1 AND 3),
  event_time   INTEGER NOT NULL,
  user_id      TEXT    NOT NULL,
  email        TEXT    NOT NULL,
  display_name TEXT    NOT NULL,
  status       INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  etag         TEXT    NOT NULL
) STRICT;
INSERT INTO user_events_v4 (sequence, type, event_time, user_id, email, display_name, status,
                            created_at, updated_at, etag)
  SELECT sequence, type, event_time, user_id, email, display_name, status, created_at,
         updated_at, etag
  FROM user_events;
DELETE FROM sqlite_sequence WHERE name = 'user_events_v4';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'user_events_v4', seq FROM sqlite_sequence WHERE name = 'user_events';
DROP TABLE user_events;
ALTER TABLE user_events_v4 RENAME TO user_events;
CREATE INDEX user_events_not_active ON user_events (status) WHERE status <> 1;
)sql"},
};

}  // namespace

std::span<const storage::Migration> UserStoreMigrations() { return kMigrations; }

}  // namespace hermes::user
