#include "services/user/sqlite_user_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <latch>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"
#include "libs/storage/migrations.h"
#include "libs/storage/sqlite_database.h"
#include "libs/storage/transaction.h"
#include "services/user/user_schema.h"
#include "tests/support/file_size_limit.h"
#include "tests/unit/services/recording_listener.h"

namespace hermes::user {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

// Every member of a user, comparable and printable by GoogleTest.
auto Fields(const User& user) {
  return std::make_tuple(user.id, user.email, user.display_name, static_cast<int>(user.status),
                         user.created_at, user.updated_at, user.etag);
}

class SqliteUserStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "user_store_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/data/user.db";
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    store_->SetEventListener(listener_.AsListener());
  }
  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  SqliteUserStoreOptions Options() {
    return {.busy_timeout = absl::Seconds(5),
            .clock = [this] { return absl::FromUnixMicros(now_micros_.load()); }};
  }

  std::unique_ptr<SqliteUserStore> OpenStore(std::optional<SqliteUserStoreOptions> options = {}) {
    absl::StatusOr<std::unique_ptr<SqliteUserStore>> store =
        SqliteUserStore::Open(path_, options.value_or(Options()));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Closes the store and opens the same file again, as a restarted process would.
  void Reopen(std::optional<SqliteUserStoreOptions> options = {}) {
    store_.reset();
    store_ = OpenStore(std::move(options));
    ASSERT_NE(store_, nullptr);
    store_->SetEventListener(listener_.AsListener());
  }

  void Advance(absl::Duration d) { now_micros_ += absl::ToInt64Microseconds(d); }
  absl::Time Now() const { return absl::FromUnixMicros(now_micros_.load()); }

  User CreateOrDie(const std::string& email, const std::string& name = "Ada") {
    absl::StatusOr<User> user = store_->Create({.email = email, .display_name = name});
    EXPECT_TRUE(user.ok()) << user.status();
    return user.value_or(User{});
  }

  std::vector<UserEvent> AllEvents() {
    absl::StatusOr<std::vector<UserEvent>> events = store_->EventsAfter(0, 1'000'000);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.value_or(std::vector<UserEvent>{});
  }

  std::unique_ptr<storage::SqliteDatabase> RawConnection(
      absl::Duration busy_timeout = absl::Seconds(5)) {
    absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
        storage::SqliteDatabase::Open(path_, {.busy_timeout = busy_timeout});
    EXPECT_TRUE(db.ok()) << db.status();
    return *std::move(db);
  }

  std::string dir_;
  std::string path_;
  std::atomic<int64_t> now_micros_{absl::ToUnixMicros(kStart)};
  testing::RecordingListener<UserEvent> listener_;
  std::unique_ptr<SqliteUserStore> store_;
};

// ---- CRUD -------------------------------------------------------------------------------------

TEST_F(SqliteUserStoreTest, Create_ReturnsActiveUserWithIdEtagAndTimes) {
  const User user = CreateOrDie("ada@example.com", "Ada Lovelace");
  EXPECT_EQ(user.email, "ada@example.com");
  EXPECT_EQ(user.display_name, "Ada Lovelace");
  EXPECT_EQ(user.status, UserStatus::kActive);
  EXPECT_EQ(user.created_at, kStart);
  EXPECT_EQ(user.updated_at, kStart);
  EXPECT_EQ(user.id.size(), 26u);
  EXPECT_EQ(user.id.find_first_not_of("0123456789abcdefghjkmnpqrstvwxyz"), std::string::npos);
  EXPECT_FALSE(user.etag.empty());
}

TEST_F(SqliteUserStoreTest, Create_ThenGet_ReturnsTheSameUser) {
  const User created = CreateOrDie("ada@example.com");
  absl::StatusOr<User> got = store_->Get(created.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Fields(*got), Fields(created));
}

TEST_F(SqliteUserStoreTest, Create_TimeWithNanoseconds_StoredAndReturnedInMicroseconds) {
  SqliteUserStoreOptions options = Options();
  options.clock = [] { return kStart + absl::Nanoseconds(1999); };
  Reopen(options);
  absl::StatusOr<User> user = store_->Create({.email = "a@x", .display_name = "A"});
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->created_at, kStart + absl::Microseconds(1));
  EXPECT_EQ(Fields(*store_->Get(user->id)), Fields(*user));
}

TEST_F(SqliteUserStoreTest, Create_ManyUsers_IdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(CreateOrDie(absl::StrCat("u", i, "@x")).id);
  EXPECT_THAT(ids, SizeIs(50));
}

TEST_F(SqliteUserStoreTest, Create_DuplicateEmail_AlreadyExistsWithFieldEmail) {
  CreateOrDie("ada@example.com");
  absl::StatusOr<User> again = store_->Create({.email = "ada@example.com", .display_name = "B"});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(errors::FieldOf(again.status()), "email");
  EXPECT_THAT(AllEvents(), SizeIs(1));  // the refused create wrote no event
  EXPECT_THAT(listener_.events(), SizeIs(1));
}

TEST_F(SqliteUserStoreTest, Create_EmailsDifferingInCase_AreDistinct) {
  // Lower-casing is the service's job; the store compares exactly.
  const User lower = CreateOrDie("ada@example.com");
  const User upper = CreateOrDie("Ada@example.com");
  EXPECT_NE(upper.id, lower.id);
  EXPECT_EQ(upper.email, "Ada@example.com");
  EXPECT_EQ(store_->List({})->total, 2);
}

TEST_F(SqliteUserStoreTest, Get_UnknownId_NotFoundWithFieldId) {
  for (absl::string_view id : {"01hf7yat000000000000000000", "", "'; DROP TABLE users; --"}) {
    absl::StatusOr<User> user = store_->Get(id);
    EXPECT_EQ(user.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(errors::FieldOf(user.status()), "id");
  }
}

// TryGet answers from the cache, or reads on an idle reader connection; where it would have to
// open one (or wait for one), it says so instead of reading.
TEST_F(SqliteUserStoreTest, TryGet_FromTheCacheOrAnIdleReader_ElseSaysItWouldWait) {
  const User created = CreateOrDie("ada@example.com");  // cached by its commit
  std::optional<absl::StatusOr<User>> cached = store_->TryGet(created.id);
  ASSERT_TRUE(cached.has_value());
  ASSERT_TRUE(cached->ok()) << cached->status();
  EXPECT_EQ((*cached)->email, "ada@example.com");

  const std::string unknown = "01hf7yat000000000000000000";
  EXPECT_FALSE(store_->TryGet(unknown).has_value());  // no reader opened yet
  EXPECT_EQ(store_->Get(unknown).status().code(), absl::StatusCode::kNotFound);  // opens one
  std::optional<absl::StatusOr<User>> read = store_->TryGet(unknown);  // on that one, now idle
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(errors::FieldOf(read->status()), "id");
}

TEST_F(SqliteUserStoreTest, Update_DisplayName_ChangesItAndTheEtagAndUpdatedAt) {
  const User created = CreateOrDie("ada@example.com", "Ada");
  Advance(absl::Seconds(3));
  absl::StatusOr<User> updated = store_->Update({.id = created.id, .display_name = "Countess"});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->display_name, "Countess");
  EXPECT_EQ(updated->status, UserStatus::kActive);
  EXPECT_EQ(updated->email, created.email);
  EXPECT_EQ(updated->created_at, created.created_at);
  EXPECT_EQ(updated->updated_at, kStart + absl::Seconds(3));
  EXPECT_NE(updated->etag, created.etag);
  EXPECT_EQ(Fields(*store_->Get(created.id)), Fields(*updated));
}

