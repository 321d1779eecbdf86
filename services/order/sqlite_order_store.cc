#include "services/order/sqlite_order_store.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/storage/creation_time.h"
#include "libs/storage/event_log.h"
#include "libs/storage/record_ids.h"
#include "libs/storage/statement.h"
#include "libs/storage/store_file.h"
#include "libs/storage/transaction.h"
#include "libs/storage/write_then.h"
#include "libs/telemetry/log.h"
#include "services/order/order_schema.h"

namespace hermes::order {
namespace {

using storage::CachedStatement;
using storage::RunStatement;
using storage::SqliteDatabase;
using storage::Statement;
using storage::Transaction;

// The seven order columns, in this order, wherever an order is read.
constexpr char kSelectOrder[] =
    "SELECT id, user_id, status, total_cents, created_at, updated_at, cancel_reason FROM orders "
    "WHERE id = ?1";
constexpr char kSelectItems[] =
    "SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = ?1 "
    "ORDER BY position";
// The user's newest order: one lookup in orders_by_user_created (storage::NewCreatedAt).
constexpr char kSelectNewestCreatedAt[] = "SELECT MAX(created_at) FROM orders WHERE user_id = ?1";
constexpr char kFindRequest[] = "SELECT id FROM orders WHERE user_id = ?1 AND request_id = ?2";
constexpr char kInsertOrder[] =
    "INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at, "
    "cancel_reason, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7)";
constexpr char kInsertItem[] =
    "INSERT INTO order_items (order_id, position, product_id, quantity, price_cents) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr char kUpdateStatus[] =
    "UPDATE orders SET status = ?2, updated_at = ?3, cancel_reason = ?4 WHERE id = ?1";
constexpr char kEventTable[] = "order_events";
constexpr char kInsertEvent[] =
    "INSERT INTO order_events (order_id, status, updated_at) VALUES (?1, ?2, ?3)";
// Count: ?1 user (, ?2 status). Page: ?1 user, ?2 limit, ?3 offset (, ?4 status); the items
// queries select the items of exactly the same page.
constexpr char kCount[] = "SELECT SUM(n) FROM order_counts WHERE user_id = ?1";
constexpr char kCountWithStatus[] = "SELECT n FROM order_counts WHERE user_id = ?1 AND status = ?2";
constexpr char kListOrders[] =
    "SELECT id, user_id, status, total_cents, created_at, updated_at, cancel_reason FROM orders "
    "WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3";
constexpr char kListOrdersWithStatus[] =
    "SELECT id, user_id, status, total_cents, created_at, updated_at, cancel_reason FROM orders "
    "WHERE user_id = ?1 AND status = ?4 ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3";
constexpr char kListItems[] =
    "SELECT order_id, product_id, quantity, price_cents FROM order_items WHERE order_id IN "
    "(SELECT id FROM orders WHERE user_id = ?1 ORDER BY created_at DESC, id DESC "
    "LIMIT ?2 OFFSET ?3) ORDER BY order_id, position";
constexpr char kListItemsWithStatus[] =
    "SELECT order_id, product_id, quantity, price_cents FROM order_items WHERE order_id IN "
    "(SELECT id FROM orders WHERE user_id = ?1 AND status = ?4 ORDER BY created_at DESC, "
    "id DESC LIMIT ?2 OFFSET ?3) ORDER BY order_id, position";

absl::string_view StatusName(OrderStatus status) {
  constexpr absl::string_view kNames[] = {"UNSPECIFIED", "PENDING",   "CONFIRMED",
                                          "SHIPPED",     "DELIVERED", "CANCELLED"};
  const auto i = static_cast<size_t>(status);
  return i < std::size(kNames) ? kNames[i] : kNames[0];
}

absl::Status Corrupt(absl::string_view what, int64_t value) {
  HERMES_LOG(spdlog::level::err, "unexpected value in the order store")
      .Str("what", what)
      .Int("value", value);
  return errors::Error(absl::StatusCode::kInternal, "storage is corrupted");
}

// Reads the seven columns from `first` on, in kSelectOrder's column order (items not included).
absl::StatusOr<Order> ReadOrder(const Statement& stmt, int first) {
  const int64_t status = stmt.ColumnInt64(first + 2);
  if (status < static_cast<int64_t>(OrderStatus::kPending) ||
      status > static_cast<int64_t>(OrderStatus::kCancelled)) {
    return Corrupt("order status", status);
  }
  return Order{.id = stmt.ColumnText(first),
               .user_id = stmt.ColumnText(first + 1),
               .status = static_cast<OrderStatus>(status),
               .total_cents = stmt.ColumnInt64(first + 3),
               .created_at = absl::FromUnixMicros(stmt.ColumnInt64(first + 4)),
               .updated_at = absl::FromUnixMicros(stmt.ColumnInt64(first + 5)),
               .cancel_reason = stmt.ColumnText(first + 6)};
}

// Reads an item from the three columns from `first` on.
OrderItem ReadItem(const Statement& stmt, int first) {
  return OrderItem{.product_id = stmt.ColumnText(first),
                   .quantity = static_cast<int32_t>(stmt.ColumnInt64(first + 1)),
                   .price_cents = stmt.ColumnInt64(first + 2)};
}

// Steps `stmt` to its end, calling `on_row(stmt)` (returning absl::Status) for each row.
template <typename OnRow>
absl::Status ForEachRow(Statement& stmt, OnRow on_row) {
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    if (absl::Status status = on_row(stmt); !status.ok()) return status;
  }
}

// The order `id` with its items; NOT_FOUND naming `id_field` when there is none.
absl::StatusOr<Order> FindOrder(SqliteDatabase& db, absl::string_view id,
                                absl::string_view id_field) {
  absl::StatusOr<Order> order;
  {
    absl::StatusOr<CachedStatement> stmt = db.Prepare(kSelectOrder);
    if (!stmt.ok()) return stmt.status();
    (*stmt)->BindText(1, id);
    absl::StatusOr<bool> row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) return errors::NotFound(id_field, "order not found");
    order = ReadOrder(**stmt, 0);
    if (!order.ok()) return order.status();
  }
  absl::StatusOr<CachedStatement> items = db.Prepare(kSelectItems);
  if (!items.ok()) return items.status();
  (*items)->BindText(1, id);
  absl::Status status = ForEachRow(**items, [&](const Statement& row) {
    order->items.push_back(ReadItem(row, 0));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return order;
}

// The id of `user_id`'s order created with `request_id`, or nullopt.
absl::StatusOr<std::optional<std::string>> FindRequest(SqliteDatabase& db,
                                                       absl::string_view user_id,
                                                       absl::string_view request_id) {
  absl::StatusOr<CachedStatement> stmt = db.Prepare(kFindRequest);
  if (!stmt.ok()) return stmt.status();
  (*stmt)->BindText(1, user_id).BindText(2, request_id);
  absl::StatusOr<bool> row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>((*stmt)->ColumnText(0));
}

// Binds the page parameters of kList* (and kCount* when `count`).
void BindPage(Statement& stmt, const ListOrdersQuery& query, bool count) {
  stmt.BindText(1, query.user_id);
  if (count) {
    if (query.status) stmt.BindInt64(2, static_cast<int64_t>(*query.status));
    return;
  }
  stmt.BindInt64(2, query.limit).BindInt64(3, query.offset);
  if (query.status) stmt.BindInt64(4, static_cast<int64_t>(*query.status));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteOrderStore>> SqliteOrderStore::Open(
    const std::string& path, SqliteOrderStoreOptions options) {
  absl::StatusOr<storage::StoreFile> file =
      storage::OpenStoreFile(path, OrderStoreMigrations(), options.busy_timeout);
  if (!file.ok()) return file.status();
  return std::unique_ptr<SqliteOrderStore>(
      new SqliteOrderStore(*std::move(file), path, std::move(options)));
}

absl::StatusOr<std::unique_ptr<SqliteOrderStore>> SqliteOrderStore::OpenUrl(
    absl::string_view url, SqliteOrderStoreOptions options) {
  absl::StatusOr<std::string> path = storage::SqlitePathFromUrl(url);
  if (!path.ok()) return path.status();
  return Open(*path, std::move(options));
}

SqliteOrderStore::SqliteOrderStore(storage::StoreFile file, std::string path,
                                   SqliteOrderStoreOptions options)
    : lock_(std::move(file.lock)),
      options_(std::move(options)),
      writer_(std::move(file.writer)),
      readers_(storage::ReaderOpener(std::move(path), options_.busy_timeout), options_.max_readers),
      commits_(*writer_, write_mu_) {}

absl::Time SqliteOrderStore::Now() const {
  const absl::Time now = options_.clock ? options_.clock() : absl::Now();
  return absl::FromUnixMicros(absl::ToUnixMicros(now));
}

void SqliteOrderStore::SetEventListener(EventListener listener) {
  notifier_.SetListener(std::move(listener));
}

template <typename Apply>
void SqliteOrderStore::WriteThen(Apply apply, Abandoned abandoned, OrderDone done) {
  auto ticket = std::make_shared<int64_t>(0);  // taken by `committed`, delivered by `publish`
  commits_.Submit(
      [apply = std::move(apply),
       abandoned = std::move(abandoned)](SqliteDatabase& db) -> absl::StatusOr<Written> {
        if (abandoned && abandoned()) return storage::WriteAbandoned();
        absl::StatusOr<WriteOutcome> outcome = apply(db);
        if (!outcome.ok()) return outcome.status();  // rolled back to its savepoint
        if (!outcome->changed) return Written{.outcome = *std::move(outcome)};
        const Order& order = outcome->order;
        absl::Status status = RunStatement(db, kInsertEvent, [&](Statement& stmt) {
          stmt.BindText(1, order.id)
              .BindInt64(2, static_cast<int64_t>(order.status))
              .BindInt64(3, absl::ToUnixMicros(order.updated_at));
        });
        if (!status.ok()) return status;
        OrderEvent event{.sequence = db.LastInsertRowId(),
                         .order_id = order.id,
                         .status = order.status,
                         .updated_at = order.updated_at};
        return Written{.outcome = *std::move(outcome), .event = std::move(event)};
      },
      // Tickets are taken in commit order, and only by commits, so none is ever skipped.
      [this, ticket](Written& written) {
        if (written.outcome.changed) *ticket = notifier_.TakeTicket();
      },
      [done = std::move(done)](absl::StatusOr<Written> written) {
        if (!written.ok()) return done(written.status());
        done(std::move(written->outcome.order));
      },
      // Every event of the batch is delivered before any of its writers is answered.
      [this, ticket](absl::StatusOr<Written> written) -> absl::StatusOr<Written> {
        if (!written.ok() || !written->outcome.changed) return written;
        if (absl::Status status = notifier_.TryDeliver(*ticket, written->event); !status.ok()) {
          return status;
        }
        return written;
      });
}

absl::StatusOr<Order> SqliteOrderStore::Create(const NewOrder& new_order) {
  return storage::AwaitDone<absl::StatusOr<Order>>(
      [&](OrderDone done) { CreateThen(new_order, nullptr, std::move(done)); });
}

absl::StatusOr<Order> SqliteOrderStore::Transition(absl::string_view id, OrderStatus to,
                                                   absl::string_view reason,
                                                   absl::string_view id_field,
                                                   absl::string_view field_for_status) {
  return storage::AwaitDone<absl::StatusOr<Order>>([&](OrderDone done) {
    TransitionThen(id, to, reason, id_field, field_for_status, nullptr, std::move(done));
  });
}

void SqliteOrderStore::CreateThen(const NewOrder& new_order, Abandoned abandoned, OrderDone done) {
  auto apply = [this, new_order](SqliteDatabase& db) -> absl::StatusOr<WriteOutcome> {
    // Inside the write transaction (SQLite's lock, taken at BEGIN IMMEDIATE; writes of one
    // group commit run one after another), so no other create can slip in between this check
    // and the insert.
    if (!new_order.request_id.empty()) {
      absl::StatusOr<std::optional<std::string>> first =
          FindRequest(db, new_order.user_id, new_order.request_id);
      if (!first.ok()) return first.status();
      if (first->has_value()) {
        absl::StatusOr<Order> order = FindOrder(db, **first, "id");
        if (!order.ok()) return order.status();
        return WriteOutcome{.order = *std::move(order), .changed = false};
      }
    }
    absl::StatusOr<absl::Time> created_at = storage::NewCreatedAt(
        db, kSelectNewestCreatedAt,
        [&](Statement& newest) { newest.BindText(1, new_order.user_id); }, Now());
    if (!created_at.ok()) return created_at.status();
    absl::StatusOr<std::string> id = storage::NewRecordId(*created_at);
    if (!id.ok()) return id.status();
    Order order{.id = *std::move(id),
                .user_id = new_order.user_id,
                .items = new_order.items,
                .status = OrderStatus::kPending,
                .total_cents = new_order.total_cents,
                .created_at = *created_at,
                .updated_at = *created_at};
    absl::Status status = RunStatement(db, kInsertOrder, [&](Statement& stmt) {
      stmt.BindText(1, order.id)
          .BindText(2, order.user_id)
          .BindInt64(3, static_cast<int64_t>(order.status))
          .BindInt64(4, order.total_cents)
          .BindInt64(5, absl::ToUnixMicros(order.created_at))
          .BindInt64(6, absl::ToUnixMicros(order.updated_at));
      if (new_order.request_id.empty()) {
        stmt.BindNull(7);
      } else {
        stmt.BindText(7, new_order.request_id);
      }
    });
    // The request_id was checked above, so a clash can only be of ids (80 random bits within
    // one millisecond).
    if (absl::IsAlreadyExists(status)) {
      return errors::Error(absl::StatusCode::kInternal, "could not allocate an order id");
    }
    if (!status.ok()) return status;
    for (size_t i = 0; i < order.items.size(); ++i) {
      const OrderItem& item = order.items[i];
      status = RunStatement(db, kInsertItem, [&](Statement& stmt) {
        stmt.BindText(1, order.id)
            .BindInt64(2, static_cast<int64_t>(i))
            .BindText(3, item.product_id)
            .BindInt64(4, item.quantity)
            .BindInt64(5, item.price_cents);
      });
      if (!status.ok()) return status;
    }
    return WriteOutcome{.order = std::move(order), .changed = true};
  };
  WriteThen(std::move(apply), std::move(abandoned), std::move(done));
}

absl::StatusOr<Order> SqliteOrderStore::Get(absl::string_view id) {
  absl::StatusOr<storage::ConnectionPool::Lease> db = readers_.Acquire();
  if (!db.ok()) return db.status();
  return FindOrder(**db, id, "id");
}

std::optional<absl::StatusOr<Order>> SqliteOrderStore::TryGet(absl::string_view id) {
  std::optional<storage::ConnectionPool::Lease> db = readers_.TryAcquire();
  if (!db.has_value()) return std::nullopt;
  return FindOrder(**db, id, "id");
}

absl::StatusOr<std::optional<Order>> SqliteOrderStore::FindByRequestId(
    absl::string_view user_id, absl::string_view request_id) {
  absl::StatusOr<storage::ConnectionPool::Lease> db = readers_.Acquire();
  if (!db.ok()) return db.status();
  absl::StatusOr<std::optional<std::string>> id = FindRequest(**db, user_id, request_id);
  if (!id.ok()) return id.status();
  if (!id->has_value()) return std::optional<Order>();
  absl::StatusOr<Order> order = FindOrder(**db, **id, "id");
  if (!order.ok()) return order.status();
  return std::optional<Order>(*std::move(order));
}

absl::StatusOr<OrderPage> SqliteOrderStore::List(const ListOrdersQuery& query) {
  if (query.user_id.empty()) return errors::InvalidArgument("user_id", "user_id is required");
  if (query.offset < 0) return errors::InvalidArgument("", "offset must not be negative");
  if (query.limit < 1) return errors::InvalidArgument("", "limit must be at least 1");
  absl::StatusOr<storage::ConnectionPool::Lease> db = readers_.Acquire();
  if (!db.ok()) return db.status();
  // One snapshot for the count, the page and its items, so that they agree.
  absl::StatusOr<Transaction> txn = Transaction::Begin(**db, Transaction::Mode::kDeferred);
  if (!txn.ok()) return txn.status();

  OrderPage page;
  {
    absl::StatusOr<CachedStatement> count =
        (*db)->Prepare(query.status ? kCountWithStatus : kCount);
    if (!count.ok()) return count.status();
    BindPage(**count, query, /*count=*/true);
    absl::StatusOr<bool> row = (*count)->Step();
    if (!row.ok()) return row.status();
    page.total = *row ? (*count)->ColumnInt64(0) : 0;
  }
  if (query.offset >= page.total) return page;

  absl::flat_hash_map<std::string, size_t> index;  // order id -> position in the page
  {
    absl::StatusOr<CachedStatement> stmt =
        (*db)->Prepare(query.status ? kListOrdersWithStatus : kListOrders);
    if (!stmt.ok()) return stmt.status();
    BindPage(**stmt, query, /*count=*/false);
    page.orders.reserve(static_cast<size_t>(std::min<int64_t>(query.limit, page.total)));
    absl::Status status = ForEachRow(**stmt, [&](const Statement& row) {
      absl::StatusOr<Order> order = ReadOrder(row, 0);
      if (!order.ok()) return order.status();
      index.emplace(order->id, page.orders.size());
      page.orders.push_back(*std::move(order));
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
  }
  // Every item of the page in one query, rather than one query per order.
  absl::StatusOr<CachedStatement> items =
      (*db)->Prepare(query.status ? kListItemsWithStatus : kListItems);
  if (!items.ok()) return items.status();
  BindPage(**items, query, /*count=*/false);
  absl::Status status = ForEachRow(**items, [&](const Statement& row) {
    auto it = index.find(row.ColumnText(0));
    if (it != index.end()) page.orders[it->second].items.push_back(ReadItem(row, 1));
    return absl::OkStatus();  // (an item outside the page cannot happen within one snapshot)
  });
  if (!status.ok()) return status;
  return page;
}

void SqliteOrderStore::TransitionThen(absl::string_view id, OrderStatus to,
                                      absl::string_view reason, absl::string_view id_field,
                                      absl::string_view field_for_status, Abandoned abandoned,
                                      OrderDone done) {
  auto apply = [this, id = std::string(id), to, reason = std::string(reason),
                id_field = std::string(id_field), field_for_status = std::string(field_for_status)](
                   SqliteDatabase& db) -> absl::StatusOr<WriteOutcome> {
    absl::StatusOr<Order> order = FindOrder(db, id, id_field);
    if (!order.ok()) return order.status();
    if (!IsAllowedTransition(order->status, to)) {
      return errors::FailedPrecondition(
          field_for_status, absl::StrCat("an order cannot go from ", StatusName(order->status),
                                         " to ", StatusName(to)));
    }
    order->status = to;
    order->updated_at = std::max(Now(), order->updated_at);
    if (to == OrderStatus::kCancelled) order->cancel_reason = reason;
    absl::Status status = RunStatement(db, kUpdateStatus, [&](Statement& stmt) {
      stmt.BindText(1, order->id)
          .BindInt64(2, static_cast<int64_t>(order->status))
          .BindInt64(3, absl::ToUnixMicros(order->updated_at))
          .BindText(4, order->cancel_reason);
    });
    if (!status.ok()) return status;
    return WriteOutcome{.order = *std::move(order), .changed = true};
  };
  WriteThen(std::move(apply), std::move(abandoned), std::move(done));
}

// PruneEventLog takes write_mu_ around each use of the writer, which the analysis cannot follow
// through the reference: `*writer_` is only passed on here.
absl::StatusOr<storage::EventsPruned> SqliteOrderStore::PruneEvents(int64_t keep)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return storage::PruneEventLog(
      {.table = kEventTable, .keep = keep, .batch = options_.prune_batch_size}, readers_, *writer_,
      write_mu_);
}

}  // namespace hermes::order
