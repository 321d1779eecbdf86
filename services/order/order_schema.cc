#include "services/order/order_schema.h"

namespace hermes::order {
namespace {

// Shipped migrations are never edited: a change of schema is a new entry.
//
// Times are Unix microseconds. request_id is NULL for non-idempotent creates, so the partial
// UNIQUE index only holds real keys, per user. orders_by_user_created serves the unfiltered List's
// order, orders_by_user_status_created the filtered one's; order_counts (v2) their totals. Items
// keep the request's order through `position`. AUTOINCREMENT keeps the highest sequence ever
// issued, so a sequence is never reissued.
constexpr storage::Migration kMigrations[] = {
    {.version = 1, .sql = R"sql(
CREATE TABLE orders (
  id            TEXT    NOT NULL PRIMARY KEY,
  user_id       TEXT    NOT NULL,
  status        INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
  total_cents   INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  cancel_reason TEXT    NOT NULL DEFAULT '',
  request_id    TEXT
) STRICT;
CREATE UNIQUE INDEX orders_by_user_request ON orders (user_id, request_id)
  WHERE request_id IS NOT NULL;
CREATE INDEX orders_by_user_created ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_by_user_status_created ON orders (user_id, status, created_at DESC, id DESC);
CREATE TABLE order_items (
  order_id    TEXT    NOT NULL REFERENCES orders (id),
  position    INTEGER NOT NULL,
  product_id  TEXT    NOT NULL,
  quantity    INTEGER NOT NULL,
  price_cents INTEGER NOT NULL,
  PRIMARY KEY (order_id, position)
) STRICT, WITHOUT ROWID;
CREATE TABLE order_events (
  sequence   INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id   TEXT    NOT NULL REFERENCES orders (id),
  status     INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
  updated_at INTEGER NOT NULL
) STRICT;
)sql"},
    // ListOrders' total, per user and status, kept by triggers in the transaction of every
    // write, so it is as durable and exact as the rows: a COUNT(*) read every index entry of
    // the user's orders on every page, a cost that grew with the user's orders. Orders are
    // never deleted.
    {.version = 2, .sql = R"sql(
CREATE TABLE order_counts (
  user_id TEXT    NOT NULL,
  status  INTEGER NOT NULL,
  n       INTEGER NOT NULL CHECK (n >= 0),
  PRIMARY KEY (user_id, status)
) STRICT, WITHOUT ROWID;
INSERT INTO order_counts (user_id, status, n)
  SELECT user_id, status, COUNT(*) FROM orders GROUP BY user_id, status;
CREATE TRIGGER orders_counted_on_insert AFTER INSERT ON orders BEGIN
  INSERT INTO order_counts (user_id, status, n) VALUES (NEW.user_id, NEW.status, 1)
    ON CONFLICT (user_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER orders_counted_on_status AFTER UPDATE OF status ON orders
  WHEN OLD.status <> NEW.status BEGIN
  UPDATE order_counts SET n = n - 1 WHERE user_id = OLD.user_id AND status = OLD.status;
  INSERT INTO order_counts (user_id, status, n) VALUES (NEW.user_id, NEW.status, 1)
    ON CONFLICT (user_id, status) DO UPDATE SET n = n + 1;
END;
)sql"},
};

}  // namespace

std::span<const storage::Migration> OrderStoreMigrations() { return kMigrations; }

}  // namespace hermes::order