TEST_F(SqliteUserStoreTest, Update_Status_ChangesOnlyTheStatus) {
  const User created = CreateOrDie("ada@example.com", "Ada");
  absl::StatusOr<User> updated = store_->Update({.id = created.id, .status = UserStatus::kBanned});
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->status, UserStatus::kBanned);
  EXPECT_EQ(updated->display_name, "Ada");
}

TEST_F(SqliteUserStoreTest, Update_MatchingEtag_Succeeds) {
  const User created = CreateOrDie("ada@example.com");
  absl::StatusOr<User> updated =
      store_->Update({.id = created.id, .display_name = "B", .expected_etag = created.etag});
  EXPECT_TRUE(updated.ok()) << updated.status();
}

TEST_F(SqliteUserStoreTest, Update_StaleEtag_AbortedWithFieldEtagAndChangesNothing) {
  const User created = CreateOrDie("ada@example.com", "Ada");
  ASSERT_TRUE(store_->Update({.id = created.id, .display_name = "B"}).ok());
  absl::StatusOr<User> stale =
      store_->Update({.id = created.id, .display_name = "C", .expected_etag = created.etag});
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(errors::FieldOf(stale.status()), "etag");
  EXPECT_EQ(store_->Get(created.id)->display_name, "B");
  EXPECT_THAT(AllEvents(), SizeIs(2));
}

TEST_F(SqliteUserStoreTest, Update_UnknownId_NotFoundWithFieldId) {
  absl::StatusOr<User> user = store_->Update({.id = "nope", .display_name = "B"});
  EXPECT_EQ(user.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(errors::FieldOf(user.status()), "id");
  EXPECT_THAT(AllEvents(), SizeIs(0));
}

TEST_F(SqliteUserStoreTest, Update_NoChanges_StillNewEtagAndAnUpdatedEvent) {
  const User created = CreateOrDie("ada@example.com");
  Advance(absl::Seconds(1));
  absl::StatusOr<User> updated = store_->Update({.id = created.id});
  ASSERT_TRUE(updated.ok());
  EXPECT_NE(updated->etag, created.etag);
  EXPECT_EQ(updated->updated_at, kStart + absl::Seconds(1));
  const std::vector<UserEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[1].type, UserEventType::kUpdated);
  EXPECT_EQ(Fields(events[1].user), Fields(*updated));
}

TEST_F(SqliteUserStoreTest, Update_EveryTime_TheEtagChanges) {
  const User created = CreateOrDie("ada@example.com");
  std::set<std::string> etags = {created.etag};
  std::string etag = created.etag;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<User> updated = store_->Update({.id = created.id, .expected_etag = etag});
    ASSERT_TRUE(updated.ok()) << updated.status();
    etag = updated->etag;
    etags.insert(etag);
  }
  EXPECT_THAT(etags, SizeIs(21));
}

TEST_F(SqliteUserStoreTest, Update_ClockWentBackwards_UpdatedAtDoesNotDecrease) {
  const User created = CreateOrDie("ada@example.com");
  Advance(-absl::Hours(1));
  absl::StatusOr<User> updated = store_->Update({.id = created.id, .display_name = "B"});
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->updated_at, created.updated_at);
}

TEST_F(SqliteUserStoreTest, Delete_ThenGet_NotFound) {
  const User created = CreateOrDie("ada@example.com");
  ASSERT_TRUE(store_->Delete(created.id).ok());
  EXPECT_EQ(store_->Get(created.id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteUserStoreTest, Delete_UnknownId_NotFoundWithFieldId) {
  const absl::Status status = store_->Delete("nope");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(errors::FieldOf(status), "id");
  EXPECT_THAT(AllEvents(), SizeIs(0));
}

TEST_F(SqliteUserStoreTest, Delete_FreesTheEmail) {
  const User created = CreateOrDie("ada@example.com");
  ASSERT_TRUE(store_->Delete(created.id).ok());
  const User again = CreateOrDie("ada@example.com");
  EXPECT_NE(again.id, created.id);
}

// ---- Get's cache ------------------------------------------------------------------------------

TEST_F(SqliteUserStoreTest, Get_AfterCreateUpdateDelete_ServedFromMemoryAndNeverStale) {
  const User ada = CreateOrDie("ada@example.com");
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));  // cached by its create
  absl::StatusOr<User> renamed = store_->Update({.id = ada.id, .display_name = "Ada L."});
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(*renamed));
  storage::ReadCache<User>::Stats stats = store_->CacheStatsForTesting();
  EXPECT_EQ(stats.hits, 2);
  EXPECT_EQ(stats.misses, 0);

  ASSERT_TRUE(store_->Delete(ada.id).ok());
  EXPECT_EQ(store_->Get(ada.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CacheStatsForTesting().misses, 1);
}

// A write that fails ends its bracket all the same: the user is cached again after it, rather
// than read from the database by every Get until a restart.
TEST_F(SqliteUserStoreTest, Get_AfterAFailedUpdate_CachedAgain) {
  const User ada = CreateOrDie("ada@example.com");
  absl::StatusOr<User> stale = store_->Update({.id = ada.id, .expected_etag = "stale"});
  ASSERT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));  // dropped by the failure: read
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));  // and cached again
  const storage::ReadCache<User>::Stats stats = store_->CacheStatsForTesting();
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.hits, 1);
}

TEST_F(SqliteUserStoreTest, Get_AfterReopen_ReadFromTheFileThenCached) {
  const User ada = CreateOrDie("ada@example.com");
  Reopen();
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  const storage::ReadCache<User>::Stats stats = store_->CacheStatsForTesting();
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.hits, 1);
}

TEST_F(SqliteUserStoreTest, Get_CacheOff_EveryGetReadsTheDatabase) {
  SqliteUserStoreOptions options = Options();
  options.cache_capacity = 0;
  Reopen(options);
  absl::StatusOr<User> ada = store_->Create({.email = "ada@x", .display_name = "Ada"});
  ASSERT_TRUE(ada.ok());
  EXPECT_EQ(Fields(*store_->Get(ada->id)), Fields(*ada));
  EXPECT_EQ(store_->CacheStatsForTesting().size, 0u);
}

