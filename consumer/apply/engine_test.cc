#include "apply/engine.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_store.h"

namespace kvstream::apply {
namespace {

schema::Event put(int32_t p, int64_t offset, std::string key, std::string value) {
  schema::Event e;
  e.op = schema::Op::kPut;
  e.key = std::move(key);
  e.value = std::move(value);
  e.position = Position{p, offset};
  return e;
}

schema::Event del(int32_t p, int64_t offset, std::string key) {
  schema::Event e;
  e.op = schema::Op::kDelete;
  e.key = std::move(key);
  e.position = Position{p, offset};
  return e;
}

class ApplyEngineTest : public ::testing::Test {
 protected:
  fakes::FakeStore store_;
  AppliedView view_;
  ApplyEngine engine_{"t", store_, view_, BatchLimits{}};
};

TEST_F(ApplyEngineTest, AppliesABatchPerPartitionAndReportsCommitPositions) {
  engine_.assign({0, 1});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_event(put(0, 1, "a", "2"));
  engine_.add_event(put(1, 0, "b", "x"));
  engine_.add_event(del(1, 1, "b"));
  FlushResult r = engine_.flush();
  EXPECT_EQ(r.applied, (std::map<int32_t, int64_t>{{0, 2}, {1, 2}}));
  EXPECT_EQ(store_.transactions, 2);
  EXPECT_EQ(store_.rows_written, 2);  // coalesced: one row per key
  EXPECT_EQ(store_.rows["a"].value, "2");
  EXPECT_FALSE(store_.rows["b"].value.has_value());  // a tombstone
  EXPECT_EQ(view_.applied(), (std::map<int32_t, int64_t>{{0, 2}, {1, 2}}));
  EXPECT_FALSE(engine_.has_pending());
}

TEST_F(ApplyEngineTest, ResumesFromTheStoredPositionAndIgnoresRedeliveries) {
  store_.offsets[0] = 5;
  auto start = engine_.assign({0, 3});
  EXPECT_EQ(start, (std::map<int32_t, int64_t>{{0, 5}, {3, store::kNoOffset}}));
  engine_.add_event(put(0, 4, "old", "x"));  // below the applied position
  EXPECT_FALSE(engine_.has_pending());
  engine_.add_event(put(0, 5, "new", "y"));
  engine_.add_event(put(0, 5, "new", "dup"));  // redelivered offset
  engine_.flush();
  EXPECT_EQ(store_.rows.count("old"), 0u);
  EXPECT_EQ(store_.rows["new"].value, "y");
  EXPECT_EQ(store_.offsets[0], 6);
}

TEST_F(ApplyEngineTest, SkippedRecordsAdvanceThePosition) {
  engine_.assign({0});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_skipped(0, 1);  // dead-lettered
  EXPECT_EQ(engine_.flush().applied.at(0), 2);
  engine_.add_skipped(0, 2);
  EXPECT_TRUE(engine_.has_pending());
  EXPECT_EQ(engine_.flush().applied.at(0), 3);
  EXPECT_EQ(store_.offsets[0], 3);
}

TEST_F(ApplyEngineTest, FencedBatchWritesNothingAndAdoptsTheStoredPosition) {
  engine_.assign({0});
  store_.offsets[0] = 10;  // another replica applied meanwhile
  engine_.add_event(put(0, 0, "a", "stale"));
  FlushResult r = engine_.flush();
  EXPECT_TRUE(r.applied.empty());
  EXPECT_EQ(r.fenced, (std::map<int32_t, int64_t>{{0, 10}}));
  EXPECT_EQ(store_.rows.count("a"), 0u);
  EXPECT_EQ(engine_.next_offsets().at(0), 10);
}

TEST_F(ApplyEngineTest, TransientFailureKeepsPendingWorkForRetry) {
  engine_.assign({0});
  engine_.add_event(put(0, 0, "a", "1"));
  store_.fail_next(1);
  EXPECT_THROW(engine_.flush(), Error);
  EXPECT_TRUE(engine_.has_pending());
  EXPECT_EQ(engine_.flush().applied.at(0), 1);
  EXPECT_EQ(store_.rows["a"].value, "1");
}

TEST_F(ApplyEngineTest, RevokeDropsPendingWorkOfThatPartition) {
  engine_.assign({0, 1});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_event(put(1, 0, "b", "1"));
  engine_.revoke({0});
  engine_.add_event(put(0, 1, "c", "1"));  // no longer ours
  FlushResult r = engine_.flush();
  EXPECT_EQ(r.applied, (std::map<int32_t, int64_t>{{1, 1}}));
  EXPECT_EQ(store_.rows.count("a"), 0u);
  EXPECT_EQ(store_.rows.count("c"), 0u);
  EXPECT_EQ(view_.applied().count(0), 0u);
}

TEST_F(ApplyEngineTest, FlushesWhenABoundIsReached) {
  fakes::FakeStore store;
  AppliedView view;
  ApplyEngine engine("t", store, view, BatchLimits{3, 1 << 20, std::chrono::hours(1)});
  engine.assign({0});
  const auto now = ApplyEngine::Clock::now();
  engine.add_event(put(0, 0, "a", "1"));
  engine.add_event(put(0, 1, "b", "1"));
  EXPECT_FALSE(engine.should_flush(now));
  engine.add_event(put(0, 2, "c", "1"));
  EXPECT_TRUE(engine.should_flush(now));

  ApplyEngine timed("t", store, view, BatchLimits{1000, 1 << 20, std::chrono::milliseconds(50)});
  timed.assign({1});
  timed.add_event(put(1, 0, "a", "1"));
  EXPECT_FALSE(timed.should_flush(ApplyEngine::Clock::now() - std::chrono::seconds(1)));
  EXPECT_TRUE(timed.should_flush(ApplyEngine::Clock::now() + std::chrono::milliseconds(60)));
}

}  // namespace
}  // namespace kvstream::apply
