#include "cache/expiring_lru_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kvstream::cache {
namespace {

using std::chrono::seconds;

// A clock that moves only when told to.
struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  ExpiringLruCache<std::string, int>::Clock clock() {
    return [this] { return now; };
  }
};

LruOptions<std::string, int> capacity(size_t n) {
  LruOptions<std::string, int> o;
  o.max_entries = n;
  return o;
}

TEST(ExpiringLruCache, EntryIsFreshUntilTheTtlHasPassed) {
  FakeClock time;
  ExpiringLruCache<std::string, int> cache(seconds(10), capacity(4), time.clock());
  cache.add("a", 1);
  time.now += seconds(9);
  EXPECT_EQ(cache.get("a"), 1);
  time.now += seconds(1);  // exactly ttl after add: expired
  EXPECT_EQ(cache.get("a"), std::nullopt);
}

TEST(ExpiringLruCache, ExpiredEntryIsAMissAndIsRemovedWhenSeen) {
  FakeClock time;
  std::vector<std::pair<std::string, int>> evicted;
  LruOptions<std::string, int> o = capacity(4);
  o.on_evict = [&](const std::string& k, const int& v) { evicted.emplace_back(k, v); };
  ExpiringLruCache<std::string, int> cache(seconds(10), o, time.clock());
  cache.add("a", 1);
  cache.add("b", 2);
  time.now += seconds(11);
  EXPECT_EQ(cache.len(), 2u);  // not seen yet
  EXPECT_EQ(cache.get("a"), std::nullopt);
  EXPECT_EQ(cache.len(), 1u);
  EXPECT_EQ(evicted, (std::vector<std::pair<std::string, int>>{{"a", 1}}));
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 1u);
}

TEST(ExpiringLruCache, GetDoesNotExtendTheTtlButAddDoes) {
  FakeClock time;
  ExpiringLruCache<std::string, int> cache(seconds(10), capacity(4), time.clock());
  cache.add("read", 1);
  cache.add("rewritten", 1);
  time.now += seconds(6);
  EXPECT_EQ(cache.get("read"), 1);
  cache.add("rewritten", 2);
  time.now += seconds(6);
  EXPECT_EQ(cache.get("read"), std::nullopt);
  EXPECT_EQ(cache.get("rewritten"), 2);
}

TEST(ExpiringLruCache, PeekContainsAndKeysIgnoreExpiredEntries) {
  FakeClock time;
  ExpiringLruCache<std::string, int> cache(seconds(10), capacity(4), time.clock());
  cache.add("old", 1);
  time.now += seconds(5);
  cache.add("new", 2);
  time.now += seconds(6);
  EXPECT_EQ(cache.peek("old"), std::nullopt);
  EXPECT_FALSE(cache.contains("old"));
  EXPECT_EQ(cache.peek("new"), 2);
  EXPECT_TRUE(cache.contains("new"));
  EXPECT_EQ(cache.keys(), std::vector<std::string>{"new"});
  EXPECT_EQ(cache.len(), 2u);  // peek leaves the expired entry in place
}

TEST(ExpiringLruCache, LruBoundsStillApply) {
  FakeClock time;
  ExpiringLruCache<std::string, int> cache(seconds(10), capacity(2), time.clock());
  cache.add("a", 1);
  cache.add("b", 2);
  cache.get("a");
  EXPECT_TRUE(cache.add("c", 3));
  EXPECT_EQ(cache.keys(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(cache.resize(1), 1u);
  EXPECT_TRUE(cache.remove("c"));
  cache.add("d", 4);
  cache.purge();
  EXPECT_EQ(cache.len(), 0u);
}

TEST(ExpiringLruCache, RejectsNonPositiveTtl) {
  EXPECT_THROW((ExpiringLruCache<std::string, int>(seconds(0), capacity(1))),
               std::invalid_argument);
}

TEST(ExpiringLruCache, UsesTheSteadyClockByDefault) {
  ExpiringLruCache<std::string, int> cache(seconds(3600), capacity(1));
  cache.add("a", 1);
  EXPECT_EQ(cache.get("a"), 1);
}

}  // namespace
}  // namespace kvstream::cache
