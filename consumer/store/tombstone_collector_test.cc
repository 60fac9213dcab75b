// The collector's loop on a fake sweep: pages until the end of the table,
// interval after interval; a failed sweep does not end the loop; stop()
// ends a wait or a sweep. (The sweep's SQL runs against a real Postgres in
// tests/integration and tests/e2e/observability_test.cc.)
#include "store/tombstone_collector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>

#include "common/error.h"

namespace kvstream::store {
namespace {

using namespace std::chrono_literals;

// A table of `pages` pages of keys; each step deletes `per_page` tombstones.
// Records every step's arguments, and lets a test wait for a count of them.
class FakeTable {
 public:
  FakeTable(int pages, size_t per_page) : pages_(pages), per_page_(per_page) {}

  TombstoneCollector::Step open() {
    std::lock_guard<std::mutex> lock(mu_);
    ++opened_;
    if (fail_opens_ > 0) {
      --fail_opens_;
      throw Error(ErrorKind::kTransient, "Postgres is down");
    }
    return [this](std::chrono::seconds retention, size_t page, std::string& cursor) {
      std::lock_guard<std::mutex> step_lock(mu_);
      calls_.push_back({retention, page, cursor});
      const int at = cursor.empty() ? 0 : std::stoi(cursor);
      SweepStep step;
      step.ran = !locked_;
      if (step.ran) {
        step.scanned = page;
        step.deleted = per_page_;
        step.wrapped = at + 1 >= pages_;
        cursor = step.wrapped ? "" : std::to_string(at + 1);
      }
      changed_.notify_all();
      return step;
    };
  }

  struct Call {
    std::chrono::seconds retention;
    size_t page;
    std::string cursor;
  };

  // Waits (bounded) until `n` steps have run; true if they did.
  bool wait_steps(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, 20s, [&] { return calls_.size() >= n; });
  }
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int opened() {
    std::lock_guard<std::mutex> lock(mu_);
    return opened_;
  }
  void fail_next_opens(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_opens_ = n;
  }
  void lock_by_another_replica() {
    std::lock_guard<std::mutex> lock(mu_);
    locked_ = true;
  }

 private:
  const int pages_;
  const size_t per_page_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Call> calls_;
  int opened_ = 0;
  int fail_opens_ = 0;
  bool locked_ = false;
};

TombstoneCollectorSettings fast() {
  TombstoneCollectorSettings s;
  s.retention = 3600s;
  s.interval = 5ms;
  s.page = 100;
  s.pause = 1ms;
  return s;
}

// Waits (bounded) until the collector has finished `n` sweeps.
bool wait_sweeps(const TombstoneCollector& c, uint64_t n) {
  for (int i = 0; i < 2000 && c.sweeps() < n; ++i) std::this_thread::sleep_for(10ms);
  return c.sweeps() >= n;
}

TEST(TombstoneCollector, SweepsTheTableInPagesThenStartsOverAfterTheInterval) {
  FakeTable table(3, 7);
  TombstoneCollector collector(fast(), [&] { return table.open(); });
  collector.start();
  ASSERT_TRUE(wait_sweeps(collector, 2));
  collector.stop();

  const std::vector<FakeTable::Call> calls = table.calls();
  ASSERT_GE(calls.size(), 6u);
  // Each sweep walks the pages in order from the start, with the settings.
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(calls[i].cursor, i % 3 == 0 ? "" : std::to_string(i % 3)) << "step " << i;
    EXPECT_EQ(calls[i].retention, 3600s);
    EXPECT_EQ(calls[i].page, 100u);
  }
  EXPECT_GE(table.opened(), 2) << "each sweep opens its own session";
  EXPECT_EQ(collector.removed(), 7u * calls.size());
}

TEST(TombstoneCollector, TellsTheRowsEachStepRemoved) {
  FakeTable table(2, 5);
  std::atomic<size_t> told{0};
  std::atomic<int> calls{0};
  TombstoneCollector collector(
      fast(), [&] { return table.open(); },
      [&](size_t rows) {
        told += rows;
        ++calls;
      });
  collector.start();
  ASSERT_TRUE(wait_sweeps(collector, 1));
  collector.stop();
  EXPECT_EQ(told.load(), collector.removed());
  EXPECT_EQ(static_cast<size_t>(calls.load()), table.calls().size());
}

TEST(TombstoneCollector, AFailedSweepIsTriedAgainAtTheNextInterval) {
  FakeTable table(1, 2);
  table.fail_next_opens(3);
  TombstoneCollector collector(fast(), [&] { return table.open(); });
  collector.start();
  ASSERT_TRUE(wait_sweeps(collector, 1));
  collector.stop();
  EXPECT_GE(table.opened(), 4);
  EXPECT_GE(collector.removed(), 2u);
}

TEST(TombstoneCollector, AnotherReplicaCollectingEndsTheSweepAtOnce) {
  FakeTable table(1000, 1);
  table.lock_by_another_replica();
  TombstoneCollector collector(fast(), [&] { return table.open(); });
  collector.start();
  ASSERT_TRUE(wait_sweeps(collector, 3));
  collector.stop();
  // One step per sweep: the lock was taken, so the sweep did not go on.
  EXPECT_EQ(table.calls().size(), collector.sweeps());
  EXPECT_EQ(collector.removed(), 0u);
}

TEST(TombstoneCollector, StopEndsTheWaitForTheNextInterval) {
  FakeTable table(1, 1);
  TombstoneCollectorSettings s = fast();
  s.interval = std::chrono::hours(1);
  TombstoneCollector collector(s, [&] { return table.open(); });
  collector.start();
  auto stopped = std::async(std::launch::async, [&] { collector.stop(); });
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready) << "stop() waited for the interval";
  EXPECT_EQ(table.opened(), 0);
}

TEST(TombstoneCollector, StopEndsASweepUnderWay) {
  FakeTable table(1000000, 1);  // a sweep that would take hours
  TombstoneCollectorSettings s = fast();
  s.pause = 1ms;
  TombstoneCollector collector(s, [&] { return table.open(); });
  collector.start();
  ASSERT_TRUE(table.wait_steps(5));
  auto stopped = std::async(std::launch::async, [&] { collector.stop(); });
  ASSERT_EQ(stopped.wait_for(20s), std::future_status::ready) << "stop() waited for the sweep";
  EXPECT_LT(table.calls().size(), 1000000u);
  EXPECT_EQ(collector.sweeps(), 0u) << "a sweep stopped half-way is not a finished sweep";
}

}  // namespace
}  // namespace kvstream::store