// One writer renames a user N times ("v1", "v2", ...) while readers Get it and other users
// through a cache too small to hold them all, so that reads keep missing and loading from the
// database while commits land. No read may return a name older than one acknowledged before it
// started, nor older than one the same reader already saw.
TEST_F(SqliteUserStoreTest, ConcurrentUpdatesAndGets_ThroughASmallCache_ReadsNeverGoBack) {
  SqliteUserStoreOptions options = Options();
  options.cache_capacity = 8;  // one user per shard
  Reopen(options);
  SqliteUserStore& store = *store_;
  absl::StatusOr<User> ada = store.Create({.email = "ada@x", .display_name = "v0"});
  ASSERT_TRUE(ada.ok());
  std::vector<std::string> others;
  for (int i = 0; i < 24; ++i) {
    absl::StatusOr<User> other =
        store.Create({.email = absl::StrCat("other", i, "@x"), .display_name = "O"});
    ASSERT_TRUE(other.ok());
    others.push_back(other->id);
  }

  constexpr int kUpdates = 150;
  constexpr int kReaders = 3;
  std::atomic<int> acknowledged{0};
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::atomic<int> reads{0};
  const auto version_of = [](const User& user) { return std::stoi(user.display_name.substr(1)); };
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      int last_seen = 0;
      for (size_t i = 0; !done.load() && i < 1'000'000; ++i) {
        const int floor = acknowledged.load();
        absl::StatusOr<User> read = store.Get(ada->id);
        if (!read.ok() || version_of(*read) < std::max(floor, last_seen)) {
          ++violations;
        } else {
          last_seen = version_of(*read);
        }
        ++reads;
        // Evict: read users that share the small cache.
        (void)store.Get(others[(i + static_cast<size_t>(r)) % others.size()]);
      }
    });
  }
  for (int version = 1; version <= kUpdates; ++version) {
    absl::StatusOr<User> updated =
        store.Update({.id = ada->id, .display_name = absl::StrCat("v", version)});
    ASSERT_TRUE(updated.ok()) << updated.status();
    acknowledged.store(version);
  }
  done.store(true);
  for (std::thread& reader : readers) reader.join();

  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(reads.load(), kReaders);
  EXPECT_GT(store.CacheStatsForTesting().misses, 0);
  EXPECT_EQ(store.Get(ada->id)->display_name, absl::StrCat("v", kUpdates));
}

// One writer deletes users one by one while readers Get them: the user to be deleted next, which
// the writer waits to see cached before it deletes it, and through its delete's commit (those
// reads load from the database while the delete commits); and the users whose deletes were
// already acknowledged, none of which may be found again.
TEST_F(SqliteUserStoreTest, ConcurrentDeletesAndGets_NoDeletedUserFoundAgain) {
  SqliteUserStore& store = *store_;
  constexpr int kUsers = 60;
  std::vector<std::string> ids;
  for (int i = 0; i < kUsers; ++i) ids.push_back(CreateOrDie(absl::StrCat("u", i, "@x")).id);

  std::atomic<int> deleted{0};     // ids[0, deleted) are acknowledged as deleted
  std::atomic<int> read_next{-1};  // the latest user a reader found before its delete
  std::atomic<bool> done{false};
  std::atomic<int> found_after_delete{0};
  std::atomic<int> checks{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      for (size_t i = 0; !done.load() && i < 1'000'000; ++i) {
        const int floor = deleted.load();
        if (floor > 0) {
          // The latest delete, and an older one: both NOT_FOUND from now on.
          for (const int gone : {floor - 1, static_cast<int>(i % static_cast<size_t>(floor))}) {
            if (store.Get(ids[gone]).status().code() != absl::StatusCode::kNotFound) {
              ++found_after_delete;
            }
            ++checks;
          }
        }
        if (floor < kUsers && store.Get(ids[floor]).ok()) {
          // Only ever up: a reader that read an older one late must not move it back.
          int seen = read_next.load();
          while (seen < floor && !read_next.compare_exchange_weak(seen, floor)) {
          }
        }
      }
    });
  }
  for (int i = 0; i < kUsers; ++i) {
    // Until a reader has found (and so cached) ids[i]: at most 5 s.
    const absl::Time until = absl::Now() + absl::Seconds(5);
    while (read_next.load() < i && absl::Now() < until) absl::SleepFor(absl::Microseconds(100));
    const absl::Status status = store.Delete(ids[i]);
    if (!status.ok()) {  // not ASSERT: the readers must be joined
      ADD_FAILURE() << status;
      break;
    }
    deleted.store(i + 1);
  }
  done.store(true);
  for (std::thread& reader : readers) reader.join();

  EXPECT_EQ(found_after_delete.load(), 0) << "of " << checks.load() << " reads";
  EXPECT_GE(read_next.load(), kUsers - 1) << "the users were not read before their deletes";
}

// ---- List -------------------------------------------------------------------------------------

TEST_F(SqliteUserStoreTest, List_NewUsersComeLast_EvenWhenTheClockStandsStillOrStepsBack) {
  const User first = CreateOrDie("first@x");
  // The same microsecond: after `first`, not in the random order of the ids.
  const User same_time = CreateOrDie("same@x");
  // The clock steps back an hour (NTP, a restored VM), and the store is restarted meanwhile.
  Advance(-absl::Hours(1));
  Reopen();
  const User stepped_back = CreateOrDie("back@x");
  // Forward again: the clock's own time.
  Advance(absl::Hours(2));
  const User forward = CreateOrDie("forward@x");

  EXPECT_EQ(first.created_at, kStart);
  EXPECT_EQ(same_time.created_at, kStart + absl::Microseconds(1));
  EXPECT_EQ(stepped_back.created_at, kStart + absl::Microseconds(2));
  EXPECT_EQ(stepped_back.updated_at, stepped_back.created_at);
  EXPECT_EQ(forward.created_at, kStart + absl::Hours(1));
  absl::StatusOr<UserPage> page = store_->List({.limit = 100});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_THAT(page->users, SizeIs(4));
  EXPECT_EQ(Fields(page->users[0]), Fields(first));
  EXPECT_EQ(Fields(page->users[1]), Fields(same_time));
  EXPECT_EQ(Fields(page->users[2]), Fields(stepped_back));
  EXPECT_EQ(Fields(page->users[3]), Fields(forward));
  // An event's time stays the clock's, when the change was committed, as for every event.
  const std::vector<UserEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(4));
  EXPECT_EQ(events[2].time, kStart - absl::Hours(1));
}

TEST_F(SqliteUserStoreTest, List_Pages_CoverEveryUserOnceWithTheTotal) {
  std::vector<std::string> created;
  for (int i = 0; i < 7; ++i) {
    created.push_back(CreateOrDie(absl::StrCat("u", i, "@x")).id);
    Advance(absl::Milliseconds(1));
  }
  std::vector<std::string> listed;
  for (int64_t offset = 0; offset < 9; offset += 3) {
    absl::StatusOr<UserPage> page = store_->List({.offset = offset, .limit = 3});
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->total, 7);
    EXPECT_THAT(page->users, SizeIs(offset == 6 ? 1 : 3));
    for (const User& user : page->users) listed.push_back(user.id);
  }
  EXPECT_EQ(listed, created);
}

