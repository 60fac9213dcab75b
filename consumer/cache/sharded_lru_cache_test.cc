#include "cache/sharded_lru_cache.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "cache/lru_cache.h"

namespace kvstream::cache {
namespace {

using Evicted = std::vector<std::pair<int, int>>;

LruOptions<int, int> recording(size_t max_entries, Evicted* evicted) {
  LruOptions<int, int> o;
  o.max_entries = max_entries;
  o.max_bytes = 40 * sizeof(int);  // so that weights matter too
  o.weigher = [](const int&, const int& v) { return static_cast<size_t>(v % 5) * sizeof(int); };
  o.on_evict = [evicted](const int& k, const int& v) { evicted->emplace_back(k, v); };
  return o;
}

TEST(ShardedLruCache, OneShardMatchesLruCacheOnRandomOperations) {
  Evicted plain_evicted;
  Evicted sharded_evicted;
  LruCache<int, int> plain(recording(12, &plain_evicted));
  ShardedLruCache<int, int> sharded(1, recording(12, &sharded_evicted));
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const int key = static_cast<int>(rng() % 30);
    const int value = static_cast<int>(rng() % 100);
    switch (rng() % 12) {
      case 0:
      case 1:
      case 2:
        ASSERT_EQ(plain.add(key, value), sharded.add(key, value)) << step;
        break;
      case 3:
      case 4:
        ASSERT_EQ(plain.get(key), sharded.get(key)) << step;
        break;
      case 5:
        ASSERT_EQ(plain.peek(key), sharded.peek(key)) << step;
        ASSERT_EQ(plain.contains(key), sharded.contains(key)) << step;
        break;
      case 6:
        ASSERT_EQ(plain.remove(key), sharded.remove(key)) << step;
        break;
      case 7:
        ASSERT_EQ(plain.contains_or_add(key, value), sharded.contains_or_add(key, value)) << step;
        break;
      case 8:
        ASSERT_EQ(plain.peek_or_add(key, value), sharded.peek_or_add(key, value)) << step;
        break;
      case 9:
        ASSERT_EQ(plain.get_oldest(), sharded.get_oldest()) << step;
        ASSERT_EQ(plain.remove_oldest(), sharded.remove_oldest()) << step;
        break;
      case 10: {
        auto even = [](const int& v) { return v % 2 == 0; };
        ASSERT_EQ(plain.get_if(key, even), sharded.get_if(key, even)) << step;
        break;
      }
      default: {
        if (rng() % 50 == 0) {
          plain.purge();
          sharded.purge();
        } else {
          const size_t n = 1 + rng() % 16;
          ASSERT_EQ(plain.resize(n), sharded.resize(n)) << step;
        }
        break;
      }
    }
    ASSERT_EQ(plain.keys(), sharded.keys()) << step;
    ASSERT_EQ(plain.len(), sharded.len()) << step;
    ASSERT_EQ(plain_evicted, sharded_evicted) << step;
    plain_evicted.clear();
    sharded_evicted.clear();
  }
  const CacheStats a = plain.stats();
  const CacheStats b = sharded.stats();
  EXPECT_EQ(a.hits, b.hits);
  EXPECT_EQ(a.misses, b.misses);
  EXPECT_EQ(a.evictions, b.evictions);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_GT(a.evictions, 0u);
}

TEST(ShardedLruCache, RejectsBadShardCounts) {
  LruOptions<int, int> o;
  o.max_entries = 8;
  EXPECT_THROW((ShardedLruCache<int, int>(0, o)), std::invalid_argument);
  EXPECT_THROW((ShardedLruCache<int, int>(3, o)), std::invalid_argument);
  EXPECT_THROW((ShardedLruCache<int, int>(16, o)), std::invalid_argument);
  ShardedLruCache<int, int> cache(8, o);
  EXPECT_THROW(cache.resize(4), std::invalid_argument);
}

TEST(ShardedLruCache, StaysWithinTheTotalBoundAcrossShards) {
  Evicted evicted;
  LruOptions<int, int> o;
  o.max_entries = 64;
  o.on_evict = [&evicted](const int& k, const int& v) { evicted.emplace_back(k, v); };
  ShardedLruCache<int, int> cache(8, o);
  EXPECT_EQ(cache.shard_count(), 8u);
  for (int k = 0; k < 1000; ++k) cache.add(k, k);
  const CacheStats s = cache.stats();
  EXPECT_LE(s.entries, 64u);
  EXPECT_GT(s.entries, 32u);  // keys spread over the shards
  EXPECT_EQ(s.entries + s.evictions, 1000u);
  EXPECT_EQ(evicted.size(), s.evictions);
  EXPECT_EQ(cache.len(), s.entries);

  std::vector<int> keys = cache.keys();
  EXPECT_EQ(keys.size(), s.entries);
  EXPECT_EQ(std::set<int>(keys.begin(), keys.end()).size(), keys.size());
  for (int k : keys) EXPECT_EQ(cache.peek(k), k);

  const size_t before = cache.len();
  const size_t resized_away = cache.resize(8);
  EXPECT_LE(cache.len(), 8u);
  EXPECT_EQ(cache.len(), before - resized_away);
  cache.purge();
  EXPECT_EQ(cache.len(), 0u);
}

TEST(ShardedLruCache, RemoveOldestDrainsEveryShard) {
  LruOptions<int, int> o;
  o.max_entries = 64;
  ShardedLruCache<int, int> cache(4, o);
  for (int k = 0; k < 20; ++k) cache.add(k, k * 10);
  std::set<int> drained;
  while (auto oldest = cache.get_oldest()) {
    auto removed = cache.remove_oldest();
    ASSERT_EQ(removed, oldest);
    EXPECT_EQ(removed->second, removed->first * 10);
    drained.insert(removed->first);
  }
  EXPECT_EQ(drained.size(), 20u);
  EXPECT_EQ(cache.remove_oldest(), std::nullopt);
}

TEST(ShardedLruCache, CallbackMayCallBackIntoTheCache) {
  LruOptions<int, int> o;
  o.max_entries = 1;
  ShardedLruCache<int, int>* self = nullptr;
  std::vector<bool> seen_present;
  o.on_evict = [&](const int& k, const int&) { seen_present.push_back(self->contains(k)); };
  ShardedLruCache<int, int> cache(1, o);
  self = &cache;
  cache.add(1, 1);
  cache.add(2, 2);  // would deadlock if the callback ran under the shard lock
  EXPECT_EQ(seen_present, std::vector<bool>{false});
}

}  // namespace
}  // namespace kvstream::cache
