// CachedView on a fake ViewReader: the read-through fills the cache, the
// apply-side hooks keep it coherent (refresh, negative entries, drop,
// fence), and a read that raced an apply does not put an older row back.
#include "view/cached_view.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "common/kafka_partitioner.h"
#include "tests/fakes/fake_view_reader.h"

namespace kvstream::view {
namespace {

constexpr int32_t kPartitions = 4;

class CachedViewTest : public ::testing::Test {
 protected:
  CachedViewTest() {
    status.set_partition_count(kPartitions);
    view.own({0, 1, 2, 3});
  }

  // The row read() answers, or nullopt on an error.
  static std::optional<Row> read(CachedView& v, const std::string& key) {
    std::optional<Row> out;
    v.read(key, [&](std::shared_ptr<const Row> row, const Error* error) {
      if (error == nullptr) out = *row;
    });
    return out;
  }

  // Commits one event of `key` at `offset` in its partition.
  void apply(const std::string& key, int64_t offset, std::optional<std::string> value) {
    const int32_t partition = partition_for_key(key, kPartitions);
    schema::Event e;
    e.key = key;
    e.op = value ? schema::Op::kPut : schema::Op::kDelete;
    e.value = value.value_or("");
    e.position = Position{partition, offset};
    view.applied(partition, {e});
  }

  static std::optional<std::string> value_of(const std::shared_ptr<const Row>& row) {
    return row ? row->value : std::optional<std::string>("(not cached)");
  }

  const int32_t p = partition_for_key("user:1", kPartitions);
  fakes::FakeViewReader reader;
  ReplicaStatus status;
  CachedView view{reader, status, std::make_unique<cache::ViewCache>()};
};

TEST_F(CachedViewTest, AReadFillsTheCacheSoTheNextLookupHits) {
  reader.put("user:1", std::string("v1"), {p, 3}, "text/plain");
  EXPECT_EQ(view.cached("user:1"), nullptr);
  const auto row = read(view, "user:1");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->value, "v1");
  EXPECT_EQ(row->content_type, "text/plain");
  EXPECT_EQ(row->partition, p);
  EXPECT_EQ(row->offset, 3);
  EXPECT_EQ(value_of(view.cached("user:1")), "v1");
  EXPECT_EQ(reader.gets(), 1U);
}

TEST_F(CachedViewTest, AKeyNeverWrittenIsCachedAsAbsent) {
  const auto row = read(view, "user:1");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->value, std::nullopt);
  ASSERT_NE(view.cached("user:1"), nullptr);
  EXPECT_EQ(view.cached("user:1")->value, std::nullopt);
}

TEST_F(CachedViewTest, AnAppliedBatchRefreshesAHeldKeyAndCachesADeleteAsNegative) {
  reader.put("user:1", std::string("v1"), {p, 3});
  read(view, "user:1");
  apply("user:1", 4, std::string("v2"));
  EXPECT_EQ(value_of(view.cached("user:1")), "v2");
  apply("user:1", 5, std::nullopt);
  ASSERT_NE(view.cached("user:1"), nullptr);
  EXPECT_EQ(view.cached("user:1")->value, std::nullopt);
  EXPECT_EQ(view.cached("user:1")->offset, 5);
}

TEST_F(CachedViewTest, TheApplyPathDoesNotCacheKeysNobodyRead) {
  apply("user:1", 4, std::string("v2"));
  EXPECT_EQ(view.cached("user:1"), nullptr);
}

TEST_F(CachedViewTest, AReadThatRacedAnApplyDoesNotPutTheOlderRowBack) {
  reader.put("user:1", std::string("old"), {p, 3});
  reader.hold_gets(true);
  std::optional<Row> answered;
  view.read("user:1", [&](std::shared_ptr<const Row> row, const Error*) { answered = *row; });
  apply("user:1", 4, std::string("new"));  // committed while the query ran
  EXPECT_EQ(reader.release_gets(), 1U);
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->value, "old");  // what the query saw
  EXPECT_EQ(view.cached("user:1"), nullptr);
}

TEST_F(CachedViewTest, ADroppedPartitionIsNotServedAndAFencedOneStartsEmpty) {
  reader.put("user:1", std::string("v1"), {p, 3});
  read(view, "user:1");
  view.fence(p);
  EXPECT_EQ(view.cached("user:1"), nullptr);
  read(view, "user:1");  // still owned: cached again
  EXPECT_EQ(value_of(view.cached("user:1")), "v1");
  view.drop(p);
  EXPECT_EQ(view.cached("user:1"), nullptr);
  read(view, "user:1");  // not owned: not cached
  EXPECT_EQ(view.cached("user:1"), nullptr);
  EXPECT_EQ(reader.gets(), 3U);
}

TEST_F(CachedViewTest, NothingIsCachedBeforeThePartitionCountIsKnown) {
  ReplicaStatus fresh;
  CachedView v(reader, fresh, std::make_unique<cache::ViewCache>());
  v.own({0, 1, 2, 3});
  reader.put("user:1", std::string("v1"), {p, 3});
  EXPECT_EQ(read(v, "user:1")->value, "v1");
  EXPECT_EQ(v.cached("user:1"), nullptr);
}

TEST_F(CachedViewTest, WithoutACacheEveryReadGoesToTheReader) {
  CachedView v(reader, status, nullptr);
  reader.put("user:1", std::string("v1"), {p, 3});
  read(v, "user:1");
  read(v, "user:1");
  EXPECT_EQ(v.cached("user:1"), nullptr);
  EXPECT_EQ(reader.gets(), 2U);
  EXPECT_FALSE(v.caching());
  EXPECT_EQ(v.cache_stats(), std::nullopt);
}

TEST_F(CachedViewTest, ADatabaseErrorIsPassedOnAndCachesNothing) {
  reader.set_down(true);
  bool failed = false;
  view.read("user:1", [&](std::shared_ptr<const Row> row, const Error* error) {
    failed = row == nullptr && error != nullptr && error->retryable();
  });
  EXPECT_TRUE(failed);
  EXPECT_EQ(view.cached("user:1"), nullptr);
}

}  // namespace
}  // namespace kvstream::view