TEST_F(SqliteUserStoreTest, List_OffsetPastTheEnd_EmptyWithTotal) {
  CreateOrDie("a@x");
  absl::StatusOr<UserPage> page = store_->List({.offset = 5, .limit = 10});
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->users, SizeIs(0));
  EXPECT_EQ(page->total, 1);
}

TEST_F(SqliteUserStoreTest, List_StatusFilter_ListsAndCountsOnlyMatches) {
  std::vector<User> users;
  for (int i = 0; i < 6; ++i) {
    users.push_back(CreateOrDie(absl::StrCat("u", i, "@x")));
    Advance(absl::Milliseconds(1));
  }
  ASSERT_TRUE(store_->Update({.id = users[1].id, .status = UserStatus::kBanned}).ok());
  ASSERT_TRUE(store_->Update({.id = users[4].id, .status = UserStatus::kBanned}).ok());
  ASSERT_TRUE(store_->Update({.id = users[2].id, .status = UserStatus::kInactive}).ok());

  absl::StatusOr<UserPage> banned = store_->List({.status = UserStatus::kBanned, .limit = 1});
  ASSERT_TRUE(banned.ok());
  EXPECT_EQ(banned->total, 2);
  ASSERT_THAT(banned->users, SizeIs(1));
  EXPECT_EQ(banned->users[0].id, users[1].id);
  absl::StatusOr<UserPage> second =
      store_->List({.status = UserStatus::kBanned, .offset = 1, .limit = 1});
  ASSERT_TRUE(second.ok());
  ASSERT_THAT(second->users, SizeIs(1));
  EXPECT_EQ(second->users[0].id, users[4].id);
  EXPECT_EQ(store_->List({.status = UserStatus::kActive, .limit = 100})->total, 3);
  EXPECT_EQ(store_->List({.status = UserStatus::kInactive, .limit = 100})->total, 1);
  EXPECT_EQ(store_->List({.limit = 100})->total, 6);
}

// Totals come from counts kept by triggers: they follow deletes, status changes and failed
// writes exactly, and a file written before the counts existed (schema v1) gets them computed
// from its rows when it is opened.
TEST_F(SqliteUserStoreTest, ListTotals_ExactAfterDeletesFailuresAndUpgradeFromV1) {
  std::vector<User> users;
  for (int i = 0; i < 6; ++i) users.push_back(CreateOrDie(absl::StrCat("u", i, "@example.com")));
  EXPECT_EQ(store_->Create({.email = "u0@example.com", .display_name = "Dup"}).status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->Update({.id = users[0].id, .status = UserStatus::kBanned}).ok());
  ASSERT_TRUE(store_->Update({.id = users[0].id, .status = UserStatus::kBanned}).ok());
  ASSERT_TRUE(store_->Update({.id = users[1].id, .status = UserStatus::kInactive}).ok());
  ASSERT_TRUE(store_->Delete(users[2].id).ok());
  ASSERT_TRUE(store_->Delete(users[1].id).ok());
  EXPECT_EQ(store_->Delete(users[1].id).code(), absl::StatusCode::kNotFound);
  auto totals = [&] {
    return std::vector<int64_t>{store_->List({})->total,
                                store_->List({.status = UserStatus::kActive})->total,
                                store_->List({.status = UserStatus::kInactive})->total,
                                store_->List({.status = UserStatus::kBanned})->total};
  };
  const std::vector<int64_t> expected = {4, 3, 0, 1};
  EXPECT_EQ(totals(), expected);

  // Back to what a v1 binary left: no counts, no triggers, no index of events by status.
  store_.reset();
  {
    std::unique_ptr<storage::SqliteDatabase> db = RawConnection();
    ASSERT_TRUE(db->Execute("DROP TRIGGER users_counted_on_insert; "
                            "DROP TRIGGER users_counted_on_delete; "
                            "DROP TRIGGER users_counted_on_status; "
                            "DROP TABLE user_counts; DROP INDEX user_events_not_active; "
                            "PRAGMA user_version = 1")
                    .ok());
  }
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(totals(), expected);
  CreateOrDie("late@example.com");
  EXPECT_EQ(store_->List({})->total, 5);
  EXPECT_EQ(*storage::SchemaVersion(*RawConnection()), 4);
  // The index v3 built over the existing events serves filtered reads.
  const std::vector<UserEvent> all = AllEvents();
  const auto banned =
      static_cast<size_t>(std::count_if(all.begin(), all.end(), [](const UserEvent& event) {
        return event.user.status == UserStatus::kBanned;
      }));
  EXPECT_GT(banned, 0u);
  EXPECT_EQ(store_->ReadEvents({.status = UserStatus::kBanned, .limit = 100})->events.size(),
            banned);
}

TEST_F(SqliteUserStoreTest, List_Empty_NoUsersTotalZero) {
  absl::StatusOr<UserPage> page = store_->List({});
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->users, SizeIs(0));
  EXPECT_EQ(page->total, 0);
}

