#include "cache/lru_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kvstream::cache {
namespace {

using Evicted = std::vector<std::pair<int, int>>;

// A cache of ints that records what its callback saw.
struct Recorded {
  explicit Recorded(size_t max_entries)
      : cache(max_entries, [this](const int& k, const int& v) { evicted.emplace_back(k, v); }) {}
  Evicted evicted;
  LruCache<int, int> cache;
};

TEST(LruCache, EvictsLeastRecentlyUsed) {
  Recorded r(2);
  EXPECT_FALSE(r.cache.add(1, 10));
  EXPECT_FALSE(r.cache.add(2, 20));
  EXPECT_EQ(r.cache.get(1), 10);
  EXPECT_TRUE(r.cache.add(3, 30));
  EXPECT_EQ(r.evicted, (Evicted{{2, 20}}));
  EXPECT_EQ(r.cache.get(2), std::nullopt);
  EXPECT_EQ(r.cache.get(1), 10);
  EXPECT_EQ(r.cache.get(3), 30);
}

TEST(LruCache, AddReplacesValueWithoutEviction) {
  Recorded r(2);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  EXPECT_FALSE(r.cache.add(1, 11));
  EXPECT_EQ(r.cache.len(), 2u);
  EXPECT_EQ(r.cache.peek(1), 11);
  EXPECT_TRUE(r.evicted.empty());
  // The replaced key became the newest, so 2 goes first.
  r.cache.add(3, 30);
  EXPECT_EQ(r.evicted, (Evicted{{2, 20}}));
}

TEST(LruCache, EvictsInLeastRecentlyUsedOrder) {
  Recorded r(3);
  for (int k = 1; k <= 3; ++k) r.cache.add(k, k);
  r.cache.get(1);
  r.cache.get(2);
  for (int k = 4; k <= 6; ++k) r.cache.add(k, k);
  EXPECT_EQ(r.evicted, (Evicted{{3, 3}, {1, 1}, {2, 2}}));
}

TEST(LruCache, PeekAndContainsDoNotTouchRecency) {
  Recorded r(2);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  EXPECT_EQ(r.cache.peek(1), 10);
  EXPECT_TRUE(r.cache.contains(1));
  EXPECT_EQ(r.cache.peek(9), std::nullopt);
  EXPECT_FALSE(r.cache.contains(9));
  r.cache.add(3, 30);
  EXPECT_EQ(r.evicted, (Evicted{{1, 10}}));
}

TEST(LruCache, KeysAreOldestFirst) {
  LruCache<int, int> cache(4);
  EXPECT_TRUE(cache.keys().empty());
  for (int k : {5, 6, 7, 8}) cache.add(k, k);
  cache.get(6);
  cache.add(5, 50);
  EXPECT_EQ(cache.keys(), (std::vector<int>{7, 8, 6, 5}));
}

TEST(LruCache, RemoveCallsCallbackLikeHashicorp) {
  Recorded r(3);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  EXPECT_TRUE(r.cache.remove(1));
  EXPECT_FALSE(r.cache.remove(1));
  EXPECT_EQ(r.evicted, (Evicted{{1, 10}}));
  EXPECT_EQ(r.cache.len(), 1u);
  EXPECT_EQ(r.cache.stats().evictions, 0u);
}

TEST(LruCache, PurgeEmptiesAndReportsEveryEntryOldestFirst) {
  Recorded r(3);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  r.cache.get(1);
  r.cache.purge();
  EXPECT_EQ(r.evicted, (Evicted{{2, 20}, {1, 10}}));
  EXPECT_EQ(r.cache.len(), 0u);
  EXPECT_EQ(r.cache.stats().bytes, 0u);
  EXPECT_FALSE(r.cache.contains(1));
  // Usable afterwards.
  r.cache.add(3, 30);
  EXPECT_EQ(r.cache.keys(), (std::vector<int>{3}));
}

TEST(LruCache, ResizeDownEvictsOldest) {
  Recorded r(5);
  for (int k = 1; k <= 5; ++k) r.cache.add(k, k);
  r.cache.get(1);
  EXPECT_EQ(r.cache.resize(2), 3u);
  EXPECT_EQ(r.evicted, (Evicted{{2, 2}, {3, 3}, {4, 4}}));
  EXPECT_EQ(r.cache.keys(), (std::vector<int>{5, 1}));
  EXPECT_EQ(r.cache.max_entries(), 2u);
  EXPECT_EQ(r.cache.resize(10), 0u);
  for (int k = 10; k < 20; ++k) r.cache.add(k, k);
  EXPECT_EQ(r.cache.len(), 10u);
}

TEST(LruCache, RejectsZeroCapacity) {
  EXPECT_THROW((LruCache<int, int>(0)), std::invalid_argument);
  LruCache<int, int> cache(1);
  EXPECT_THROW(cache.resize(0), std::invalid_argument);
}

TEST(LruCache, RemoveOldestAndGetOldest) {
  Recorded r(3);
  EXPECT_EQ(r.cache.get_oldest(), std::nullopt);
  EXPECT_EQ(r.cache.remove_oldest(), std::nullopt);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  r.cache.add(3, 30);
  r.cache.get(1);
  EXPECT_EQ(r.cache.get_oldest(), std::make_pair(2, 20));
  EXPECT_EQ(r.cache.get_oldest(), std::make_pair(2, 20));  // did not touch recency
  EXPECT_EQ(r.cache.remove_oldest(), std::make_pair(2, 20));
  EXPECT_EQ(r.cache.remove_oldest(), std::make_pair(3, 30));
  EXPECT_EQ(r.evicted, (Evicted{{2, 20}, {3, 30}}));
  EXPECT_EQ(r.cache.keys(), (std::vector<int>{1}));
}

TEST(LruCache, ContainsOrAdd) {
  Recorded r(2);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  EXPECT_EQ(r.cache.contains_or_add(1, 99), std::make_pair(true, false));
  EXPECT_EQ(r.cache.peek(1), 10);  // not replaced
  // 1 was not touched, so it is still the oldest.
  EXPECT_EQ(r.cache.contains_or_add(3, 30), std::make_pair(false, true));
  EXPECT_EQ(r.evicted, (Evicted{{1, 10}}));
  EXPECT_EQ(r.cache.peek(3), 30);
}

TEST(LruCache, PeekOrAdd) {
  Recorded r(2);
  r.cache.add(1, 10);
  r.cache.add(2, 20);
  auto [previous, evicted] = r.cache.peek_or_add(1, 99);
  EXPECT_EQ(previous, 10);
  EXPECT_FALSE(evicted);
  EXPECT_EQ(r.cache.peek(1), 10);
  auto [none, evicted_now] = r.cache.peek_or_add(3, 30);
  EXPECT_EQ(none, std::nullopt);
  EXPECT_TRUE(evicted_now);
  EXPECT_EQ(r.evicted, (Evicted{{1, 10}}));
}

TEST(LruCache, GetIfRemovesInvalidEntryAsAMiss) {
  Recorded r(3);
  r.cache.add(1, 10);
  r.cache.add(2, -20);
  auto positive = [](const int& v) { return v > 0; };
  EXPECT_EQ(r.cache.get_if(1, positive), 10);
  EXPECT_EQ(r.cache.get_if(2, positive), std::nullopt);
  EXPECT_EQ(r.cache.get_if(3, positive), std::nullopt);
  EXPECT_FALSE(r.cache.contains(2));
  EXPECT_EQ(r.evicted, (Evicted{{2, -20}}));
  const CacheStats s = r.cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.evictions, 0u);
}

