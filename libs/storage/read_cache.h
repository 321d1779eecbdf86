// ReadCache: the most recently read records of a store, by key, kept in front of the database
// so that a read by key costs a hash lookup and a copy instead of a SQLite statement (~12k
// instructions for a user: a read transaction, two B-tree searches, a reset).
//
//   ReadCache<User> cache(16384);
//   absl::StatusOr<User> user = cache.GetOrLoad(id, [&] { return ReadFromDatabase(id); });
//   // a write to an existing record:
//   cache.BeginWrite(id);   ... commit ...   cache.EndWrite(id, &user_after);  // or nullptr
//   // a record that did not exist before (a create), after its commit:
//   cache.Put(user.id, user);
//
// It is never the source of truth: every record is in the database first, and the cache holds
// only what a read or a commit of this process saw there. So it is only correct for a store
// that hears of every write to its file, that is one writing process (what the embedded
// SQLite stores require anyway). The store must bracket every write to an existing record
// with BeginWrite (before its transaction can commit) and EndWrite (after the commit, before
// the writer's call returns, so that the caller reads its own write; or after a failure, with
// nullptr, since a failed COMMIT may still have reached the disk).
//
// Consistency: every read returns what the database holds at some moment during the read.
//   - While a key is being written (between BeginWrite and EndWrite, which covers its commit)
//     its reads go to the database: the commit may have made the new state visible there
//     before EndWrite brings it here, and a reader must not see the new state, then the old.
//   - A read that misses loads from the database with no lock held, and fills the cache with
//     what it loaded only if no write to its shard ended during the load (the shard's version
//     counts them; the load records it before it starts) and its key is not being written.
//     A load whose snapshot may be either side of a commit is returned but not cached.
// So the cache only ever holds the state of the last commit, and reads never go back in time:
// not behind an acknowledged write, nor behind a newer state a read already saw.
//
// Eviction: least recently used, per shard; the capacity counts records, not bytes. A capacity
// of 0 turns the cache off (GetOrLoad always loads). Thread-safe; reads of different shards
// never contend.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace hermes::storage {