TEST_F(SqliteUserStoreTest, List_NegativeOffsetOrZeroLimit_InvalidArgument) {
  EXPECT_EQ(store_->List({.offset = -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List({.limit = 0}).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Events -----------------------------------------------------------------------------------

TEST_F(SqliteUserStoreTest, EveryWrite_AppendsOneEventWithTheNextSequenceAndTheState) {
  const User created = CreateOrDie("ada@example.com");
  Advance(absl::Seconds(1));
  const User updated = *store_->Update({.id = created.id, .display_name = "B"});
  Advance(absl::Seconds(1));
  ASSERT_TRUE(store_->Delete(created.id).ok());

  const std::vector<UserEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(3));
  EXPECT_EQ(events[0].sequence, 1);
  EXPECT_EQ(events[0].type, UserEventType::kCreated);
  EXPECT_EQ(Fields(events[0].user), Fields(created));
  EXPECT_EQ(events[0].time, kStart);
  EXPECT_EQ(events[1].sequence, 2);
  EXPECT_EQ(events[1].type, UserEventType::kUpdated);
  EXPECT_EQ(Fields(events[1].user), Fields(updated));
  EXPECT_EQ(events[1].time, kStart + absl::Seconds(1));
  EXPECT_EQ(events[2].sequence, 3);
  EXPECT_EQ(events[2].type, UserEventType::kDeleted);
  EXPECT_EQ(Fields(events[2].user), Fields(updated));  // the last state
  EXPECT_EQ(events[2].time, kStart + absl::Seconds(2));

  // The listener got the same events, in the same order.
  const std::vector<UserEvent> heard = listener_.events();
  ASSERT_THAT(heard, SizeIs(3));
  for (size_t i = 0; i < heard.size(); ++i) {
    EXPECT_EQ(heard[i].sequence, events[i].sequence);
    EXPECT_EQ(heard[i].type, events[i].type);
    EXPECT_EQ(Fields(heard[i].user), Fields(events[i].user));
    EXPECT_EQ(heard[i].time, events[i].time);
  }
}

// Concurrent writers share group commits: a write that fails (a taken email) is rolled back
// alone, every other one commits, and the event log and the listener see one gapless
// sequence in commit order, which is also the order of created_at.
TEST_F(SqliteUserStoreTest, ConcurrentCreates_GroupCommitted_FailuresAloneRolledBack_NoGap) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> shared_email_wins{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!store_
                 ->Create(
                     {.email = absl::StrCat("u", t, "-", i, "@example.com"), .display_name = "U"})
                 .ok()) {
          ++failures;
        }
        absl::StatusOr<User> shared =
            store_->Create({.email = "shared@example.com", .display_name = "S"});
        if (shared.ok()) {
          ++shared_email_wins;
        } else if (!absl::IsAlreadyExists(shared.status())) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(shared_email_wins.load(), 1);

  const std::vector<UserEvent> events = AllEvents();
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kPerThread + 1));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence, int64_t(i) + 1);
  const std::vector<UserEvent> heard = listener_.events();
  ASSERT_EQ(heard.size(), events.size());
  for (size_t i = 0; i < heard.size(); ++i) EXPECT_EQ(heard[i].sequence, int64_t(i) + 1);
  absl::StatusOr<UserPage> all = store_->List({.offset = 0, .limit = 1000});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->total, kThreads * kPerThread + 1);
  // The clock stands still: within a batch, and past the creates rolled back in it, each
  // created_at is a microsecond after the one committed before, and ListUsers lists the users
  // in commit order.
  ASSERT_EQ(all->users.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].user.created_at, kStart + absl::Microseconds(int64_t(i))) << i;
    EXPECT_EQ(all->users[i].id, events[i].user.id) << i;
  }
}

TEST_F(SqliteUserStoreTest, Listener_IsCalledAfterTheCommitWithNoLockHeld) {
  absl::StatusOr<User> seen;
  absl::StatusOr<UserPage> listed;
  store_->SetEventListener([&](const UserEvent& event) {
    seen = store_->Get(event.user.id);  // would deadlock on a store lock or miss an uncommitted row
    listed = store_->List({});
  });
  const User created = CreateOrDie("ada@example.com");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(Fields(*seen), Fields(created));
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->total, 1);
}

TEST_F(SqliteUserStoreTest, EventsAfter_ReturnsLaterEventsUpToTheLimit) {
  for (int i = 0; i < 5; ++i) CreateOrDie(absl::StrCat("u", i, "@x"));
  absl::StatusOr<std::vector<UserEvent>> events = store_->EventsAfter(2, 2);
  ASSERT_TRUE(events.ok());
  ASSERT_THAT(*events, SizeIs(2));
  EXPECT_EQ((*events)[0].sequence, 3);
  EXPECT_EQ((*events)[1].sequence, 4);
  EXPECT_THAT(*store_->EventsAfter(5, 10), SizeIs(0));
  EXPECT_THAT(*store_->EventsAfter(0, 0), SizeIs(0));
  EXPECT_THAT(*store_->EventsAfter(-7, 100), SizeIs(5));
}

TEST_F(SqliteUserStoreTest, ReadEvents_ThroughAndStatus_OnlyTheMatchingEventsInTheRange) {
  std::vector<User> users;
  for (int i = 0; i < 6; ++i) users.push_back(CreateOrDie(absl::StrCat("u", i, "@x")));  // 1-6
  ASSERT_TRUE(store_->Update({.id = users[1].id, .status = UserStatus::kBanned}).ok());  // 7
  ASSERT_TRUE(store_->Update({.id = users[2].id, .display_name = "C"}).ok());            // 8
  ASSERT_TRUE(store_->Update({.id = users[4].id, .status = UserStatus::kBanned}).ok());  // 9
  ASSERT_TRUE(store_->Delete(users[1].id).ok());  // 10: the deleted state, still banned
  ASSERT_TRUE(store_->Update({.id = users[5].id, .status = UserStatus::kBanned}).ok());  // 11
  const auto sequences = [&](const UserStore::EventQuery& query) {
    absl::StatusOr<UserStore::EventPage> page = store_->ReadEvents(query);
    EXPECT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page.value_or(UserStore::EventPage{}).oldest_retained, 1);
    std::vector<int64_t> out;
    for (const UserEvent& event : page.value_or(UserStore::EventPage{}).events) {
      out.push_back(event.sequence);
    }
    return out;
  };
  using Seqs = std::vector<int64_t>;
  const std::optional<UserStatus> banned = UserStatus::kBanned;
  EXPECT_EQ(sequences({.status = banned, .limit = 100}), (Seqs{7, 9, 10, 11}));
  EXPECT_EQ(
      sequences({.after_sequence = 7, .through_sequence = 10, .status = banned, .limit = 100}),
      (Seqs{9, 10}));
  EXPECT_EQ(sequences({.after_sequence = 7, .status = banned, .limit = 1}), (Seqs{9}));
  EXPECT_EQ(sequences({.after_sequence = 1, .through_sequence = 6, .status = banned, .limit = 100}),
            Seqs{});
  EXPECT_EQ(sequences({.after_sequence = 5, .through_sequence = 8, .limit = 100}), (Seqs{6, 7, 8}));
  EXPECT_EQ(sequences({.after_sequence = 5, .through_sequence = 8, .limit = 2}), (Seqs{6, 7}));
  EXPECT_EQ(sequences({.after_sequence = 8, .status = UserStatus::kActive, .limit = 100}), Seqs{});
  const std::vector<UserEvent> active =
      store_->ReadEvents({.status = UserStatus::kActive, .limit = 100})->events;
  ASSERT_THAT(active, SizeIs(7));  // the six creates and the rename
  EXPECT_EQ(active.back().sequence, 8);
  EXPECT_EQ(active.back().user.display_name, "C");
}

TEST_F(SqliteUserStoreTest, ReadEvents_SaysTheOldestRetained) {
  for (int i = 0; i < 6; ++i) CreateOrDie(absl::StrCat("u", i, "@x"));
  ASSERT_TRUE(store_->PruneEvents(2).ok());
  absl::StatusOr<UserStore::EventPage> page = store_->ReadEvents({.after_sequence = 1, .limit = 3});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->oldest_retained, 5);  // events 2-4 are gone: the reader must not skip them
  ASSERT_THAT(page->events, SizeIs(2));
  EXPECT_EQ(page->events.front().sequence, 5);
  ASSERT_TRUE(store_->PruneEvents(0).ok());
  EXPECT_EQ(store_->ReadEvents({.after_sequence = 6, .limit = 3})->oldest_retained, 7);
}