TEST(LruCache, AddIfStoresOnlyWhenThePredicateAgrees) {
  LruCache<int, int> cache(2);
  auto if_greater = [](int v) { return [v](const int* cur) { return !cur || *cur < v; }; };
  EXPECT_EQ(cache.add_if(1, 5, if_greater(5)), std::make_pair(true, false));
  EXPECT_EQ(cache.add_if(1, 3, if_greater(3)), std::make_pair(false, false));
  EXPECT_EQ(cache.peek(1), 5);
  EXPECT_EQ(cache.add_if(1, 7, if_greater(7)), std::make_pair(true, false));
  EXPECT_EQ(cache.peek(1), 7);
  cache.add(2, 0);
  EXPECT_EQ(cache.add_if(3, 1, if_greater(1)), std::make_pair(true, true));
}

// Weighs an entry by its value's length.
LruOptions<std::string, std::string> by_length(size_t max_entries, size_t max_bytes,
                                               std::vector<std::string>* evicted) {
  LruOptions<std::string, std::string> o;
  o.max_entries = max_entries;
  o.max_bytes = max_bytes;
  o.weigher = [](const std::string&, const std::string& v) { return v.size(); };
  o.on_evict = [evicted](const std::string& k, const std::string&) { evicted->push_back(k); };
  return o;
}

TEST(LruCache, ByteBoundEvictsOldestUntilUnder) {
  std::vector<std::string> evicted;
  LruCache<std::string, std::string> cache(by_length(100, 10, &evicted));
  EXPECT_FALSE(cache.add("a", "xxxx"));
  EXPECT_FALSE(cache.add("b", "xxxx"));
  EXPECT_EQ(cache.stats().bytes, 8u);
  EXPECT_TRUE(cache.add("c", "xxxxxxxx"));  // 16 bytes: a and b go
  EXPECT_EQ(evicted, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cache.stats().bytes, 8u);
  EXPECT_EQ(cache.stats().evictions, 2u);
  EXPECT_EQ(cache.keys(), (std::vector<std::string>{"c"}));
}