template <typename Value>
class ReadCache {
 public:
  static constexpr size_t kShards = 8;

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;         // loads from the database
    int64_t fills_refused = 0;  // loads not cached because a write raced them
    size_t size = 0;            // records held
  };

  // `capacity` records in all (0 = off), spread evenly over the shards. `shards` (1 to
  // kShards) is for tests that need one LRU order.
  explicit ReadCache(size_t capacity, size_t shards = kShards)
      : shard_count_(std::clamp<size_t>(shards, 1, kShards)),
        shard_capacity_(capacity == 0 ? 0 : (capacity + shard_count_ - 1) / shard_count_) {}

  ReadCache(const ReadCache&) = delete;
  ReadCache& operator=(const ReadCache&) = delete;

  // The record cached under `key`, or else `load()` (an absl::StatusOr<Value>, run with no
  // lock held), cached when it is OK and no write to the shard raced it. A load's error is
  // returned as it is and caches nothing.
  template <typename Load>
  absl::StatusOr<Value> GetOrLoad(absl::string_view key, Load&& load) {
    if (shard_capacity_ == 0) return load();
    Shard& shard = ShardOf(key);
    uint64_t version = 0;
    {
      absl::MutexLock lock(&shard.mu);
      // While `key` is being written, the database may already hold the new state that the
      // cache does not have yet: read it there, or a reader could see the new state, then the
      // old one.
      const bool being_written = !shard.writing.empty() && shard.writing.contains(key);
      if (auto found = shard.index.find(key); found != shard.index.end() && !being_written) {
        shard.entries.splice(shard.entries.begin(), shard.entries, found->second);
        ++shard.hits;
        return found->second->value;
      }
      ++shard.misses;
      version = shard.version;
    }
    absl::StatusOr<Value> loaded = load();
    if (loaded.ok()) {
      absl::MutexLock lock(&shard.mu);
      if (shard.version == version && !shard.writing.contains(key)) {
        Store(shard, key, *loaded);
      } else {
        ++shard.fills_refused;
      }
    }
    return loaded;
  }

  // A write to the existing record `key` may commit from now on: until the matching EndWrite,
  // reads of `key` go to the database and what they load is not cached.
  void BeginWrite(absl::string_view key) {
    if (shard_capacity_ == 0) return;
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    ++shard.writing[key];
  }

  // The write begun by BeginWrite(key) is over: `state` is what it committed, or nullptr for a
  // delete or a write that failed (the next read goes to the database).
  void EndWrite(absl::string_view key, const Value* state) noexcept {
    if (shard_capacity_ == 0) return;
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    if (auto writing = shard.writing.find(key); writing != shard.writing.end()) {
      if (--writing->second == 0) shard.writing.erase(writing);
    }
    ++shard.version;
    if (state == nullptr) {
      Drop(shard, key);
      return;
    }
    Store(shard, key, *state);
  }

  // A committed record that did not exist before (a create): no read can have seen an older
  // state of it.
  void Put(absl::string_view key, const Value& value) noexcept {
    if (shard_capacity_ == 0) return;
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    ++shard.version;
    Store(shard, key, value);
  }

  Stats GetStats() const {
    Stats stats;
    for (size_t i = 0; i < shard_count_; ++i) {
      const Shard& shard = shards_[i];
      absl::MutexLock lock(&shard.mu);
      stats.hits += shard.hits;
      stats.misses += shard.misses;
      stats.fills_refused += shard.fills_refused;
      stats.size += shard.entries.size();
    }
    return stats;
  }

 private:
  struct Entry {
    std::string key;
    Value value;
  };
  using Entries = std::list<Entry>;  // most recently used first; nodes never move

  struct Shard {
    mutable absl::Mutex mu;
    Entries entries ABSL_GUARDED_BY(mu);
    // Keys point into `entries`' nodes.
    absl::flat_hash_map<absl::string_view, typename Entries::iterator> index ABSL_GUARDED_BY(mu);
    // Keys between BeginWrite and EndWrite, with how many writes each.
    absl::flat_hash_map<std::string, int> writing ABSL_GUARDED_BY(mu);
    uint64_t version ABSL_GUARDED_BY(mu) = 0;  // writes ended (and creates put)
    int64_t hits ABSL_GUARDED_BY(mu) = 0;
    int64_t misses ABSL_GUARDED_BY(mu) = 0;
    int64_t fills_refused ABSL_GUARDED_BY(mu) = 0;
  };

  // The shard comes from the hash's high bits: the map inside a shard uses the low ones.
  Shard& ShardOf(absl::string_view key) {
    return shards_[(absl::Hash<absl::string_view>{}(key) >> 40) % shard_count_];
  }

  // Makes `value` the most recently used record under `key`, evicting the least recently used
  // one when the shard is full.
  // Never throws: when an allocation fails, `key` is simply not cached (a store calls this
  // from its commit path, where an exception would leave writers waiting). It never leaves a
  // half-assigned value nor the previous state behind.
  void Store(Shard& shard, absl::string_view key, const Value& value) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    try {
      if (auto found = shard.index.find(key); found != shard.index.end()) {
        Value copy = value;  // may throw; the move below does not
        found->second->value = std::move(copy);
        shard.entries.splice(shard.entries.begin(), shard.entries, found->second);
        return;
      }
      shard.index.reserve(shard.index.size() + 1);  // so that the emplace below cannot throw
      Entry entry{std::string(key), value};
      if (shard.entries.size() >= shard_capacity_) {
        shard.index.erase(shard.entries.back().key);
        shard.entries.pop_back();
      }
      shard.entries.push_front(std::move(entry));
      shard.index.emplace(shard.entries.front().key, shard.entries.begin());
    } catch (...) {
      Drop(shard, key);
    }
  }

  // Forgets `key`; allocates nothing.
  static void Drop(Shard& shard, absl::string_view key) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    if (auto found = shard.index.find(key); found != shard.index.end()) {
      shard.entries.erase(found->second);
      shard.index.erase(found);
    }
  }

  const size_t shard_count_;
  const size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace hermes::storage
