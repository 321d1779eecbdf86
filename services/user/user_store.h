// UserStore: where users and their event log live. Every write commits the change and its
// one event in the same transaction, durably, before it returns: an acknowledged write
// survives a crash, and the event log is the only source streams read from.
//
// Implementations: SqliteUserStore (embedded, one process, the default) and, later,
// PostgresUserStore (several replicas). Errors are absl::Status built with libs/errors, so
// the field they concern (API.md's AppError.field) reaches the client:
//   NOT_FOUND "id", ALREADY_EXISTS "email", ABORTED "etag"; anything else the store cannot
//   do is UNAVAILABLE (busy, I/O) or INTERNAL, with a message free of SQL and paths.
// All methods are safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/storage/events_pruned.h"
#include "libs/storage/write_then.h"
#include "services/user/user.h"

namespace hermes::user {

class UserStore {
 public:
  virtual ~UserStore() = default;

  // Called after every commit with the event it wrote, in commit order, outside any
  // transaction and never concurrently with itself. Set once, before the first write.
  using EventListener = std::function<void(const UserEvent&)>;
  virtual void SetEventListener(EventListener listener) = 0;

  virtual absl::StatusOr<User> Create(const NewUser& user) = 0;
  virtual absl::StatusOr<User> Update(const UserUpdate& update) = 0;
  virtual absl::Status Delete(absl::string_view id) = 0;

  // Create, Update and Delete with their outcome handed to `done` instead of returned.
  // SqliteUserStore queues the write and returns at once; `done` runs on its commit thread once
  // the write is durable (or failed), so it must not wait for another write of this store.
  // `abandoned` (may be null) is asked right before the write: true, and nothing is written and
  // `done` gets storage::WriteAbandoned() (a caller that has gone is not committed for). The
  // defaults run the write on the caller's thread, for a store with no commit thread: the user
  // service calls these on a completion queue's thread, which such a store would hold for the
  // write.
  using UserDone = std::function<void(absl::StatusOr<User>)>;
  using StatusDone = std::function<void(absl::Status)>;
  using Abandoned = storage::Abandoned;
  virtual void CreateThen(const NewUser& user, Abandoned abandoned, UserDone done) {
    done(abandoned && abandoned() ? storage::WriteAbandoned() : Create(user));
  }
  virtual void UpdateThen(const UserUpdate& update, Abandoned abandoned, UserDone done) {
    done(abandoned && abandoned() ? storage::WriteAbandoned() : Update(update));
  }
  virtual void DeleteThen(absl::string_view id, Abandoned abandoned, StatusDone done) {
    done(abandoned && abandoned() ? storage::WriteAbandoned() : Delete(id));
  }

  virtual absl::StatusOr<User> Get(absl::string_view id) = 0;
  // Get without waiting for a connection: std::nullopt when the read would have to wait for one
  // (or open one). The default is Get, for a store that has none to wait for.
  virtual std::optional<absl::StatusOr<User>> TryGet(absl::string_view id) { return Get(id); }
  virtual absl::StatusOr<UserPage> List(const ListUsersQuery& query) = 0;

  // Up to `limit` retained events with after_sequence < sequence <= through_sequence, oldest
  // first; with `status`, only the events whose user has that status (for a status other than
  // ACTIVE the others are skipped in an index, not read).
  struct EventQuery {
    int64_t after_sequence = 0;
    int64_t through_sequence = std::numeric_limits<int64_t>::max();
    std::optional<UserStatus> status;
    int limit = 0;
  };
  struct EventPage {
    std::vector<UserEvent> events;
    // RetainedEvents().oldest as of the same snapshot as `events`: if it is at most
    // after_sequence + 1, nothing the read covered had been pruned.
    int64_t oldest_retained = 0;
  };
  virtual absl::StatusOr<EventPage> ReadEvents(const EventQuery& query) = 0;
  // Up to `limit` retained events with sequence > `after_sequence`, oldest first.
  absl::StatusOr<std::vector<UserEvent>> EventsAfter(int64_t after_sequence, int limit) {
    absl::StatusOr<EventPage> page = ReadEvents({.after_sequence = after_sequence, .limit = limit});
    if (!page.ok()) return page.status();
    return std::move(page->events);
  }
  // The retained range of the log: {oldest, newest}; {0, 0} when empty. `newest` is the
  // sequence of the last committed event even when older ones were pruned.
  struct EventRange {
    int64_t oldest = 0;
    int64_t newest = 0;
  };
  virtual absl::StatusOr<EventRange> RetainedEvents() = 0;
  // Deletes all but the newest `keep` events, or as many of them as a run allows; says how many
  // were deleted and whether that was all.
  virtual absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) = 0;
};

}  // namespace hermes::user
