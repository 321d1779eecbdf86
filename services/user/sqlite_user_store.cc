#include "services/user/sqlite_user_store.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/storage/creation_time.h"
#include "libs/storage/event_log.h"
#include "libs/storage/record_ids.h"
#include "libs/storage/statement.h"
#include "libs/storage/store_file.h"
#include "libs/storage/transaction.h"
#include "libs/telemetry/log.h"
#include "services/user/user_schema.h"

namespace hermes::user {
namespace {

using storage::CachedStatement;
using storage::RunStatement;
using storage::SqliteDatabase;
using storage::Statement;
using storage::Transaction;

constexpr size_t kEtagBytes = 8;  // 13 characters
// The event log's own connections (see event_readers_): a stream starting on each of gRPC's two
// callback threads, or one of them and the delivery thread's replay, read at once.
constexpr int kEventReaders = 2;

// The seven user columns, in this order, wherever a user is read or written.
constexpr char kSelectUser[] =
    "SELECT id, email, display_name, status, created_at, updated_at, etag FROM users "
    "WHERE id = ?1";
constexpr char kInsertUser[] =
    "INSERT INTO users (id, email, display_name, status, created_at, updated_at, etag) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (email) DO NOTHING";
constexpr char kUpdateUser[] =
    "UPDATE users SET email = ?2, display_name = ?3, status = ?4, created_at = ?5, "
    "updated_at = ?6, etag = ?7 WHERE id = ?1";
constexpr char kDeleteUser[] = "DELETE FROM users WHERE id = ?1";
// One lookup at the end of users_by_created (storage::NewCreatedAt).
constexpr char kSelectNewestCreatedAt[] = "SELECT MAX(created_at) FROM users";
constexpr char kCountUsers[] = "SELECT SUM(n) FROM user_counts";
constexpr char kCountUsersWithStatus[] = "SELECT n FROM user_counts WHERE status = ?1";
constexpr char kListUsers[] =
    "SELECT id, email, display_name, status, created_at, updated_at, etag FROM users "
    "ORDER BY created_at, id LIMIT ?1 OFFSET ?2";
constexpr char kListUsersWithStatus[] =
    "SELECT id, email, display_name, status, created_at, updated_at, etag FROM users "
    "WHERE status = ?3 ORDER BY created_at, id LIMIT ?1 OFFSET ?2";
constexpr char kInsertEvent[] =
    "INSERT INTO user_events (type, event_time, user_id, email, display_name, status, "
    "created_at, updated_at, etag) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr char kEventsAfter[] =
    "SELECT type, event_time, user_id, email, display_name, status, created_at, updated_at, "
    "etag, sequence FROM user_events WHERE sequence > ?1 AND sequence <= ?2 "
    "ORDER BY sequence LIMIT ?3";
// Reads the range of the log, skipping the events of other statuses.
constexpr char kEventsAfterWithStatus[] =
    "SELECT type, event_time, user_id, email, display_name, status, created_at, updated_at, "
    "etag, sequence FROM user_events WHERE status = ?4 AND sequence > ?1 AND sequence <= ?2 "
    "ORDER BY sequence LIMIT ?3";
// A status other than ACTIVE: a seek in user_events_not_active (whose entries end with the
// sequence), not a scan. The literal "status <> 1" is what lets SQLite use the partial index.
constexpr char kEventsAfterWithStatusNotActive[] =
    "SELECT type, event_time, user_id, email, display_name, status, created_at, updated_at, "
    "etag, sequence FROM user_events WHERE status = ?4 AND status <> 1 AND sequence > ?1 AND "
    "sequence <= ?2 ORDER BY sequence LIMIT ?3";
static_assert(static_cast<int>(UserStatus::kActive) == 1);

// The query ReadEvents runs for a filter on `status` (none: every status).
const char* EventsSql(std::optional<UserStatus> status) {
  if (!status.has_value()) return kEventsAfter;
  return *status == UserStatus::kActive ? kEventsAfterWithStatus : kEventsAfterWithStatusNotActive;
}
constexpr char kEventTable[] = "user_events";

absl::Status Corrupt(absl::string_view what, int64_t value) {
  HERMES_LOG(spdlog::level::err, "unexpected value in the user store")
      .Str("what", what)
      .Int("value", value);
  return errors::Error(absl::StatusCode::kInternal, "storage is corrupted");
}

// Binds `user` to the seven parameters from `first` on, in kSelectUser's column order.
void BindUser(Statement& stmt, int first, const User& user) {
  stmt.BindText(first, user.id)
      .BindText(first + 1, user.email)
      .BindText(first + 2, user.display_name)
      .BindInt64(first + 3, static_cast<int64_t>(user.status))
      .BindInt64(first + 4, absl::ToUnixMicros(user.created_at))
      .BindInt64(first + 5, absl::ToUnixMicros(user.updated_at))
      .BindText(first + 6, user.etag);
}

// Reads the seven columns from `first` on, in kSelectUser's column order.
absl::StatusOr<User> ReadUser(const Statement& stmt, int first) {
  const int64_t status = stmt.ColumnInt64(first + 3);
  if (status < static_cast<int64_t>(UserStatus::kActive) ||
      status > static_cast<int64_t>(UserStatus::kBanned)) {
    return Corrupt("user status", status);
  }
  return User{.id = stmt.ColumnText(first),
              .email = stmt.ColumnText(first + 1),
              .display_name = stmt.ColumnText(first + 2),
              .status = static_cast<UserStatus>(status),
              .created_at = absl::FromUnixMicros(stmt.ColumnInt64(first + 4)),
              .updated_at = absl::FromUnixMicros(stmt.ColumnInt64(first + 5)),
              .etag = stmt.ColumnText(first + 6)};
}

absl::StatusOr<User> FindUser(SqliteDatabase& db, absl::string_view id) {
  absl::StatusOr<CachedStatement> stmt = db.Prepare(kSelectUser);
  if (!stmt.ok()) return stmt.status();
  (*stmt)->BindText(1, id);
  absl::StatusOr<bool> row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return errors::NotFound("id", "user not found");
  return ReadUser(**stmt, 0);
}

absl::StatusOr<int64_t> QueryInt(SqliteDatabase& db, absl::string_view sql,
                                 std::optional<UserStatus> status) {
  absl::StatusOr<CachedStatement> stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (status.has_value()) (*stmt)->BindInt64(1, static_cast<int64_t>(*status));
  absl::StatusOr<bool> row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  return *row ? (*stmt)->ColumnInt64(0) : 0;
}

// A fresh etag, never equal to `previous`.
absl::StatusOr<std::string> NewEtag(absl::string_view previous) {
  for (;;) {
    absl::StatusOr<std::string> etag = storage::NewRandomToken(kEtagBytes);
    if (!etag.ok() || *etag != previous) return etag;
  }
}

// The second half of every write: `written`'s event appended to the log, its sequence set. An
// error (the write's own, rolled back to its savepoint, or the append's) is passed on.
absl::StatusOr<UserEvent> AppendEvent(SqliteDatabase& db, absl::StatusOr<UserEvent> written) {
  if (!written.ok()) return written.status();
  absl::Status status = RunStatement(db, kInsertEvent, [&](Statement& stmt) {
    stmt.BindInt64(1, static_cast<int64_t>(written->type))
        .BindInt64(2, absl::ToUnixMicros(written->time));
    BindUser(stmt, 3, written->user);
  });
  if (!status.ok()) return status;
  written->sequence = db.LastInsertRowId();
  return written;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteUserStore>> SqliteUserStore::Open(
    const std::string& path, SqliteUserStoreOptions options) {
  absl::StatusOr<storage::StoreFile> file =
      storage::OpenStoreFile(path, UserStoreMigrations(), options.busy_timeout);
  if (!file.ok()) return file.status();
  return std::unique_ptr<SqliteUserStore>(
      new SqliteUserStore(*std::move(file), path, std::move(options)));
}

absl::StatusOr<std::unique_ptr<SqliteUserStore>> SqliteUserStore::OpenUrl(
    absl::string_view url, SqliteUserStoreOptions options) {
  absl::StatusOr<std::string> path = storage::SqlitePathFromUrl(url);
  if (!path.ok()) return path.status();
  return Open(*path, std::move(options));
}

SqliteUserStore::SqliteUserStore(storage::StoreFile file, std::string path,
                                 SqliteUserStoreOptions options)
    : lock_(std::move(file.lock)),
      options_(std::move(options)),
      writer_(std::move(file.writer)),
      readers_(storage::ReaderOpener(path, options_.busy_timeout), options_.max_readers),
      event_readers_(storage::ReaderOpener(std::move(path), options_.busy_timeout), kEventReaders),
      cache_(options_.cache_capacity),
      commits_(*writer_, write_mu_) {}

absl::Time SqliteUserStore::Now() const {
  const absl::Time now = options_.clock ? options_.clock() : absl::Now();
  return absl::FromUnixMicros(absl::ToUnixMicros(now));
}

void SqliteUserStore::SetEventListener(EventListener listener) {
  notifier_.SetListener(std::move(listener));
}

template <typename Change>
void SqliteUserStore::WriteThen(absl::string_view id, Abandoned abandoned, Change change,
                                EventDone done) {
  // The write to `id` is ended by the commit callback, or else by `done`: a write that fails
  // must not leave `id` bypassing the cache until a restart (a failed COMMIT may still have
  // reached the disk: the next Get reads the database). Both run on the commit thread, and
  // `ended` is read on this one only when the write was never queued.
  struct Progress {
    int64_t ticket = 0;  // taken by `committed`, delivered by `publish`
    bool ended = false;
  };
  auto progress = std::make_shared<Progress>();
  std::string key(id);
  cache_.BeginWrite(key);
  try {
    commits_.Submit(
        [abandoned = std::move(abandoned),
         change = std::move(change)](SqliteDatabase& db) -> absl::StatusOr<UserEvent> {
          if (abandoned && abandoned()) return storage::WriteAbandoned();
          return AppendEvent(db, change(db));
        },
        // The cache learns of the commit here, in commit order, before anyone is answered (it
        // never throws: a ticket taken and never delivered would hold up every later writer).
        // Tickets are taken in commit order, and only by commits, so none is ever skipped.
        [this, key, progress](UserEvent& committed) {
          cache_.EndWrite(key,
                          committed.type == UserEventType::kDeleted ? nullptr : &committed.user);
          progress->ended = true;
          progress->ticket = notifier_.TakeTicket();
        },
        [this, key, progress, done = std::move(done)](absl::StatusOr<UserEvent> event) {
          if (!progress->ended) {
            progress->ended = true;
            cache_.EndWrite(key, nullptr);
          }
          done(std::move(event));
        },
        // Every event of the batch is delivered before any of its writers is answered.
        [this, progress](absl::StatusOr<UserEvent> event) {
          return Delivered(progress->ticket, std::move(event));
        });
  } catch (...) {  // not queued (no memory): nothing will end the write but this
    if (!progress->ended) cache_.EndWrite(key, nullptr);
    throw;
  }
}

absl::StatusOr<UserEvent> SqliteUserStore::Delivered(int64_t ticket,
                                                     absl::StatusOr<UserEvent> event) {
  if (!event.ok()) return event;
  if (absl::Status status = notifier_.TryDeliver(ticket, *event); !status.ok()) return status;
  return event;
}

absl::StatusOr<User> SqliteUserStore::Create(const NewUser& new_user) {
  return storage::AwaitDone<absl::StatusOr<User>>(
      [&](UserDone done) { CreateThen(new_user, nullptr, std::move(done)); });
}

absl::StatusOr<User> SqliteUserStore::Update(const UserUpdate& update) {
  return storage::AwaitDone<absl::StatusOr<User>>(
      [&](UserDone done) { UpdateThen(update, nullptr, std::move(done)); });
}

absl::Status SqliteUserStore::Delete(absl::string_view id) {
  return storage::AwaitDone<absl::Status>(
      [&](StatusDone done) { DeleteThen(id, nullptr, std::move(done)); });
}

// A create writes no user the cache may hold (its id is new), so unlike WriteThen it has no
// cache entry to hold back; it fills the cache, takes its ticket and delivers its event on the
// commit thread, in commit order.
void SqliteUserStore::CreateThen(const NewUser& new_user, Abandoned abandoned, UserDone done) {
  auto ticket = std::make_shared<int64_t>(0);  // taken by `committed`, delivered by `publish`
  commits_.Submit(
      [this, new_user,
       abandoned = std::move(abandoned)](SqliteDatabase& db) -> absl::StatusOr<UserEvent> {
        if (abandoned && abandoned()) return storage::WriteAbandoned();
        return AppendEvent(db, InsertNewUser(db, new_user));
      },
      [this, ticket](UserEvent& committed) {
        cache_.Put(committed.user.id, committed.user);
        *ticket = notifier_.TakeTicket();  // last: it must be delivered once taken
      },
      [done = std::move(done)](absl::StatusOr<UserEvent> event) {
        if (!event.ok()) return done(event.status());
        done(std::move(event->user));
      },
      // Every event of the batch is delivered before any of its writers is answered.
      [this, ticket](absl::StatusOr<UserEvent> event) {
        return Delivered(*ticket, std::move(event));
      });
}

absl::StatusOr<UserEvent> SqliteUserStore::InsertNewUser(SqliteDatabase& db,
                                                         const NewUser& new_user) {
  const absl::Time committed = Now();  // the event's time, as every event's: the clock's
  absl::StatusOr<absl::Time> created_at = storage::NewCreatedAt(
      db, kSelectNewestCreatedAt, [](Statement&) {}, committed);
  if (!created_at.ok()) return created_at.status();
  absl::StatusOr<std::string> id = storage::NewRecordId(*created_at);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> etag = NewEtag("");
  if (!etag.ok()) return etag.status();
  User user{.id = *std::move(id),
            .email = new_user.email,
            .display_name = new_user.display_name,
            .status = UserStatus::kActive,
            .created_at = *created_at,
            .updated_at = *created_at,
            .etag = *std::move(etag)};
  // The UNIQUE constraint decides; DO NOTHING makes a taken email a row count of 0 instead
  // of an error to pick apart. A clash of ids (80 random bits within one millisecond) would
  // still fail, as a constraint error.
  absl::Status status =
      RunStatement(db, kInsertUser, [&](Statement& stmt) { BindUser(stmt, 1, user); });
  if (absl::IsAlreadyExists(status)) {
    return errors::Error(absl::StatusCode::kInternal, "could not allocate a user id");
  }
  if (!status.ok()) return status;
  if (db.Changes() == 0) return errors::AlreadyExists("email", "email already registered");
  return UserEvent{.type = UserEventType::kCreated, .user = std::move(user), .time = committed};
}

absl::StatusOr<User> SqliteUserStore::Get(absl::string_view id) {
  return cache_.GetOrLoad(id, [&]() -> absl::StatusOr<User> {
    absl::StatusOr<storage::ConnectionPool::Lease> db = readers_.Acquire();
    if (!db.ok()) return db.status();
    return FindUser(**db, id);
  });
}

std::optional<absl::StatusOr<User>> SqliteUserStore::TryGet(absl::string_view id) {
  bool would_wait = false;
  absl::StatusOr<User> user = cache_.GetOrLoad(id, [&]() -> absl::StatusOr<User> {
    std::optional<storage::ConnectionPool::Lease> db = readers_.TryAcquire();
    if (!db.has_value()) {
      would_wait = true;
      return absl::UnavailableError("no idle reader");  // an error: nothing is cached
    }
    return FindUser(**db, id);
  });
  if (would_wait) return std::nullopt;
  return user;
}

absl::StatusOr<UserPage> SqliteUserStore::List(const ListUsersQuery& query) {
  if (query.offset < 0) return errors::InvalidArgument("", "offset must not be negative");
  if (query.limit < 1) return errors::InvalidArgument("", "limit must be at least 1");
  absl::StatusOr<storage::ConnectionPool::Lease> db = readers_.Acquire();
  if (!db.ok()) return db.status();
  // One snapshot for the count and the page, so that `total` agrees with what is listed.
  absl::StatusOr<Transaction> txn = Transaction::Begin(**db, Transaction::Mode::kDeferred);
  if (!txn.ok()) return txn.status();

  UserPage page;
  absl::StatusOr<int64_t> total =
      QueryInt(**db, query.status ? kCountUsersWithStatus : kCountUsers, query.status);
  if (!total.ok()) return total.status();
  page.total = *total;
  if (query.offset >= page.total) return page;

  absl::StatusOr<CachedStatement> stmt =
      (*db)->Prepare(query.status ? kListUsersWithStatus : kListUsers);
  if (!stmt.ok()) return stmt.status();
  (*stmt)->BindInt64(1, query.limit).BindInt64(2, query.offset);
  if (query.status) (*stmt)->BindInt64(3, static_cast<int64_t>(*query.status));
  page.users.reserve(static_cast<size_t>(std::min<int64_t>(query.limit, page.total)));
  for (;;) {
    absl::StatusOr<bool> row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<User> user = ReadUser(**stmt, 0);
    if (!user.ok()) return user.status();
    page.users.push_back(*std::move(user));
  }
  return page;
}

void SqliteUserStore::UpdateThen(const UserUpdate& update, Abandoned abandoned, UserDone done) {
  WriteThen(
      update.id, std::move(abandoned),
      [this, update](SqliteDatabase& db) -> absl::StatusOr<UserEvent> {
        absl::StatusOr<User> user = FindUser(db, update.id);
        if (!user.ok()) return user.status();
        if (!update.expected_etag.empty() && update.expected_etag != user->etag) {
          return errors::Aborted("etag", "the user was changed since this etag was read");
        }
        if (update.display_name.has_value()) user->display_name = *update.display_name;
        if (update.status.has_value()) user->status = *update.status;
        const absl::Time now = Now();
        user->updated_at = std::max(now, user->updated_at);
        absl::StatusOr<std::string> etag = NewEtag(user->etag);
        if (!etag.ok()) return etag.status();
        user->etag = *std::move(etag);
        absl::Status status =
            RunStatement(db, kUpdateUser, [&](Statement& stmt) { BindUser(stmt, 1, *user); });
        if (!status.ok()) return status;
        return UserEvent{.type = UserEventType::kUpdated, .user = *std::move(user), .time = now};
      },
      [done = std::move(done)](absl::StatusOr<UserEvent> event) {
        if (!event.ok()) return done(event.status());
        done(std::move(event->user));
      });
}

void SqliteUserStore::DeleteThen(absl::string_view id, Abandoned abandoned, StatusDone done) {
  WriteThen(
      id, std::move(abandoned),
      [this, id = std::string(id)](SqliteDatabase& db) -> absl::StatusOr<UserEvent> {
        absl::StatusOr<User> user = FindUser(db, id);
        if (!user.ok()) return user.status();
        absl::Status status =
            RunStatement(db, kDeleteUser, [&](Statement& stmt) { stmt.BindText(1, id); });
        if (!status.ok()) return status;
        return UserEvent{.type = UserEventType::kDeleted, .user = *std::move(user), .time = Now()};
      },
      [done = std::move(done)](absl::StatusOr<UserEvent> event) { done(event.status()); });
}

absl::StatusOr<UserStore::EventPage> SqliteUserStore::ReadEvents(const EventQuery& query) {
  absl::StatusOr<storage::ConnectionPool::Lease> db = event_readers_.Acquire();
  if (!db.ok()) return db.status();
  // One snapshot for the events and the oldest retained: a prune between the two reads would
  // otherwise look like events missing from the ones read.
  absl::StatusOr<Transaction> snapshot = Transaction::Begin(**db, Transaction::Mode::kDeferred);
  if (!snapshot.ok()) return snapshot.status();
  EventPage page;
  if (query.limit > 0) {
    absl::StatusOr<CachedStatement> stmt = (*db)->Prepare(EventsSql(query.status));
    if (!stmt.ok()) return stmt.status();
    (*stmt)
        ->BindInt64(1, query.after_sequence)
        .BindInt64(2, query.through_sequence)
        .BindInt64(3, query.limit);
    if (query.status.has_value()) (*stmt)->BindInt64(4, static_cast<int64_t>(*query.status));
    page.events.reserve(static_cast<size_t>(std::min(query.limit, 1024)));
    for (;;) {
      absl::StatusOr<bool> row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const int64_t type = (*stmt)->ColumnInt64(0);
      if (type < static_cast<int64_t>(UserEventType::kCreated) ||
          type > static_cast<int64_t>(UserEventType::kDeleted)) {
        return Corrupt("event type", type);
      }
      absl::StatusOr<User> user = ReadUser(**stmt, 2);
      if (!user.ok()) return user.status();
      page.events.push_back(UserEvent{.sequence = (*stmt)->ColumnInt64(9),
                                      .type = static_cast<UserEventType>(type),
                                      .user = *std::move(user),
                                      .time = absl::FromUnixMicros((*stmt)->ColumnInt64(1))});
    }
  }
  absl::StatusOr<storage::EventLogRange> range = storage::RetainedEvents(**db, kEventTable);
  if (!range.ok()) return range.status();
  page.oldest_retained = range->oldest;
  // Both statements are reset by now (they went out of scope): a statement still stepping would
  // keep this snapshot past the COMMIT, for the connection's next user.
  if (absl::Status status = snapshot->Commit(); !status.ok()) return status;
  return page;
}

absl::string_view SqliteUserStore::EventsSqlForTesting(std::optional<UserStatus> status) {
  return EventsSql(status);
}

absl::StatusOr<UserStore::EventRange> SqliteUserStore::RetainedEvents() {
  absl::StatusOr<storage::ConnectionPool::Lease> db = event_readers_.Acquire();
  if (!db.ok()) return db.status();
  absl::StatusOr<storage::EventLogRange> range = storage::RetainedEvents(**db, kEventTable);
  if (!range.ok()) return range.status();
  return EventRange{.oldest = range->oldest, .newest = range->newest};
}

// PruneEventLog takes write_mu_ around each use of the writer, which the analysis cannot follow
// through the reference: `*writer_` is only passed on here.
absl::StatusOr<storage::EventsPruned> SqliteUserStore::PruneEvents(int64_t keep)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return storage::PruneEventLog(
      {.table = kEventTable, .keep = keep, .batch = options_.prune_batch_size}, readers_, *writer_,
      write_mu_);
}

}  // namespace hermes::user
