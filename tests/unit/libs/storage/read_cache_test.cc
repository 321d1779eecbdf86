#include "libs/storage/read_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hermes::storage {
namespace {

// A "database" read that counts how often the cache had to fall back to it.
struct CountingLoad {
  std::string value;
  int* loads;
  absl::StatusOr<std::string> operator()() const {
    ++*loads;
    return value;
  }
};

TEST(ReadCacheTest, Miss_LoadsOnce_ThenServesFromMemory) {
  ReadCache<std::string> cache(16);
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"A", &loads}), "A");
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"changed behind its back", &loads}), "A");
  EXPECT_EQ(loads, 1);
  const ReadCache<std::string>::Stats stats = cache.GetStats();
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.size, 1u);
}

TEST(ReadCacheTest, LoadError_ReturnedAsIsAndNothingCached) {
  ReadCache<std::string> cache(16);
  absl::StatusOr<std::string> missing =
      cache.GetOrLoad("a", [] { return absl::StatusOr<std::string>(absl::NotFoundError("no")); });
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"A", &loads}), "A");
  EXPECT_EQ(loads, 1);  // the error was not remembered
}

TEST(ReadCacheTest, EndedWrite_ItsStateIsWhatTheNextReadReturns) {
  ReadCache<std::string> cache(16);
  int loads = 0;
  ASSERT_TRUE(cache.GetOrLoad("a", CountingLoad{"v1", &loads}).ok());
  const std::string v2 = "v2";
  cache.BeginWrite("a");
  cache.EndWrite("a", &v2);
  cache.Put("b", "created");
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"stale", &loads}), "v2");
  EXPECT_EQ(*cache.GetOrLoad("b", CountingLoad{"stale", &loads}), "created");
  EXPECT_EQ(loads, 1);
}

// A delete, or a write that failed (its outcome unknown).
TEST(ReadCacheTest, WriteEndedWithoutAState_NextReadGoesToTheDatabase) {
  ReadCache<std::string> cache(16);
  cache.Put("a", "v1");
  cache.BeginWrite("a");
  cache.EndWrite("a", nullptr);
  cache.BeginWrite("never cached");
  cache.EndWrite("never cached", nullptr);
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"from the database", &loads}), "from the database");
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.GetStats().size, 1u);
}

// While a write may be committing, a load may see either side of the commit: what it loaded
// is returned but not cached, or a later, older load could overwrite it.
TEST(ReadCacheTest, WriteInProgress_LoadsAreReturnedButNotCached) {
  ReadCache<std::string> cache(16);
  int loads = 0;
  cache.BeginWrite("a");
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"new, committed", &loads}), "new, committed");
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"old, another snapshot", &loads}),
            "old, another snapshot");
  EXPECT_EQ(loads, 2);
  const std::string committed = "new, committed";
  cache.EndWrite("a", &committed);
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"?", &loads}), "new, committed");
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache.GetStats().fills_refused, 2);
}

// Between the commit and EndWrite the database already holds the new state and the cache the
// old one: a reader that went to the database (and saw the new state) must not then be served
// the old one from memory. So a key being written is read from the database, while the other
// keys of its shard are still served from memory.
TEST(ReadCacheTest, KeyBeingWritten_ReadFromTheDatabase_OtherKeysStillFromMemory) {
  ReadCache<std::string> cache(16, /*shards=*/1);
  cache.Put("a", "v1");
  cache.Put("b", "B");
  cache.BeginWrite("a");
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"v2, committed", &loads}), "v2, committed");
  EXPECT_EQ(*cache.GetOrLoad("b", CountingLoad{"?", &loads}), "B");
  EXPECT_EQ(loads, 1);
  const std::string v2 = "v2, committed";
  cache.EndWrite("a", &v2);
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"?", &loads}), "v2, committed");
  EXPECT_EQ(loads, 1);
}

// Two writes to one key at once (their commits in one batch, say): the key is read from the
// database until both ended.
TEST(ReadCacheTest, TwoWritesToOneKey_ReadFromTheDatabaseUntilBothEnded) {
  ReadCache<std::string> cache(16);
  cache.Put("a", "v1");
  cache.BeginWrite("a");
  cache.BeginWrite("a");
  const std::string v2 = "v2";
  cache.EndWrite("a", &v2);
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"v3, committed", &loads}), "v3, committed");
  const std::string v3 = "v3, committed";
  cache.EndWrite("a", &v3);
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"?", &loads}), "v3, committed");
  EXPECT_EQ(loads, 1);
}

TEST(ReadCacheTest, Full_EvictsTheLeastRecentlyUsed) {
  ReadCache<std::string> cache(/*capacity=*/2, /*shards=*/1);
  int loads = 0;
  cache.Put("a", "A");
  cache.Put("b", "B");
  ASSERT_EQ(*cache.GetOrLoad("a", CountingLoad{"?", &loads}), "A");  // a is now the most recent
  cache.Put("c", "C");                                               // evicts b
  EXPECT_EQ(cache.GetStats().size, 2u);
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"?", &loads}), "A");
  EXPECT_EQ(*cache.GetOrLoad("c", CountingLoad{"?", &loads}), "C");
  EXPECT_EQ(loads, 0);
  EXPECT_EQ(*cache.GetOrLoad("b", CountingLoad{"B again", &loads}), "B again");
  EXPECT_EQ(loads, 1);
}