// A filter on a status other than ACTIVE seeks in the partial index instead of reading the log:
// what keeps a replay for BANNED over a million events cheap. SQLite uses a partial index only
// when the query's WHERE implies the index's, which the literal "status <> 1" does.
TEST_F(SqliteUserStoreTest, ReadEvents_NotActiveFilter_UsesThePartialIndex) {
  std::unique_ptr<storage::SqliteDatabase> db = RawConnection();
  const auto plan = [&](std::optional<UserStatus> status) {
    absl::StatusOr<storage::CachedStatement> stmt = db->Prepare(
        absl::StrCat("EXPLAIN QUERY PLAN ", SqliteUserStore::EventsSqlForTesting(status)));
    EXPECT_TRUE(stmt.ok()) << stmt.status();
    std::string details;
    while (stmt.ok() && (*stmt)->Step().value_or(false)) {
      absl::StrAppend(&details, (*stmt)->ColumnText(3), "\n");
    }
    return details;
  };
  EXPECT_TRUE(absl::StrContains(plan(UserStatus::kBanned), "USING INDEX user_events_not_active"))
      << plan(UserStatus::kBanned);
  EXPECT_TRUE(absl::StrContains(plan(UserStatus::kInactive), "USING INDEX user_events_not_active"))
      << plan(UserStatus::kInactive);
  // ACTIVE, and no filter: a range of the log by its primary key.
  EXPECT_TRUE(absl::StrContains(plan(UserStatus::kActive), "USING INTEGER PRIMARY KEY"))
      << plan(UserStatus::kActive);
  EXPECT_TRUE(absl::StrContains(plan(std::nullopt), "USING INTEGER PRIMARY KEY"))
      << plan(std::nullopt);
}

TEST_F(SqliteUserStoreTest, RetainedEvents_NoEventYet_ZeroZero) {
  absl::StatusOr<UserStore::EventRange> range = store_->RetainedEvents();
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->oldest, 0);
  EXPECT_EQ(range->newest, 0);
}

// The event log is read on connections of its own: with every connection of Get and List lent
// out (a burst of ListUsers pages), a stream can still start and replay. Its reads run on gRPC's
// callback threads and the delivery thread, which would otherwise wait and hold up every stream
// they serve.
TEST_F(SqliteUserStoreTest, EventLogReads_DoNotWaitForTheConnectionsOfGetAndList) {
  const User user = CreateOrDie("watched@x");
  std::vector<storage::ConnectionPool::Lease> all_lent;
  for (int i = 0; i < Options().max_readers; ++i) {
    absl::StatusOr<storage::ConnectionPool::Lease> lease = store_->ReadersForTesting().Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    all_lent.push_back(*std::move(lease));
  }
  absl::Notification read;
  std::thread stream([&] {
    absl::StatusOr<UserStore::EventRange> range = store_->RetainedEvents();
    EXPECT_TRUE(range.ok() && range->newest == 1);
    absl::StatusOr<UserStore::EventPage> page = store_->ReadEvents({.limit = 10});
    EXPECT_TRUE(page.ok() && page->events.size() == 1u && page->events[0].user.id == user.id);
    read.Notify();
  });
  const bool in_time = read.WaitForNotificationWithTimeout(absl::Seconds(10));
  all_lent.clear();  // lets a read that did wait finish, so that the thread can be joined
  stream.join();
  EXPECT_TRUE(in_time) << "the event log's reads waited for a connection of Get and List";
}

TEST_F(SqliteUserStoreTest, PruneEvents_KeepsTheNewestAndSequencesContinue) {
  for (int i = 0; i < 10; ++i) CreateOrDie(absl::StrCat("u", i, "@x"));
  absl::StatusOr<storage::EventsPruned> deleted = store_->PruneEvents(4);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted, 6);
  EXPECT_TRUE(deleted->complete);
  absl::StatusOr<UserStore::EventRange> range = store_->RetainedEvents();
  EXPECT_EQ(range->oldest, 7);
  EXPECT_EQ(range->newest, 10);
  EXPECT_EQ(store_->EventsAfter(0, 100)->front().sequence, 7);
  EXPECT_EQ(store_->PruneEvents(4)->deleted, 0);  // nothing more to do
  EXPECT_EQ(store_->PruneEvents(100)->deleted, 0);

  CreateOrDie("after@x");
  EXPECT_EQ(AllEvents().back().sequence, 11);
}

TEST_F(SqliteUserStoreTest, PruneEvents_InSmallBatches_DeletesThemAll) {
  SqliteUserStoreOptions options = Options();
  options.prune_batch_size = 3;
  Reopen(options);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_->Create({.email = absl::StrCat("u", i, "@x"), .display_name = "U"}).ok());
  }
  EXPECT_EQ(store_->PruneEvents(1)->deleted, 9);
  EXPECT_EQ(store_->RetainedEvents()->oldest, 10);
}

TEST_F(SqliteUserStoreTest, PruneEvents_Everything_NewestStaysAndIsNeverReissued) {
  for (int i = 0; i < 3; ++i) CreateOrDie(absl::StrCat("u", i, "@x"));
  EXPECT_EQ(store_->PruneEvents(0)->deleted, 3);
  absl::StatusOr<UserStore::EventRange> range = store_->RetainedEvents();
  EXPECT_EQ(range->newest, 3);
  EXPECT_EQ(range->oldest, 4);  // empty, just above the newest
  EXPECT_THAT(AllEvents(), SizeIs(0));

  Reopen();  // the highest sequence is kept in the file, not in memory
  EXPECT_EQ(store_->RetainedEvents()->newest, 3);
  CreateOrDie("next@x");
  const std::vector<UserEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].sequence, 4);
  EXPECT_EQ(store_->RetainedEvents()->oldest, 4);
}

TEST_F(SqliteUserStoreTest, PruneEvents_NegativeKeep_InvalidArgument) {
  EXPECT_EQ(store_->PruneEvents(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Persistence and schema -------------------------------------------------------------------

// One store per file at a time (libs/storage/store_file.h): held for the store's whole life.
TEST_F(SqliteUserStoreTest, SecondStoreOnTheFile_FailedPrecondition_UntilTheFirstCloses) {
  CreateOrDie("first@example.com");
  absl::StatusOr<std::unique_ptr<SqliteUserStore>> second = SqliteUserStore::Open(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  CreateOrDie("second@example.com");  // the first one is unharmed

  store_.reset();
  second = SqliteUserStore::Open(path_);
  EXPECT_TRUE(second.ok()) << second.status();
}

TEST_F(SqliteUserStoreTest, Reopen_UsersAndEventsSurviveAndSequencesContinue) {
  const User ada = CreateOrDie("ada@example.com");
  const User bob = CreateOrDie("bob@example.com");
  const User bob2 = *store_->Update({.id = bob.id, .status = UserStatus::kInactive});
  ASSERT_TRUE(store_->Delete(ada.id).ok());
  const std::vector<UserEvent> before = AllEvents();

  Reopen();
  EXPECT_EQ(store_->Get(ada.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Fields(*store_->Get(bob.id)), Fields(bob2));
  const std::vector<UserEvent> after = AllEvents();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].sequence, before[i].sequence);
    EXPECT_EQ(Fields(after[i].user), Fields(before[i].user));
  }
  CreateOrDie("carol@example.com");
  EXPECT_EQ(AllEvents().back().sequence, 5);
  EXPECT_EQ(listener_.events().back().sequence, 5);
}

TEST_F(SqliteUserStoreTest, Open_CreatesParentDirectoriesAndAVersionedSchema) {
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ + "/data/user.db"));
  std::unique_ptr<storage::SqliteDatabase> db = RawConnection();
  EXPECT_EQ(*storage::SchemaVersion(*db), 4);
}