TEST(LruCache, ReplacingAValueReweighsIt) {
  std::vector<std::string> evicted;
  LruCache<std::string, std::string> cache(by_length(100, 10, &evicted));
  cache.add("a", "xxx");
  cache.add("b", "xxx");
  EXPECT_FALSE(cache.add("a", "x"));
  EXPECT_EQ(cache.stats().bytes, 4u);
  EXPECT_TRUE(cache.add("a", "xxxxxxxx"));  // 11 bytes: b goes, a stays
  EXPECT_EQ(evicted, (std::vector<std::string>{"b"}));
  EXPECT_EQ(cache.stats().bytes, 8u);
}

TEST(LruCache, EntryHeavierThanByteBoundIsNotStored) {
  std::vector<std::string> evicted;
  LruCache<std::string, std::string> cache(by_length(100, 10, &evicted));
  cache.add("a", "xxx");
  EXPECT_FALSE(cache.add("big", std::string(11, 'x')));
  EXPECT_FALSE(cache.contains("big"));
  EXPECT_EQ(cache.keys(), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(evicted.empty());
  // Replacing a cached value with one too heavy drops the old value too.
  EXPECT_TRUE(cache.add("a", std::string(11, 'x')));
  EXPECT_FALSE(cache.contains("a"));
  EXPECT_EQ(evicted, (std::vector<std::string>{"a"}));
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(LruCache, DefaultWeightIsTheSizeOfKeyAndValue) {
  LruCache<int, double> cache(10);
  cache.add(1, 1.0);
  cache.add(2, 2.0);
  EXPECT_EQ(cache.stats().bytes, 2 * (sizeof(int) + sizeof(double)));
}

TEST(LruCache, StatsCountHitsMissesAndEvictions) {
  LruCache<int, int> cache(2);
  cache.add(1, 1);
  cache.add(2, 2);
  cache.get(1);
  cache.get(1);
  cache.get(7);
  cache.peek(2);  // not counted
  cache.add(3, 3);
  cache.add(4, 4);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, 2 * (sizeof(int) + sizeof(int)));
}

TEST(LruCache, HoldsLongAndShortStrings) {
  LruCache<std::string, std::string> cache(2);
  cache.add(std::string(100, 'k'), std::string(100, 'v'));
  cache.add("short", "v");
  cache.add("third", "v");
  EXPECT_FALSE(cache.contains(std::string(100, 'k')));
  EXPECT_EQ(cache.get("short"), "v");
}

// A plainly written LRU to compare against: a list, newest at the back.
class ReferenceLru {
 public:
  explicit ReferenceLru(size_t max_entries) : max_(max_entries) {}

  bool add(int k, int v) {
    auto it = find(k);
    if (it != items_.end()) items_.erase(it);
    items_.emplace_back(k, v);
    return shrink() > 0;
  }
  std::optional<int> get(int k) {
    auto it = find(k);
    if (it == items_.end()) return std::nullopt;
    auto item = *it;
    items_.erase(it);
    items_.push_back(item);
    return item.second;
  }
  bool remove(int k) {
    auto it = find(k);
    if (it == items_.end()) return false;
    items_.erase(it);
    return true;
  }
  size_t resize(size_t n) {
    max_ = n;
    return shrink();
  }
  std::vector<int> keys() const {
    std::vector<int> out;
    for (const auto& item : items_) out.push_back(item.first);
    return out;
  }

 private:
  std::list<std::pair<int, int>>::iterator find(int k) {
    return std::find_if(items_.begin(), items_.end(), [k](const auto& i) { return i.first == k; });
  }
  size_t shrink() {
    size_t n = 0;
    for (; items_.size() > max_; ++n) items_.pop_front();
    return n;
  }

  size_t max_;
  std::list<std::pair<int, int>> items_;
};

TEST(LruCache, MatchesAPlainListModelOnRandomOperations) {
  std::mt19937 rng(42);
  LruCache<int, int> cache(16);
  ReferenceLru model(16);
  for (int step = 0; step < 20000; ++step) {
    const int key = static_cast<int>(rng() % 40);
    switch (rng() % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        ASSERT_EQ(cache.add(key, step), model.add(key, step)) << step;
        break;
      case 4:
      case 5:
      case 6:
        ASSERT_EQ(cache.get(key), model.get(key)) << step;
        break;
      case 7:
      case 8:
        ASSERT_EQ(cache.remove(key), model.remove(key)) << step;
        break;
      default: {
        const size_t n = 1 + rng() % 24;
        ASSERT_EQ(cache.resize(n), model.resize(n)) << step;
        break;
      }
    }
    ASSERT_EQ(cache.keys(), model.keys()) << step;
    ASSERT_EQ(cache.len(), model.keys().size());
  }
}

}  // namespace
}  // namespace kvstream::cache