TEST(ReadCacheTest, CapacityZero_EveryReadLoads) {
  ReadCache<std::string> cache(0);
  cache.Put("a", "A");
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"db", &loads}), "db");
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"db", &loads}), "db");
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache.GetStats().size, 0u);
}

// A write that began and ended while a read was loading: the read may return what it loaded
// (it began before the commit), but must not cache it over the newer state.
TEST(ReadCacheTest, WriteBeganAndEndedDuringALoad_TheLoadedStateIsNotCached) {
  ReadCache<std::string> cache(16);
  const std::string v2 = "v2";
  absl::StatusOr<std::string> read = cache.GetOrLoad("a", [&] {
    cache.BeginWrite("a");
    cache.EndWrite("a", &v2);
    return absl::StatusOr<std::string>("v1");
  });
  EXPECT_EQ(*read, "v1");
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"?", &loads}), "v2");
  EXPECT_EQ(loads, 0);
  EXPECT_EQ(cache.GetStats().fills_refused, 1);
}

TEST(ReadCacheTest, DeleteDuringALoad_TheDeletedRecordIsNotCached) {
  ReadCache<std::string> cache(16);
  ASSERT_TRUE(cache
                  .GetOrLoad("a",
                             [&] {
                               cache.BeginWrite("a");
                               cache.EndWrite("a", nullptr);
                               return absl::StatusOr<std::string>("v1");
                             })
                  .ok());
  int loads = 0;
  EXPECT_EQ(*cache.GetOrLoad("a", CountingLoad{"gone", &loads}), "gone");
  EXPECT_EQ(loads, 1);
}

// A value whose copy fails on demand, as an allocation can.
struct Fragile {
  std::string text;
  bool throw_on_copy = false;
  Fragile(std::string t, bool fail) : text(std::move(t)), throw_on_copy(fail) {}
  Fragile(const Fragile& other) : text(other.text), throw_on_copy(false) {
    if (other.throw_on_copy) throw std::bad_alloc();
  }
  Fragile(Fragile&&) noexcept = default;
  Fragile& operator=(const Fragile& other) {
    Fragile copy(other);
    return *this = std::move(copy);
  }
  Fragile& operator=(Fragile&&) noexcept = default;
};

// The store applies a commit to the cache where an exception would leave writers waiting: a
// state that cannot be copied in is dropped, and the previous state is not left behind.
TEST(ReadCacheTest, StateCannotBeStored_KeyDroppedNotStale_NoException) {
  ReadCache<Fragile> cache(16);
  cache.Put("a", Fragile("v1", false));
  cache.BeginWrite("a");
  const Fragile v2("v2", /*fail=*/true);
  cache.EndWrite("a", &v2);  // does not throw
  cache.Put("b", Fragile("created", true));
  int loads = 0;
  auto load = [&loads](const char* text) {
    return [&loads, text] {
      ++loads;
      return absl::StatusOr<Fragile>(Fragile(text, false));
    };
  };
  EXPECT_EQ(cache.GetOrLoad("a", load("v2 from the database"))->text, "v2 from the database");
  EXPECT_EQ(cache.GetOrLoad("b", load("created, from the database"))->text,
            "created, from the database");
  EXPECT_EQ(loads, 2);
}

// Real threads: a writer commits versions 1..N of one key to a "database" between BeginWrite
// and EndWrite, as a store does; readers read through the cache, loading from the database on a
// miss, while a third thread keeps evicting the key by filling the (tiny) cache with others. No
// read may return a version older than one acknowledged before it started, nor older than one the
// same reader saw before.
TEST(ReadCacheTest, ConcurrentReadsWritesAndEvictions_NeverGoBackInTime) {
  ReadCache<int> cache(/*capacity=*/2, /*shards=*/1);
  std::atomic<int> database{0};
  std::atomic<int> acknowledged{0};
  std::atomic<bool> done{false};
  constexpr int kWrites = 1000;
  constexpr int kReaders = 3;
  std::atomic<int> violations{0};
  std::atomic<int64_t> reads{0};

  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      int last_seen = 0;
      while (!done.load()) {
        const int floor = acknowledged.load();
        absl::StatusOr<int> value = cache.GetOrLoad("key", [&] {
          const int loaded = database.load();
          std::this_thread::yield();  // a database read takes a while: let a commit land
          return absl::StatusOr<int>(loaded);
        });
        if (!value.ok() || *value < floor || *value < last_seen) ++violations;
        if (value.ok()) last_seen = *value;
        ++reads;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; !done.load() && i < 1'000'000; ++i) {
      (void)cache.GetOrLoad(absl::StrCat("other", i % 7), [] { return absl::StatusOr<int>(-1); });
    }
  });
  for (int version = 1; version <= kWrites; ++version) {
    cache.BeginWrite("key");
    database.store(version);          // the commit
    cache.EndWrite("key", &version);  // the store's commit path, before the writer returns
    acknowledged.store(version);      // the writer's call returns
    std::this_thread::yield();        // and the next write comes a little later
  }
  done.store(true);
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(*cache.GetOrLoad("key", [&] { return absl::StatusOr<int>(database.load()); }), kWrites);
}

}  // namespace
}  // namespace hermes::storage
