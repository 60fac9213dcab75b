#include "cache/view_cache.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

namespace kvstream::cache {
namespace {

CachedRow put(std::string value, int32_t partition, int64_t offset) {
  return CachedRow{std::move(value), "text/plain", partition, offset};
}

CachedRow deleted(int32_t partition, int64_t offset) {
  return CachedRow{std::nullopt, "", partition, offset};
}

// Most tests seed entries through apply(): write-through. The default,
// refresh-only apply has tests of its own below.
ViewCacheOptions small(size_t max_entries) {
  ViewCacheOptions o;
  o.max_entries = max_entries;
  o.shards = 1;
  o.max_partitions = 8;
  o.insert_on_apply = true;
  return o;
}

ViewCacheOptions refresh_only(size_t max_entries) {
  ViewCacheOptions o = small(max_entries);
  o.insert_on_apply = false;
  return o;
}

TEST(ViewCacheRefreshOnly, ApplyOfAKeyNotHeldCachesNothing) {
  ViewCache cache(refresh_only(10));
  cache.own_partitions({0});
  bool built = false;
  cache.apply_with("k", 0, [&] {
    built = true;
    return put("v", 0, 1);
  });
  EXPECT_FALSE(built);  // no copy of the value for a key nobody read
  EXPECT_EQ(cache.lookup("k", 0), nullptr);
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(ViewCacheRefreshOnly, ApplyRefreshesAKeyAReadCached) {
  ViewCache cache(refresh_only(10));
  cache.own_partitions({0});
  ReadTicket t = cache.begin_read("k", 0);
  ASSERT_TRUE(cache.fill(t, "k", put("read", 0, 1)));
  cache.apply("k", put("applied", 0, 2));
  EXPECT_EQ(cache.lookup("k", 0)->value, "applied");
  cache.apply("k", deleted(0, 3));
  auto row = cache.lookup("k", 0);
  ASSERT_NE(row, nullptr);
  EXPECT_FALSE(row->value.has_value());  // a negative entry
  cache.apply("k", put("old", 0, 2));    // never older
  EXPECT_FALSE(cache.lookup("k", 0)->value.has_value());
}

TEST(ViewCacheRefreshOnly, AFillBegunBeforeAnApplyOfAKeyNotHeldIsRefused) {
  ViewCache cache(refresh_only(10));
  cache.own_partitions({0});
  ReadTicket t = cache.begin_read("k", 0);  // the reader queries: the old row
  cache.apply("k", put("new", 0, 5));       // committed meanwhile, not cached
  EXPECT_FALSE(cache.fill(t, "k", put("old", 0, 4)));
  EXPECT_EQ(cache.lookup("k", 0), nullptr);
}

TEST(ViewCache, ApplyThenLookupReturnsTheRow) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  cache.apply("k", put("v", 0, 7));
  auto row = cache.lookup("k", 0);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->value, "v");
  EXPECT_EQ(row->content_type, "text/plain");
  EXPECT_EQ(row->partition, 0);
  EXPECT_EQ(row->offset, 7);
  EXPECT_EQ(cache.lookup("other", 0), nullptr);
}

TEST(ViewCache, NewerIsNeverReplacedByOlder) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  cache.apply("k", put("new", 0, 10));
  cache.apply("k", put("old", 0, 5));
  EXPECT_EQ(cache.lookup("k", 0)->value, "new");
  cache.apply("k", put("same", 0, 10));  // a replay of the same position
  EXPECT_EQ(cache.lookup("k", 0)->value, "same");
  cache.apply("k", put("newer", 0, 11));
  EXPECT_EQ(cache.lookup("k", 0)->value, "newer");
}

TEST(ViewCache, PositionsOfDifferentPartitionsAreNotCompared) {
  ViewCache cache(small(10));
  cache.own_partitions({0, 1});
  cache.apply("k", put("on 0", 0, 100));
  cache.apply("k", put("on 1", 1, 3));
  EXPECT_EQ(cache.lookup("k", 1)->value, "on 1");
  EXPECT_EQ(cache.lookup("k", 0), nullptr);  // and the entry is dropped
}

