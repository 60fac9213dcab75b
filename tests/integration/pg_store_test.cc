// PgStore and PgReadPool against a real Postgres server.
#include "store/pg_store.h"

#include <gtest/gtest.h>

#include "schema/migrations.h"
#include "store/pg_reader.h"
#include "tests/fakes/events.h"
#include "tests/support/test_database.h"

namespace kvstream::testing {
namespace {

using fakes::del;
using fakes::put;

store::PartitionBatch batch(int32_t p, int64_t expected, int64_t next,
                            std::vector<schema::Event> events) {
  store::PartitionBatch b;
  b.topic = "events";
  b.partition = p;
  b.expected_next_offset = expected;
  b.new_next_offset = next;
  b.events = std::move(events);
  return b;
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = db_.connect();
    schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
  }

  std::optional<store::StoredRow> get(const std::string& key) {
    store::PgReadPool reads({db_.url()}, 2, std::chrono::seconds(2));
    return reads.get(key);
  }

  TestDatabase db_;
  store::PgStore store_{{db_.url()}};
};

TEST_F(PgStoreTest, AppliesRowsTombstonesAndThePositionTogether) {
  EXPECT_EQ(store_.apply(batch(0, store::kNoOffset, 3,
                               {put(0, 0, "a", std::string("\0\xff", 2), "application/x"),
                                put(0, 1, "b", ""), del(0, 2, "c")})),
            store::ApplyOutcome::kApplied);
  auto a = get("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, std::string("\0\xff", 2));
  EXPECT_EQ(a->content_type, "application/x");
  EXPECT_EQ(a->position, (Position{0, 0}));
  EXPECT_EQ(get("b")->value, "");  // an empty value is a value
  ASSERT_TRUE(get("c").has_value());
  EXPECT_FALSE(get("c")->value.has_value());  // a tombstone row
  EXPECT_FALSE(get("never").has_value());
  EXPECT_EQ(store_.load_next_offsets("events", {0, 1}), (std::map<int32_t, int64_t>{{0, 3}}));
}

TEST_F(PgStoreTest, AnOlderOffsetNeverOverwritesANewerOne) {
  store_.apply(batch(0, store::kNoOffset, 11, {put(0, 10, "k", "new")}));
  // A replay of an older event (positions rewound by an operator).
  pqxx::connection c(db_.url());
  pqxx::nontransaction(c).exec("UPDATE kv_offsets SET next_offset = 5");
  EXPECT_EQ(store_.apply(batch(0, 5, 6, {put(0, 5, "k", "old")})), store::ApplyOutcome::kApplied);
  EXPECT_EQ(get("k")->value, "new");
  store_.apply(batch(0, 6, 7, {del(0, 6, "k")}));
  EXPECT_EQ(get("k")->value, "new") << "an old DELETE resurrected nothing and deleted nothing";
}

TEST_F(PgStoreTest, AFencedBatchWritesNothing) {
  store_.apply(batch(1, store::kNoOffset, 4, {put(1, 3, "k", "v1")}));
  // A replica that still believes the partition is at 2 tries to write.
  EXPECT_EQ(store_.apply(batch(1, 2, 5, {put(1, 4, "k", "zombie")})), store::ApplyOutcome::kFenced);
  // And one that believes the partition was never applied.
  EXPECT_EQ(store_.apply(batch(1, store::kNoOffset, 5, {put(1, 4, "k", "zombie")})),
            store::ApplyOutcome::kFenced);
  EXPECT_EQ(get("k")->value, "v1");
  EXPECT_EQ(store_.load_next_offsets("events", {1}).at(1), 4);
}

TEST_F(PgStoreTest, AMissingPositionRowFencesAWriterThatExpectedOne) {
  store_.apply(batch(1, store::kNoOffset, 4, {put(1, 3, "k", "v1")}));
  // The position table is emptied under the running writer (an operator's
  // rebuild): it must start over, not carry on from where it was.
  pqxx::nontransaction(*db_.connect()).exec("TRUNCATE kv, kv_offsets");
  EXPECT_EQ(store_.apply(batch(1, 4, 6, {put(1, 5, "k", "late")})), store::ApplyOutcome::kFenced);
  EXPECT_FALSE(get("k").has_value());
  EXPECT_TRUE(store_.load_next_offsets("events", {1}).empty());
}

TEST_F(PgStoreTest, ReplayingTheSameBatchChangesNothing) {
  auto b = batch(2, store::kNoOffset, 2, {put(2, 0, "x", "1"), put(2, 1, "y", "2")});
  store_.apply(b);
  EXPECT_EQ(store_.apply(b), store::ApplyOutcome::kFenced);
  EXPECT_EQ(get("x")->value, "1");
}

TEST_F(PgStoreTest, KeysWithQuotesAndBackslashesRoundTrip) {
  const std::string key = "a\"b\\c{d},e NULL";
  store_.apply(batch(0, store::kNoOffset, 1, {put(0, 0, key, "v")}));
  EXPECT_EQ(get(key)->value, "v");
  EXPECT_FALSE(get("NULL").has_value());
}

}  // namespace
}  // namespace kvstream::testing