TEST_F(SqliteUserStoreTest, Open_ExistingFile_MigrationIsIdempotent) {
  const User ada = CreateOrDie("ada@example.com");
  for (int i = 0; i < 3; ++i) Reopen();
  std::unique_ptr<storage::SqliteDatabase> db = RawConnection();
  EXPECT_EQ(*storage::SchemaVersion(*db), 4);
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  EXPECT_THAT(AllEvents(), SizeIs(1));
}

// v4 rebuilt both tables for cheaper CHECKs (BETWEEN instead of an IN list, which SQLite
// evaluated through a temporary b-tree on every row written). A file a v3 build left must come
// through whole: users, their counts, events, the highest sequence ever issued (above the
// newest retained event here), the indexes and the triggers; and the checks still refuse.
TEST_F(SqliteUserStoreTest, Open_V3File_RebuiltAsV4_NothingLostAndChecksStillRefuse) {
  const std::string v3_path = dir_ + "/v3/user.db";
  std::filesystem::create_directories(dir_ + "/v3");
  {
    absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
        storage::SqliteDatabase::Open(v3_path, {.busy_timeout = absl::Seconds(5)});
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE(storage::Migrate(**db, UserStoreMigrations().first(3)).ok());
    ASSERT_EQ(*storage::SchemaVersion(**db), 3);
    ASSERT_TRUE((*db)
                    ->Execute(R"sql(
INSERT INTO users VALUES ('01A', 'a@x', 'Ann', 1, 10, 10, 'e1'), ('01B', 'b@x', 'Bo', 2, 20, 30, 'e2'),
                         ('01C', 'c@x', 'Cy', 3, 40, 40, 'e3');
INSERT INTO user_events (type, event_time, user_id, email, display_name, status, created_at,
                         updated_at, etag)
  SELECT 1, created_at, id, email, display_name, status, created_at, updated_at, etag FROM users;
INSERT INTO user_events (type, event_time, user_id, email, display_name, status, created_at,
                         updated_at, etag)
  VALUES (2, 50, '01C', 'c@x', 'Cy', 3, 40, 50, 'e4'), (3, 60, '01D', 'd@x', 'Di', 1, 45, 45, 'e5');
DELETE FROM user_events WHERE sequence >= 4;
)sql")
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<SqliteUserStore>> opened =
      SqliteUserStore::Open(v3_path, Options());
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<SqliteUserStore> store = *std::move(opened);

  absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> raw =
      storage::SqliteDatabase::Open(v3_path, {.busy_timeout = absl::Seconds(5)});
  ASSERT_TRUE(raw.ok()) << raw.status();
  storage::SqliteDatabase& db = **raw;
  EXPECT_EQ(*storage::SchemaVersion(db), 4);
  absl::StatusOr<storage::CachedStatement> schema =
      db.Prepare("SELECT group_concat(sql, ';') FROM sqlite_schema WHERE name LIKE 'user%'");
  ASSERT_TRUE(schema.ok());
  ASSERT_TRUE(*(*schema)->Step());
  const std::string sql = (*schema)->ColumnText(0);
  EXPECT_THAT(sql, Not(HasSubstr("IN (1, 2, 3)")));
  EXPECT_THAT(sql, Not(HasSubstr("_v4")));
  for (const char* name :
       {"users_by_created", "users_by_status_created", "user_events_not_active",
        "users_counted_on_insert", "users_counted_on_delete", "users_counted_on_status"}) {
    EXPECT_THAT(sql, HasSubstr(name));
  }

  const User bo = *store->Get("01B");
  EXPECT_EQ(bo.email, "b@x");
  EXPECT_EQ(bo.status, UserStatus::kInactive);
  EXPECT_EQ(bo.updated_at, absl::FromUnixMicros(30));
  EXPECT_EQ(store->List({})->total, 3);
  EXPECT_EQ(store->List({.status = UserStatus::kBanned})->users.at(0).id, "01C");
  EXPECT_EQ(store->RetainedEvents()->newest, 5) << "the highest sequence ever issued was lost";
  EXPECT_EQ(store->ReadEvents({.status = UserStatus::kInactive, .limit = 10})->events.size(), 1u);

  // The triggers keep the counts; the next event follows the highest sequence ever issued.
  const absl::StatusOr<User> eve = store->Create({.email = "e@x", .display_name = "Eve"});
  ASSERT_TRUE(eve.ok()) << eve.status();
  ASSERT_TRUE(store->Update({.id = "01A", .status = UserStatus::kBanned}).ok());
  ASSERT_TRUE(store->Delete("01B").ok());
  EXPECT_EQ(store->List({})->total, 3);
  EXPECT_EQ(store->List({.status = UserStatus::kBanned})->total, 2);
  EXPECT_EQ(store->List({.status = UserStatus::kInactive})->total, 0);
  EXPECT_EQ(store->List({.status = UserStatus::kActive})->total, 1);
  EXPECT_EQ(store->RetainedEvents()->newest, 8);
  EXPECT_EQ(store->RetainedEvents()->oldest, 1);

  // Still refused: a status or an event type outside 1..3.
  EXPECT_FALSE(db.Execute("INSERT INTO users VALUES ('01F', 'f@x', 'F', 4, 1, 1, 'e')").ok());
  EXPECT_FALSE(db.Execute("INSERT INTO users VALUES ('01G', 'g@x', 'G', 0, 1, 1, 'e')").ok());
  EXPECT_FALSE(db.Execute("INSERT INTO user_events (type, event_time, user_id, email, "
                          "display_name, status, created_at, updated_at, etag) "
                          "VALUES (4, 1, '01F', 'f@x', 'F', 1, 1, 1, 'e')")
                   .ok());
}

TEST_F(SqliteUserStoreTest, Open_NewerSchemaVersion_RefusedWithFailedPrecondition) {
  store_.reset();
  ASSERT_TRUE(RawConnection()->Execute("PRAGMA user_version = 99").ok());
  absl::StatusOr<std::unique_ptr<SqliteUserStore>> store = SqliteUserStore::Open(path_, Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(store.status().message(), "newer")) << store.status();
  EXPECT_FALSE(absl::StrContains(store.status().message(), dir_));
}

TEST_F(SqliteUserStoreTest, Open_NotADatabase_InternalWithoutPathInMessage) {
  const std::string path = dir_ + "/garbage.db";
  std::ofstream(path) << std::string(4096, 'g');
  absl::StatusOr<std::unique_ptr<SqliteUserStore>> store = SqliteUserStore::Open(path, Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(absl::StrContains(store.status().message(), dir_));
}

TEST_F(SqliteUserStoreTest, OpenUrl_AbsolutePath_OpensThatFile) {
  const User ada = CreateOrDie("ada@example.com");
  store_.reset();
  absl::StatusOr<std::unique_ptr<SqliteUserStore>> store =
      SqliteUserStore::OpenUrl("sqlite://" + path_, Options());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(Fields(*(*store)->Get(ada.id)), Fields(ada));
}

TEST_F(SqliteUserStoreTest, OpenUrl_NotAnAbsoluteSqliteUrl_InvalidArgument) {
  for (absl::string_view url : {"sqlite://relative.db", "postgresql://db/users", "/abs/user.db"}) {
    EXPECT_EQ(SqliteUserStore::OpenUrl(url).status().code(), absl::StatusCode::kInvalidArgument)
        << url;
  }
}

// ---- Contention -------------------------------------------------------------------------------

TEST_F(SqliteUserStoreTest, Write_WhileAnotherProcessHoldsTheLock_UnavailableAndReadsGoOn) {
  const User ada = CreateOrDie("ada@example.com");
  SqliteUserStoreOptions options = Options();
  options.busy_timeout = absl::Milliseconds(50);
  Reopen(options);

  std::unique_ptr<storage::SqliteDatabase> other = RawConnection();
  absl::StatusOr<storage::Transaction> held =
      storage::Transaction::Begin(*other, storage::Transaction::Mode::kImmediate);
  ASSERT_TRUE(held.ok());

  absl::StatusOr<User> created = store_->Create({.email = "bob@x", .display_name = "B"});
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(absl::StrContains(created.status().message(), dir_));
  EXPECT_FALSE(absl::StrContains(created.status().message(), "INSERT"));
  EXPECT_EQ(store_->Update({.id = ada.id}).status().code(), absl::StatusCode::kUnavailable);
  // Readers are not blocked by a writer (WAL).
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  EXPECT_EQ(store_->List({})->total, 1);

  ASSERT_TRUE(held->Commit().ok());
  EXPECT_TRUE(store_->Create({.email = "bob@x", .display_name = "B"}).ok());
  EXPECT_EQ(store_->RetainedEvents()->newest, 2);  // the failed writes left no sequence gap
}

// A COMMIT that fails (the disk full, an I/O error) after the writes ran in their savepoints:
// nothing of them may show. Not in the cache (an update that ran before its COMMIT), not to
// listeners (WatchUsers), not in the sequence, not in the file.
TEST_F(SqliteUserStoreTest, FailedCommit_NothingCachedPublishedSequencedOrWritten) {
  const User ada = CreateOrDie("ada@example.com");
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));  // cached
  {
    // The WAL cannot grow, so the next COMMIT, which appends to it, fails.
    testing::FileSizeLimit limit(std::filesystem::file_size(path_ + "-wal"));
    absl::StatusOr<User> bob = store_->Create({.email = "bob@x", .display_name = "B"});
    EXPECT_EQ(bob.status().code(), absl::StatusCode::kUnavailable) << bob.status();
    absl::StatusOr<User> renamed = store_->Update({.id = ada.id, .display_name = "Ada L."});
    EXPECT_EQ(renamed.status().code(), absl::StatusCode::kUnavailable) << renamed.status();
    EXPECT_EQ(store_->Delete(ada.id).code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  }
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  EXPECT_EQ(store_->List({})->total, 1);
  EXPECT_THAT(listener_.events(), SizeIs(1));  // ada's creation alone

  // The store goes on: bob's email is free, and his event takes the next sequence.
  CreateOrDie("bob@x");
  EXPECT_EQ(store_->RetainedEvents()->newest, 2);
  EXPECT_THAT(listener_.events(), SizeIs(2));
  Reopen();
  EXPECT_EQ(Fields(*store_->Get(ada.id)), Fields(ada));
  EXPECT_EQ(store_->List({})->total, 2);
}

TEST_F(SqliteUserStoreTest, ConcurrentCreates_GapFreeSequenceAndListenerInCommitOrder) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  listener_.set_hold(absl::Microseconds(300));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<User> user =
            store_->Create({.email = absl::StrCat("t", t, "-", i, "@x"), .display_name = "U"});
        ASSERT_TRUE(user.ok()) << user.status();
        EXPECT_TRUE(store_->Get(user->id).ok());  // reads alongside the writes
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  constexpr int kTotal = kThreads * kPerThread;
  const std::vector<UserEvent> events = AllEvents();
  ASSERT_THAT(events, SizeIs(kTotal));
  const std::vector<UserEvent> heard = listener_.events();
  ASSERT_THAT(heard, SizeIs(kTotal));
  for (int i = 0; i < kTotal; ++i) {
    EXPECT_EQ(events[static_cast<size_t>(i)].sequence, i + 1);
    EXPECT_EQ(heard[static_cast<size_t>(i)].sequence, i + 1);
    EXPECT_EQ(Fields(heard[static_cast<size_t>(i)].user),
              Fields(events[static_cast<size_t>(i)].user));
  }
  EXPECT_FALSE(listener_.overlapped());
  EXPECT_EQ(store_->List({.limit = 1})->total, kTotal);
}

TEST_F(SqliteUserStoreTest, ConcurrentCreates_SameEmail_ExactlyOneSucceeds) {
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> succeeded{0};
  std::atomic<int> already_exists{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      absl::StatusOr<User> user =
          store_->Create({.email = "same@example.com", .display_name = "U"});
      if (user.ok()) {
        ++succeeded;
      } else if (user.status().code() == absl::StatusCode::kAlreadyExists &&
                 errors::FieldOf(user.status()) == "email") {
        ++already_exists;
      } else {
        ADD_FAILURE() << user.status();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(already_exists, kThreads - 1);
  EXPECT_THAT(AllEvents(), SizeIs(1));
  EXPECT_THAT(listener_.events(), SizeIs(1));
}

TEST_F(SqliteUserStoreTest, ConcurrentUpdates_WithTheSameEtag_ExactlyOneSucceeds) {
  const User ada = CreateOrDie("ada@example.com");
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> succeeded{0};
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      absl::StatusOr<User> user = store_->Update(
          {.id = ada.id, .display_name = absl::StrCat("U", t), .expected_etag = ada.etag});
      if (user.ok()) ++succeeded;
      if (absl::IsAborted(user.status())) ++aborted;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(aborted, kThreads - 1);
  EXPECT_THAT(AllEvents(), SizeIs(2));
}

}  // namespace
}  // namespace hermes::user