TEST(ViewCache, DeletesAreCachedAsNegativeEntries) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  cache.apply("k", put("v", 0, 1));
  cache.apply("k", deleted(0, 2));
  auto row = cache.lookup("k", 0);
  ASSERT_NE(row, nullptr);  // a hit: no need to ask the database
  EXPECT_EQ(row->value, std::nullopt);
  EXPECT_EQ(row->offset, 2);
  cache.apply("k", put("stale", 0, 1));  // an old PUT cannot resurrect the key
  EXPECT_EQ(cache.lookup("k", 0)->value, std::nullopt);
  EXPECT_EQ(cache.stats().hits, 2u);
}

TEST(ViewCache, OnlyOwnedPartitionsAreCached) {
  ViewCache cache(small(10));
  EXPECT_FALSE(cache.owns(0));
  cache.apply("k", put("v", 0, 1));
  EXPECT_EQ(cache.lookup("k", 0), nullptr);
  cache.own_partitions({0, -1, 8, 1000});  // out of range ones are ignored
  EXPECT_TRUE(cache.owns(0));
  EXPECT_FALSE(cache.owns(8));
  EXPECT_EQ(cache.lookup("k", 0), nullptr);
  cache.apply("k", put("v", 8, 1));
  EXPECT_EQ(cache.lookup("k", 8), nullptr);
}

TEST(ViewCache, LookupUnderAnotherPartitionMisses) {
  ViewCache cache(small(10));
  cache.own_partitions({0, 1});
  cache.apply("k", put("v", 0, 1));
  EXPECT_EQ(cache.lookup("k", 1), nullptr);
}

TEST(ViewCache, FillCachesWhatTheReaderReadWhenNothingChanged) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  ReadTicket ticket = cache.begin_read("k", 0);
  EXPECT_TRUE(cache.fill(ticket, "k", put("from db", 0, 4)));
  EXPECT_EQ(cache.lookup("k", 0)->value, "from db");

  // A key the database never saw is cached as absent.
  ReadTicket absent = cache.begin_read("nope", 0);
  EXPECT_TRUE(cache.fill(absent, "nope", deleted(0, kAbsentOffset)));
  EXPECT_EQ(cache.lookup("nope", 0)->value, std::nullopt);
  cache.apply("nope", put("created", 0, 0));
  EXPECT_EQ(cache.lookup("nope", 0)->value, "created");
}

TEST(ViewCache, LateFillAfterANewerApplyIsRefused) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  ReadTicket ticket = cache.begin_read("k", 0);
  CachedRow read_by_reader = put("old", 0, 1);
  cache.apply("k", put("new", 0, 2));
  EXPECT_FALSE(cache.fill(ticket, "k", read_by_reader));
  EXPECT_EQ(cache.lookup("k", 0)->value, "new");
}

// The race the read-through guard exists for: the reader misses and reads an
// old row; the apply path commits and caches a newer row, which is evicted
// again before the reader returns. Only the generation check can refuse the
// late fill here: no entry is left to compare offsets with.
TEST(ViewCache, LateFillIsRefusedEvenIfTheNewerRowWasEvicted) {
  ViewCache cache(small(2));
  cache.own_partitions({0});

  ASSERT_EQ(cache.lookup("k", 0), nullptr);
  ReadTicket ticket = cache.begin_read("k", 0);
  CachedRow read_by_reader = put("old", 0, 1);  // the database before the apply

  cache.apply("k", put("new", 0, 2));
  cache.apply("x", put("x", 0, 3));
  cache.apply("y", put("y", 0, 4));  // evicts k
  ASSERT_EQ(cache.lookup("k", 0), nullptr);

  EXPECT_FALSE(cache.fill(ticket, "k", read_by_reader));
  EXPECT_EQ(cache.lookup("k", 0), nullptr);  // a miss, never the old row
}

