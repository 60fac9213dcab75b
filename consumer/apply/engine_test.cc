#include "apply/engine.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/fakes/events.h"
#include "tests/fakes/fake_store.h"

namespace kvstream::apply {
namespace {

using namespace std::chrono_literals;

using fakes::del;
using fakes::put;

// Applies synchronously through InlineExecutor on a FakeStore; flush() is
// what the service does on shutdown: submit everything, collect outcomes.
class ApplyEngineTest : public ::testing::Test {
 protected:
  Progress flush() {
    engine_.dispatch(ApplyEngine::Clock::now(), /*force=*/true);
    engine_.collect();
    return engine_.take_progress();
  }

  fakes::FakeStore store_;
  InlineExecutor executor_{store_};
  view::ReplicaStatus view_;
  ApplyEngine engine_{"t", store_, executor_, view_, BatchLimits{}};
};

TEST_F(ApplyEngineTest, AppliesABatchPerPartitionAndReportsCommitPositions) {
  engine_.assign({0, 1});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_event(put(0, 1, "a", "2"));
  engine_.add_event(put(1, 0, "b", "x"));
  engine_.add_event(del(1, 1, "b"));
  Progress r = flush();
  EXPECT_EQ(r.applied, (std::map<int32_t, int64_t>{{0, 2}, {1, 2}}));
  EXPECT_EQ(store_.transactions, 2);
  EXPECT_EQ(store_.rows_written, 2);  // coalesced: one row per key
  EXPECT_EQ(store_.rows["a"].value, "2");
  EXPECT_FALSE(store_.rows["b"].value.has_value());  // a tombstone
  EXPECT_EQ(view_.applied(), (std::map<int32_t, int64_t>{{0, 2}, {1, 2}}));
  ASSERT_EQ(r.batches.size(), 2u);
  EXPECT_EQ(r.batches[0].events_in + r.batches[1].events_in, 4u);
  EXPECT_TRUE(engine_.idle());
}

TEST_F(ApplyEngineTest, ResumesFromTheStoredPositionAndIgnoresRedeliveries) {
  store_.offsets[0] = 5;
  auto start = engine_.assign({0, 3});
  EXPECT_EQ(start, (std::map<int32_t, int64_t>{{0, 5}, {3, store::kNoOffset}}));
  engine_.add_event(put(0, 4, "old", "x"));  // below the applied position
  EXPECT_TRUE(engine_.idle());
  engine_.add_event(put(0, 5, "new", "y"));
  engine_.add_event(put(0, 5, "new", "dup"));  // redelivered offset
  flush();
  EXPECT_EQ(store_.rows.count("old"), 0u);
  EXPECT_EQ(store_.rows["new"].value, "y");
  EXPECT_EQ(store_.offsets[0], 6);
}

TEST_F(ApplyEngineTest, SkippedRecordsAdvanceThePosition) {
  engine_.assign({0});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_skipped(0, 1);  // dead-lettered
  EXPECT_EQ(flush().applied.at(0), 2);
  engine_.add_skipped(0, 2);
  EXPECT_FALSE(engine_.idle());
  EXPECT_EQ(flush().applied.at(0), 3);
  EXPECT_EQ(store_.offsets[0], 3);
}

TEST_F(ApplyEngineTest, ARecordHeldBackIsNeverPassed) {
  engine_.assign({0, 1});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.hold_back(0, 1);  // could not be dead-lettered
  engine_.add_event(put(0, 2, "b", "2"));
  engine_.add_skipped(0, 3);
  engine_.add_event(put(1, 0, "c", "3"));  // other partitions go on
  Progress r = flush();
  EXPECT_EQ(r.applied, (std::map<int32_t, int64_t>{{0, 1}, {1, 1}}));
  EXPECT_EQ(store_.rows.count("b"), 0u);
  EXPECT_EQ(store_.offsets[0], 1);
  EXPECT_TRUE(engine_.idle());
  // A new ownership starts afresh.
  engine_.revoke({0}, ApplyEngine::Clock::now());
  engine_.assign({0});
  engine_.add_event(put(0, 1, "a", "again"));
  EXPECT_EQ(flush().applied.at(0), 2);
}

TEST_F(ApplyEngineTest, AReleasedRecordIsSkippedAndThePartitionTakesRecordsAgain) {
  engine_.assign({0});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.hold_back(0, 1);                 // its dead letter is on its way
  engine_.add_event(put(0, 2, "b", "2"));  // refused meanwhile, read again later
  EXPECT_EQ(flush().applied.at(0), 1);
  engine_.release(0, 5);  // not the record held: nothing
  engine_.add_event(put(0, 2, "b", "2"));
  EXPECT_EQ(store_.rows.count("b"), 0u);
  engine_.release(0, 1);  // delivered
  engine_.add_event(put(0, 2, "b", "2"));
  EXPECT_EQ(flush().applied.at(0), 3);
  EXPECT_EQ(store_.rows["b"].value, "2");
  EXPECT_EQ(store_.offsets[0], 3);
}

TEST_F(ApplyEngineTest, FencedBatchWritesNothingAndAdoptsTheStoredPosition) {
  engine_.assign({0});
  store_.offsets[0] = 10;  // another replica applied meanwhile
  engine_.add_event(put(0, 0, "a", "stale"));
  Progress r = flush();
  EXPECT_TRUE(r.applied.empty());
  EXPECT_EQ(r.fenced, (std::map<int32_t, int64_t>{{0, 10}}));
  EXPECT_EQ(store_.rows.count("a"), 0u);
  EXPECT_EQ(engine_.next_offset(0), 10);
  // Records below the adopted position are now redeliveries.
  engine_.add_event(put(0, 9, "b", "stale"));
  EXPECT_TRUE(engine_.idle());
}

// A fence while a record's dead letter is on its way: the partition starts
// again from the stored position, and the record's late release moves
// nothing. It used to count the held record as skipped, moving the position
// past every record between the stored position and it (a chaos run, seed
// 1658640345, lost a partition's records 2912 to 3332 this way).
TEST_F(ApplyEngineTest, AFenceForgetsARecordHeldForItsDeadLetter) {
  engine_.assign({0});
  store_.offsets[0] = 3;  // another writer moved the partition on
  engine_.add_event(put(0, 0, "a", "stale"));
  engine_.hold_back(0, 8);  // a later record's dead letter is on its way
  EXPECT_EQ(flush().fenced, (std::map<int32_t, int64_t>{{0, 3}}));
  engine_.release(0, 8);                   // its late delivery
  engine_.add_event(put(0, 3, "b", "1"));  // read again from the stored position
  EXPECT_EQ(flush().applied.at(0), 4);
  EXPECT_EQ(store_.rows["b"].value, "1");
  EXPECT_EQ(store_.offsets[0], 4);
}

TEST_F(ApplyEngineTest, TransientFailurePausesAndRetriesTheSameBatch) {
  engine_.assign({0});
  engine_.add_event(put(0, 0, "a", "1"));
  store_.fail_next(1);
  Progress failed = flush();
  EXPECT_EQ(failed.retries, 1u);
  EXPECT_TRUE(failed.applied.empty());
  EXPECT_EQ(failed.pause, std::vector<int32_t>{0});
  EXPECT_FALSE(engine_.idle());
  // Not before the backoff has passed...
  engine_.dispatch(ApplyEngine::Clock::now());
  engine_.collect();
  EXPECT_TRUE(engine_.take_progress().applied.empty());
  // ...and once it has, the same events apply, and the partition resumes.
  engine_.add_event(put(0, 1, "b", "2"));
  engine_.dispatch(ApplyEngine::Clock::now() + 10s);
  engine_.collect();
  Progress ok = engine_.take_progress();
  EXPECT_EQ(ok.applied.at(0), 2);
  EXPECT_EQ(ok.resume, std::vector<int32_t>{0});
  EXPECT_EQ(store_.rows["a"].value, "1");
  EXPECT_EQ(store_.rows["b"].value, "2");
}

TEST_F(ApplyEngineTest, ARetriedBatchThatComesBackFencedResumesThePartition) {
  engine_.assign({0});
  engine_.add_event(put(0, 0, "a", "1"));
  store_.fail_next(1);
  engine_.dispatch(ApplyEngine::Clock::now(), true);
  engine_.collect();
  EXPECT_EQ(engine_.take_progress().pause, std::vector<int32_t>{0});
  store_.offsets[0] = 7;  // meanwhile another replica applied the partition
  engine_.dispatch(ApplyEngine::Clock::now() + 1h);
  engine_.collect();
  Progress r = engine_.take_progress();
  EXPECT_EQ(r.fenced.at(0), 7);
  EXPECT_EQ(r.resume, std::vector<int32_t>{0});
  engine_.add_event(put(0, 7, "b", "2"));
  engine_.dispatch(ApplyEngine::Clock::now() + 2h);
  engine_.collect();
  EXPECT_EQ(engine_.take_progress().applied.at(0), 8);
}

TEST_F(ApplyEngineTest, FatalStoreErrorIsReported) {
  class Broken : public fakes::FakeStore {
   public:
    store::ApplyOutcome apply(const store::PartitionBatch&) override {
      throw Error(ErrorKind::kFatal, "schema mismatch");
    }
  } broken;
  InlineExecutor executor(broken);
  ApplyEngine engine("t", broken, executor, view_, BatchLimits{});
  engine.assign({0});
  engine.add_event(put(0, 0, "a", "1"));
  engine.dispatch(ApplyEngine::Clock::now(), true);
  engine.collect();
  Progress r = engine.take_progress();
  ASSERT_TRUE(r.fatal.has_value());
  EXPECT_EQ(r.fatal->kind(), ErrorKind::kFatal);
}

TEST_F(ApplyEngineTest, RevokeDropsPendingWorkOfThatPartition) {
  engine_.assign({0, 1});
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_event(put(1, 0, "b", "1"));
  engine_.revoke({0}, ApplyEngine::Clock::now());
  engine_.add_event(put(0, 1, "c", "1"));  // no longer ours
  Progress r = flush();
  EXPECT_EQ(r.applied, (std::map<int32_t, int64_t>{{1, 1}}));
  EXPECT_EQ(store_.rows.count("a"), 0u);
  EXPECT_EQ(store_.rows.count("c"), 0u);
  EXPECT_EQ(view_.applied().count(0), 0u);
}

// A batch that comes back fenced while its partition is being revoked: the
// fence is the next owner's business, not reported (the service would move
// the view's position of a partition it no longer owns; the 30-minute soak
// of seed 4130400790 saw such a replica keep the partition in its status and
// answer every read at a position of it 504).
TEST_F(ApplyEngineTest, AFenceThatComesBackDuringARevokeIsNotReported) {
  engine_.assign({0, 1});
  store_.offsets[0] = 10;  // another replica applied meanwhile
  engine_.add_event(put(0, 0, "a", "stale"));
  engine_.add_event(put(1, 0, "b", "1"));
  engine_.dispatch(ApplyEngine::Clock::now(), /*force=*/true);  // applied, not yet collected
  engine_.revoke({0}, ApplyEngine::Clock::now() + 10s);
  Progress r = engine_.take_progress();
  EXPECT_EQ(r.fenced.count(0), 0u);
  EXPECT_EQ(view_.applied().count(0), 0u);
  engine_.collect();
  EXPECT_EQ(engine_.take_progress().fenced.count(0), 0u);
  EXPECT_EQ(view_.applied(), (std::map<int32_t, int64_t>{{1, 1}}));
}

TEST_F(ApplyEngineTest, SubmitsOnlyWhenABoundIsReached) {
  ApplyEngine engine("t", store_, executor_, view_, BatchLimits{3, 1 << 20, 1h, 4});
  engine.assign({0});
  engine.add_event(put(0, 0, "a", "1"));
  engine.add_event(put(0, 1, "b", "1"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(store_.transactions, 0);
  engine.add_event(put(0, 2, "c", "1"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(store_.transactions, 1);

  ApplyEngine timed("t", store_, executor_, view_, BatchLimits{1000, 1 << 20, 50ms, 4});
  timed.assign({1});
  timed.add_event(put(1, 0, "a", "1"));
  timed.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(store_.transactions, 1);
  timed.dispatch(ApplyEngine::Clock::now() + 60ms);
  EXPECT_EQ(store_.transactions, 2);

  ApplyEngine by_bytes("t", store_, executor_, view_, BatchLimits{1000, 10, 1h, 4});
  by_bytes.assign({2});
  by_bytes.add_event(put(2, 0, "k", "0123456789"));
  by_bytes.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(store_.transactions, 3);
}

// Holds submitted batches until the test completes them.
class HoldingExecutor : public BatchExecutor {
 public:
  explicit HoldingExecutor(store::Store& store) : store_(store) {}
  void submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) override {
    held_.emplace_back(std::move(batch), std::move(done));
  }
  void complete_all() {
    auto held = std::move(held_);
    held_.clear();
    for (auto& [batch, done] : held) done(apply_batch(store_, std::move(batch)));
  }
  size_t held() const { return held_.size(); }

 private:
  store::Store& store_;
  std::vector<std::pair<store::PartitionBatch, std::function<void(BatchResult)>>> held_;
};

TEST_F(ApplyEngineTest, OneBatchInFlightPerPartitionAndBacklogPauses) {
  HoldingExecutor holding(store_);
  ApplyEngine engine("t", store_, holding, view_, BatchLimits{2, 1 << 20, 1h, 2});
  engine.assign({0, 1});
  engine.add_event(put(0, 0, "a", "1"));
  engine.add_event(put(0, 1, "b", "1"));
  engine.add_event(put(1, 0, "x", "1"));
  engine.add_event(put(1, 1, "y", "1"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 2u);  // partitions in parallel
  for (int64_t o = 2; o < 6; ++o) engine.add_event(put(0, o, "k" + std::to_string(o), "v"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 2u);  // partition 0 waits for its batch in flight
  EXPECT_EQ(engine.take_progress().pause, std::vector<int32_t>{0});  // 4 pending >= 2 x 2
  holding.complete_all();
  engine.collect();
  engine.dispatch(ApplyEngine::Clock::now());  // the backlog goes out as one batch
  EXPECT_EQ(holding.held(), 1u);
  Progress p = engine.take_progress();
  EXPECT_EQ(p.applied, (std::map<int32_t, int64_t>{{0, 2}, {1, 2}}));
  EXPECT_EQ(p.resume, std::vector<int32_t>{0});
  holding.complete_all();
  engine.collect();
  EXPECT_EQ(engine.take_progress().applied.at(0), 6);
  EXPECT_TRUE(engine.idle());
}

TEST_F(ApplyEngineTest, ABacklogPausesAtTheConfiguredFactorOfTheBatchBounds) {
  HoldingExecutor holding(store_);
  ApplyEngine engine("t", store_, holding, view_, BatchLimits{2, 1 << 20, 1h, 3});
  engine.assign({0});
  engine.add_event(put(0, 0, "a", "1"));
  engine.add_event(put(0, 1, "b", "1"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 1u);  // a full batch goes out
  for (int64_t o = 2; o <= 6; ++o) engine.add_event(put(0, o, "k" + std::to_string(o), "v"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_TRUE(engine.take_progress().pause.empty()) << "5 pending < 3 x 2";
  engine.add_event(put(0, 7, "k7", "v"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(engine.take_progress().pause, std::vector<int32_t>{0});  // 6 pending >= 3 x 2
  holding.complete_all();
  engine.collect();
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(engine.take_progress().resume, std::vector<int32_t>{0});
  holding.complete_all();
  engine.collect();
  EXPECT_EQ(engine.take_progress().applied.at(0), 8);
}

TEST_F(ApplyEngineTest, ABacklogPausesAtTheConfiguredFactorOfTheByteBound) {
  HoldingExecutor holding(store_);
  // Batches of 20 bytes (key and value); a factor of 4.
  ApplyEngine engine("t", store_, holding, view_, BatchLimits{1000, 20, 1h, 4});
  engine.assign({0});
  engine.add_event(put(0, 0, "k00", std::string(17, 'v')));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 1u);  // a full batch goes out
  // 10 bytes each from here on.
  for (int64_t o = 1; o <= 7; ++o) {
    engine.add_event(put(0, o, "k0" + std::to_string(o), "1234567"));
  }
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_TRUE(engine.take_progress().pause.empty()) << "70 bytes pending < 4 x 20";
  engine.add_event(put(0, 8, "k08", "1234567"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(engine.take_progress().pause, std::vector<int32_t>{0});  // 80 >= 4 x 20
  holding.complete_all();
}

TEST_F(ApplyEngineTest, FailureWhileMoreArrivesKeepsOffsetOrder) {
  engine_.assign({0});
  store_.fail_next(1);
  engine_.add_event(put(0, 0, "a", "1"));
  engine_.add_event(put(0, 1, "b", "1"));
  engine_.dispatch(ApplyEngine::Clock::now(), true);  // fails: back to pending, paused
  engine_.collect();
  EXPECT_EQ(engine_.take_progress().pause, std::vector<int32_t>{0});
  engine_.add_event(put(0, 2, "a", "2"));  // a later event of the same key
  engine_.dispatch(ApplyEngine::Clock::now() + 1h);
  engine_.collect();
  Progress r = engine_.take_progress();
  EXPECT_EQ(r.applied.at(0), 3);
  EXPECT_EQ(r.resume, std::vector<int32_t>{0});
  EXPECT_EQ(store_.rows["a"].value, "2");
  EXPECT_EQ(store_.rows["a"].offset, 2);
}

TEST_F(ApplyEngineTest, AnIdlePartitionSubmitsItsFirstEventAtOnceAndGroupsWhatArrivesMeanwhile) {
  // The defaults: no wait for a bigger batch; while a batch commits, what
  // arrives is the next batch (group commit), submitted when it finishes.
  HoldingExecutor holding(store_);
  int woken = 0;
  ApplyEngine engine("t", store_, holding, view_, BatchLimits{}, [&] { ++woken; });
  engine.assign({0});
  engine.add_event(put(0, 0, "a", "1"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 1u);  // at once
  EXPECT_EQ(engine.next_deadline(), std::nullopt);
  for (int64_t o = 1; o <= 3; ++o) engine.add_event(put(0, o, "k" + std::to_string(o), "v"));
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 1u);                    // one batch in flight per partition
  EXPECT_EQ(engine.next_deadline(), std::nullopt);  // the completion wakes the caller
  holding.complete_all();
  EXPECT_EQ(woken, 1);
  engine.collect();
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(holding.held(), 1u);  // the three as one batch
  holding.complete_all();
  engine.collect();
  Progress p = engine.take_progress();
  ASSERT_EQ(p.batches.size(), 2u);
  EXPECT_EQ(p.batches[0].events_in, 1u);
  EXPECT_EQ(p.batches[1].events_in, 3u);
  EXPECT_EQ(p.applied.at(0), 4);
  EXPECT_EQ(woken, 2);
}

TEST_F(ApplyEngineTest, AHeldBackBatchHasADeadline) {
  ApplyEngine timed("t", store_, executor_, view_, BatchLimits{1000, 1 << 20, 50ms, 4});
  timed.assign({0});
  EXPECT_EQ(timed.next_deadline(), std::nullopt);
  const auto before = ApplyEngine::Clock::now();
  timed.add_event(put(0, 0, "a", "1"));
  timed.dispatch(ApplyEngine::Clock::now());
  ASSERT_TRUE(timed.next_deadline().has_value());
  EXPECT_GE(*timed.next_deadline(), before + 50ms);
  EXPECT_LE(*timed.next_deadline(), ApplyEngine::Clock::now() + 50ms);
}

TEST_F(ApplyEngineTest, AppliedAndCoalescedEventsLendTheirBuffersToTheNextOnes) {
  engine_.assign({0});
  const std::string big(1000, 'v');
  engine_.add_event(put(0, 0, "a", big));
  engine_.add_event(put(0, 1, "a", big));  // coalesced away
  flush();
  schema::Event first = engine_.take_spare();
  schema::Event second = engine_.take_spare();
  EXPECT_GE(first.value.capacity(), big.size());
  EXPECT_GE(second.value.capacity(), big.size());
  EXPECT_EQ(engine_.take_spare().value.capacity(), schema::Event{}.value.capacity());  // pool empty
  // A recycled event decodes like a new one.
  engine_.recycle(std::move(first));
  schema::Event reused = engine_.take_spare();
  reused.op = schema::Op::kDelete;
  reused.key = "b";
  reused.value.clear();
  reused.position = Position{0, 2};
  engine_.add_event(std::move(reused));
  flush();
  EXPECT_FALSE(store_.rows["b"].value.has_value());
  EXPECT_EQ(store_.rows["a"].value, big);
}

TEST_F(ApplyEngineTest, HeldMemoryOverTheBoundPausesEveryPartitionWithPendingWork) {
  HoldingExecutor holding(store_);
  BatchLimits limits;
  limits.max_held_bytes = 8 * 1024;  // a few events of 1000-byte values
  ApplyEngine engine("t", store_, holding, view_, limits);
  engine.assign({0, 1, 2});
  const std::string value(1000, 'v');
  engine.add_event(put(0, 0, "a", value));
  engine.add_event(put(1, 0, "b", value));
  engine.dispatch(ApplyEngine::Clock::now());  // both in flight
  EXPECT_TRUE(engine.take_progress().pause.empty());
  for (int64_t o = 1; o <= 4; ++o) engine.add_event(put(0, o, "a" + std::to_string(o), value));
  for (int64_t o = 1; o <= 4; ++o) engine.add_event(put(1, o, "b" + std::to_string(o), value));
  EXPECT_GE(engine.held_bytes(), limits.max_held_bytes);
  engine.dispatch(ApplyEngine::Clock::now());
  // Over the bound: the partitions holding pending events pause; partition 2,
  // which holds nothing, keeps fetching.
  Progress over = engine.take_progress();
  EXPECT_EQ(over.pause, (std::vector<int32_t>{0, 1}));
  holding.complete_all();  // the first batches commit; the pending ones go out
  engine.collect();
  engine.dispatch(ApplyEngine::Clock::now());
  holding.complete_all();
  engine.collect();
  engine.dispatch(ApplyEngine::Clock::now());
  EXPECT_EQ(engine.held_bytes(), 0u);
  Progress drained = engine.take_progress();
  std::sort(drained.resume.begin(), drained.resume.end());
  EXPECT_EQ(drained.resume, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(drained.applied, (std::map<int32_t, int64_t>{{0, 5}, {1, 5}}));
  EXPECT_TRUE(engine.idle());
}

}  // namespace
}  // namespace kvstream::apply
