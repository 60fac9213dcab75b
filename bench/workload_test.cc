#include "bench/workload.h"

#include <gtest/gtest.h>

#include <set>

namespace kvstream::bench {
namespace {

TEST(Workload, IsAPureFunctionOfSeedAndIndex) {
  const Workload a(WorkloadSpec{}), b(WorkloadSpec{});
  WorkloadEvent x, y;
  for (int64_t i : {0, 1, 17, 1999999}) {
    a.event(i, x);
    b.event(i, y);
    EXPECT_EQ(x.key, y.key);
    EXPECT_EQ(x.value, y.value);
    EXPECT_EQ(x.is_delete, y.is_delete);
  }
  WorkloadSpec other;
  other.seed += 1;
  int same = 0;
  for (int64_t i = 0; i < 100; ++i) {
    a.event(i, x);
    Workload(other).event(i, y);
    same += x.key == y.key;
  }
  EXPECT_LT(same, 5);
}

TEST(Workload, HasTheShapeOfTheSpec) {
  WorkloadSpec spec;
  spec.events = 200000;
  const Workload w(spec);
  WorkloadEvent e;
  int64_t deletes = 0;
  std::set<std::string> keys;
  std::vector<int64_t> per_partition(6);
  for (int64_t i = 0; i < spec.events; ++i) {
    w.event(i, e);
    keys.insert(e.key);
    if (e.is_delete) {
      ++deletes;
      EXPECT_TRUE(e.value.empty());
    } else {
      ASSERT_EQ(e.value.size(), 100u);
    }
    const int32_t p = w.partition_of(e.key);
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 6);
    ++per_partition[static_cast<size_t>(p)];
  }
  EXPECT_NEAR(static_cast<double>(deletes) / static_cast<double>(spec.events), 0.10, 0.01);
  EXPECT_GT(keys.size(), 85000u);  // 200k draws over 100k keys: ~86.5% seen
  EXPECT_LE(keys.size(), 100000u);
  for (int64_t n : per_partition)
    EXPECT_NEAR(static_cast<double>(n), spec.events / 6.0, spec.events * 0.02);
}

TEST(Workload, UniqueKeysGiveEveryEventItsOwnKey) {
  WorkloadSpec spec;
  spec.events = 20000;
  spec.keys = 10;  // ignored
  spec.unique_keys = true;
  const Workload w(spec);
  WorkloadEvent e;
  std::set<std::string> keys;
  for (int64_t i = 0; i < spec.events; ++i) {
    w.event(i, e);
    keys.insert(e.key);
  }
  EXPECT_EQ(keys.size(), 20000u);
  w.event(17, e);
  EXPECT_EQ(e.key, "key-0000017");
  w.event(19999, e);
  EXPECT_EQ(e.key, "key-0019999");
}

// The Java client's murmur2 (Kafka's UtilsTest vectors): partition =
// (murmur2(key) & 0x7fffffff) % partitions.
TEST(Workload, PartitionsLikeTheJavaClient) {
  WorkloadSpec spec;
  spec.partitions = 1 << 30;
  const Workload w(spec);
  EXPECT_EQ(w.partition_of("21"), -973932308 & 0x7fffffff & ((1 << 30) - 1));
  EXPECT_EQ(w.partition_of("foobar"), -790332482 & 0x7fffffff & ((1 << 30) - 1));
  EXPECT_EQ(w.partition_of("a-little-bit-long-string"), -985981536 & 0x7fffffff & ((1 << 30) - 1));
}

TEST(Workload, SplitsByPartitionWithConsecutiveOffsets) {
  WorkloadSpec spec;
  spec.events = 10000;
  const Workload w(spec);
  const auto streams = events_by_partition(w);
  ASSERT_EQ(streams.size(), 6u);
  size_t total = 0;
  for (size_t p = 0; p < streams.size(); ++p) {
    for (size_t i = 0; i < streams[p].size(); ++i) {
      EXPECT_EQ(streams[p][i].position.partition, static_cast<int32_t>(p));
      EXPECT_EQ(streams[p][i].position.offset, static_cast<int64_t>(i));
    }
    total += streams[p].size();
  }
  EXPECT_EQ(total, 10000u);
}

TEST(Workload, StampsValues) {
  std::string v(100, 'x');
  stamp_value(v, 1712345678901);
  EXPECT_EQ(v.substr(0, 17), "ts=1712345678901;");
  EXPECT_EQ(v.size(), 100u);
}

}  // namespace
}  // namespace kvstream::bench