TEST(ViewCache, FillNeverReplacesANewerEntry) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  ReadTicket slow = cache.begin_read("k", 0);
  ReadTicket fast = cache.begin_read("k", 0);
  EXPECT_TRUE(cache.fill(fast, "k", put("newer snapshot", 0, 9)));
  EXPECT_FALSE(cache.fill(slow, "k", put("older snapshot", 0, 8)));
  EXPECT_EQ(cache.lookup("k", 0)->offset, 9);
}

TEST(ViewCache, FillIsNotRefusedBecauseOtherKeysWereApplied) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  ReadTicket ticket = cache.begin_read("quiet", 0);
  cache.apply("busy", put("v", 0, 50));
  EXPECT_TRUE(cache.fill(ticket, "quiet", put("v", 0, 3)));
}

TEST(ViewCache, FillWithAMismatchedTicketIsRefused) {
  ViewCache cache(small(10));
  cache.own_partitions({0, 1});
  ReadTicket ticket = cache.begin_read("k", 0);
  EXPECT_FALSE(cache.fill(ticket, "other key", put("v", 0, 1)));
  EXPECT_FALSE(cache.fill(ticket, "k", put("v", 1, 1)));
  EXPECT_FALSE(cache.fill(ReadTicket{}, "k", put("v", 0, 1)));
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(ViewCache, DropPartitionMakesOnlyItsKeysMisses) {
  ViewCache cache(small(10));
  cache.own_partitions({0, 1});
  cache.apply("a", put("a", 0, 1));
  cache.apply("b", put("b", 1, 1));
  cache.drop_partition(0);
  EXPECT_FALSE(cache.owns(0));
  EXPECT_EQ(cache.lookup("a", 0), nullptr);
  EXPECT_EQ(cache.lookup("b", 1)->value, "b");

  // Owning it again does not bring back what was cached before: another
  // replica may have applied newer rows meanwhile.
  cache.apply("c", put("c", 0, 2));
  cache.own_partitions({0});
  EXPECT_EQ(cache.lookup("c", 0), nullptr);
  cache.apply("a", put("a2", 0, 9));
  EXPECT_EQ(cache.lookup("a", 0)->value, "a2");
}

TEST(ViewCache, DroppedEntriesAreRemovedWhenSeen) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  cache.apply("a", put("a", 0, 1));
  cache.drop_partition(0);
  EXPECT_EQ(cache.stats().entries, 1u);  // O(1) drop: nothing scanned
  EXPECT_EQ(cache.lookup("a", 0), nullptr);
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(ViewCache, FillBegunBeforeADropIsRefused) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  ReadTicket ticket = cache.begin_read("k", 0);
  cache.drop_partition(0);
  EXPECT_FALSE(cache.fill(ticket, "k", put("v", 0, 1)));
  cache.own_partitions({0});
  EXPECT_FALSE(cache.fill(ticket, "k", put("v", 0, 1)));
  EXPECT_EQ(cache.lookup("k", 0), nullptr);

  ReadTicket unowned = cache.begin_read("k", 3);
  EXPECT_FALSE(cache.fill(unowned, "k", put("v", 3, 1)));
}

TEST(ViewCache, StaysWithinTheByteBound) {
  ViewCacheOptions o = small(1000);
  o.max_bytes = 64 * 1024;
  ViewCache cache(o);
  cache.own_partitions({0});
  for (int i = 0; i < 200; ++i) {
    cache.apply("key" + std::to_string(i), put(std::string(1000, 'v'), 0, i));
    ASSERT_LE(cache.stats().bytes, o.max_bytes);
  }
  const CacheStats s = cache.stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LT(s.entries, 64u);
  EXPECT_EQ(cache.lookup("key199", 0)->offset, 199);

  // A row heavier than the bound is not cached, and its older row not kept.
  cache.apply("key199", put(std::string(o.max_bytes, 'v'), 0, 200));
  EXPECT_EQ(cache.lookup("key199", 0), nullptr);
}

TEST(ViewCache, StatsCountLookups) {
  ViewCache cache(small(10));
  cache.own_partitions({0});
  cache.apply("a", put("a", 0, 1));
  cache.lookup("a", 0);
  cache.lookup("b", 0);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_GT(s.bytes, 0u);
}

}  // namespace
}  // namespace kvstream::cache
