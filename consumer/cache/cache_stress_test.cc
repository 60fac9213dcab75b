// Many readers and one writer on the thread-safe caches, with evictions.
// Bounded work: each reader does a fixed number of operations, and the writer
// writes a minimum number of times and until all readers are done (well under
// 10 s, a few times that under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/sharded_lru_cache.h"
#include "cache/view_cache.h"

namespace kvstream::cache {
namespace {

constexpr int kReaders = 4;

// Counts readers in and out, so that the writer overlaps all of them.
struct ReaderGate {
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  void wait_for_all_started() const {
    while (started.load() < kReaders) std::this_thread::yield();
  }
  bool all_finished() const { return finished.load() == kReaders; }
};

// What the writer stores: its fields are checked against each other.
struct Versioned {
  int key = 0;
  int64_t version = 0;
  int64_t check = 0;  // key * 1'000'003 + version
};

TEST(CacheStress, ShardedCacheHoldsItsBoundsAndOnlyWrittenValues) {
  constexpr int kKeys = 512;
  constexpr int kReads = 100000;  // per reader
  constexpr int64_t kMinWrites = 20000;
  LruOptions<int, Versioned> o;
  o.max_entries = 128;
  o.max_bytes = 128 * 40;
  o.weigher = [](const int& k, const Versioned&) { return static_cast<size_t>(k % 64); };
  ShardedLruCache<int, Versioned> cache(8, o);

  std::vector<std::atomic<int64_t>> written(kKeys);  // the latest version added per key
  ReaderGate gate;

  auto reader = [&](unsigned seed) {
    gate.started.fetch_add(1);
    std::mt19937 rng(seed);
    for (int i = 0; i < kReads; ++i) {
      const int key = static_cast<int>(rng() % kKeys);
      const auto value = rng() % 2 ? cache.get(key) : cache.peek(key);
      if (value) {
        EXPECT_EQ(value->key, key);
        EXPECT_EQ(value->check, key * 1'000'003LL + value->version);
        EXPECT_LE(value->version, written[static_cast<size_t>(key)].load());
      }
      if (rng() % 512 == 0) {
        const CacheStats s = cache.stats();
        EXPECT_LE(s.entries, o.max_entries);
        EXPECT_LE(s.bytes, o.max_bytes);
        EXPECT_LE(cache.keys().size(), o.max_entries);
      }
    }
    gate.finished.fetch_add(1);
  };

  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) readers.emplace_back(reader, 100 + i);
  gate.wait_for_all_started();
  std::mt19937 rng(1);
  for (int64_t version = 1; version <= kMinWrites || !gate.all_finished(); ++version) {
    const int key = static_cast<int>(rng() % kKeys);
    written[static_cast<size_t>(key)].store(version);
    if (rng() % 16 == 0) {
      cache.remove(key);
    } else {
      cache.add(key, Versioned{key, version, key * 1'000'003LL + version});
    }
  }
  for (auto& t : readers) t.join();

  const CacheStats s = cache.stats();
  EXPECT_LE(s.entries, o.max_entries);
  EXPECT_LE(s.bytes, o.max_bytes);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(s.hits, 0u);
}

// The writer plays the apply path (commit to the "database", then apply) and
// churns the ownership of one partition; readers read through. No reader may
// ever see a row older than one applied before its lookup.
void never_older_than_applied(bool insert_on_apply) {
  constexpr int kKeys = 256;
  constexpr int kReads = 20000;  // per reader
  constexpr int64_t kMinApplies = 10000;
  ViewCacheOptions o;
  o.max_entries = 64;
  o.shards = 4;
  o.max_partitions = 2;
  o.insert_on_apply = insert_on_apply;
  ViewCache cache(o);
  cache.own_partitions({0, 1});

  auto partition_of = [](int key) { return key % 2; };
  auto name = [](int key) { return "key-" + std::to_string(key); };
  auto row_at = [](int32_t p, int64_t offset) {
    if (offset == kAbsentOffset || offset % 7 == 0) return CachedRow{std::nullopt, "", p, offset};
    return CachedRow{"v" + std::to_string(offset), "text/plain", p, offset};
  };

  std::vector<std::atomic<int64_t>> database(kKeys);  // committed offset per key
  std::vector<std::atomic<int64_t>> applied(kKeys);   // offset whose apply() returned
  for (int k = 0; k < kKeys; ++k) {
    database[static_cast<size_t>(k)].store(kAbsentOffset);
    applied[static_cast<size_t>(k)].store(kAbsentOffset);
  }
  ReaderGate gate;
  std::atomic<int64_t> hits{0};
  std::atomic<int64_t> fills{0};

  auto reader = [&](unsigned seed) {
    gate.started.fetch_add(1);
    std::mt19937 rng(seed);
    for (int i = 0; i < kReads; ++i) {
      const int key = static_cast<int>(rng() % kKeys);
      const size_t k = static_cast<size_t>(key);
      const int32_t p = partition_of(key);
      const int64_t floor = applied[k].load();
      if (auto row = cache.lookup(name(key), p)) {
        EXPECT_GE(row->offset, floor) << name(key);
        EXPECT_EQ(row->partition, p);
        if (row->value) {
          EXPECT_EQ(*row->value, "v" + std::to_string(row->offset));
        } else {
          EXPECT_TRUE(row->offset == kAbsentOffset || row->offset % 7 == 0);
        }
        hits.fetch_add(1);
        continue;
      }
      ReadTicket ticket = cache.begin_read(name(key), p);
      const int64_t read = database[k].load();
      if (rng() % 4 == 0) std::this_thread::yield();  // widen the race window
      if (cache.fill(ticket, name(key), row_at(p, read))) fills.fetch_add(1);
    }
    gate.finished.fetch_add(1);
  };

  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) readers.emplace_back(reader, 200 + i);
  gate.wait_for_all_started();
  std::mt19937 rng(2);
  for (int64_t offset = 0; offset < kMinApplies || !gate.all_finished(); ++offset) {
    const int key = static_cast<int>(rng() % kKeys);
    const size_t k = static_cast<size_t>(key);
    database[k].store(offset);                                  // commit
    cache.apply(name(key), row_at(partition_of(key), offset));  // then cache
    applied[k].store(offset);
    if (offset % 2000 == 1999) {  // a revoke and a reassignment
      cache.drop_partition(1);
      cache.own_partitions({1});
    }
  }
  for (auto& t : readers) t.join();

  const CacheStats s = cache.stats();
  EXPECT_LE(s.entries, o.max_entries);
  EXPECT_LE(s.bytes, o.max_bytes);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(hits.load(), 0);
  EXPECT_GT(fills.load(), 0);
}

TEST(CacheStress, ViewCacheNeverServesARowOlderThanApplied) { never_older_than_applied(false); }

TEST(CacheStress, AWriteThroughViewCacheNeverServesARowOlderThanApplied) {
  never_older_than_applied(true);
}

}  // namespace
}  // namespace kvstream::cache
