// Read-your-writes waits: satisfied by this replica's applied positions, by
// the database's (other replicas'), or failed at the deadline; also under
// concurrent waits and applies (run under ThreadSanitizer).
#include "http/position_waiter.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace kvstream::http {
namespace {

using namespace std::chrono_literals;
using Clock = PositionWaiter::Clock;

// The database's positions, settable by the test.
struct FakeDb {
  std::mutex mu;
  std::map<int32_t, int64_t> next;
  bool failing = false;
  std::atomic<int> polls{0};
  std::map<int32_t, int64_t> read() {
    polls.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    if (failing) throw Error(ErrorKind::kTransient, "database down");
    return next;
  }
};

struct Fixture {
  view::ReplicaStatus view;
  FakeDb db;
  PositionWaiter waiter{view, [this] { return db.read(); }, 5ms};
  Fixture() {
    view.set_listener([this] { waiter.notify(); });
  }
  std::future<bool> wait(std::vector<Position> positions, std::chrono::milliseconds timeout) {
    auto done = std::make_shared<std::promise<bool>>();
    auto f = done->get_future();
    waiter.wait(std::move(positions), Clock::now() + timeout,
                [done](bool applied) { done->set_value(applied); });
    return f;
  }
};

// A database poll that does not return (a half-open link holds it up to
// the statement timeout and a grace) must not hold back deadlines or local
// applies: the soak of 4a2de86 saw a PUT's 504 come after 19.7 s instead of
// 3 s (finding 17).
TEST(PositionWaiter, ADatabasePollThatHangsDelaysNoDeadlineAndNoLocalApply) {
  view::ReplicaStatus view;
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, released = false;
  PositionWaiter waiter{view,
                        [&] {
                          std::unique_lock<std::mutex> lock(mu);
                          entered = true;
                          cv.notify_all();
                          cv.wait(lock, [&] { return released; });
                          return std::map<int32_t, int64_t>{};
                        },
                        1ms};
  view.set_listener([&] { waiter.notify(); });
  auto release = [&] {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  };
  struct Releaser {
    std::function<void()> f;
    ~Releaser() { f(); }
  } releaser{release};

  // A wait on another replica's partition starts a poll, which hangs.
  auto remote = std::make_shared<std::promise<bool>>();
  auto remote_done = remote->get_future();
  waiter.wait({{7, 10}}, Clock::now() + 60s, [remote](bool a) { remote->set_value(a); });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return entered; })) << "no poll started";
  }
  // Meanwhile a deadline and a local apply are answered.
  auto deadline = std::make_shared<std::promise<bool>>();
  auto deadline_done = deadline->get_future();
  waiter.at(Clock::now() + 20ms, [deadline](bool a) { deadline->set_value(a); });
  ASSERT_EQ(deadline_done.wait_for(10s), std::future_status::ready)
      << "the deadline waited for the database poll";
  EXPECT_FALSE(deadline_done.get());
  view.set_assigned(2, 0);
  auto local = std::make_shared<std::promise<bool>>();
  auto local_done = local->get_future();
  waiter.wait({{2, 4}}, Clock::now() + 60s, [local](bool a) { local->set_value(a); });
  view.set_applied(2, 5);
  ASSERT_EQ(local_done.wait_for(10s), std::future_status::ready)
      << "the local apply waited for the database poll";
  EXPECT_TRUE(local_done.get());
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(released);  // all of it while the poll hung
  }
  EXPECT_EQ(remote_done.wait_for(0s), std::future_status::timeout);
  release();
  waiter.stop();
  EXPECT_FALSE(remote_done.get());
}

TEST(PositionWaiter, AnAppliedPositionAnswersAtOnce) {
  Fixture f;
  f.view.set_assigned(0, 10);
  auto r = f.wait({{0, 9}}, 0ms);
  ASSERT_EQ(r.wait_for(0s), std::future_status::ready);
  EXPECT_TRUE(r.get());
}

TEST(PositionWaiter, ALocalApplyWakesTheWaiter) {
  Fixture f;
  f.view.set_assigned(1, 0);
  auto r = f.wait({{1, 4}}, 10s);
  EXPECT_EQ(r.wait_for(50ms), std::future_status::timeout);
  f.view.set_applied(1, 4);  // offset 4 not yet applied
  EXPECT_EQ(r.wait_for(50ms), std::future_status::timeout);
  f.view.set_applied(1, 5);
  ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(r.get());
}

TEST(PositionWaiter, AnotherReplicasPartitionIsSeenInTheDatabase) {
  Fixture f;
  auto r = f.wait({{3, 100}, {4, 0}}, 10s);
  {
    std::lock_guard<std::mutex> lock(f.db.mu);
    f.db.next[3] = 101;
  }
  EXPECT_EQ(r.wait_for(100ms), std::future_status::timeout) << "partition 4 is still missing";
  {
    std::lock_guard<std::mutex> lock(f.db.mu);
    f.db.next[4] = 1;
  }
  ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(r.get());
}

// Finding 16: kv_offsets moves at the commit, before the owner's cache is
// refreshed and its position moves; a read of the owner's partition
// released by the database could be served the cache's older row.
TEST(PositionWaiter, AnOwnedPartitionWaitsForItsOwnPositionNotTheDatabases) {
  Fixture f;
  f.view.set_assigned(2, 50);
  // A wait on another replica's partition makes the waiter poll: the poll
  // also reads partition 2, committed to 101 but not yet applied here.
  {
    std::lock_guard<std::mutex> lock(f.db.mu);
    f.db.next[2] = 101;
    f.db.next[5] = 1;
  }
  auto remote = f.wait({{5, 0}}, 10s);
  ASSERT_EQ(remote.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(remote.get());
  auto owned = f.wait({{2, 100}}, 10s);
  EXPECT_EQ(owned.wait_for(200ms), std::future_status::timeout)
      << "released by the database's position of a partition this replica owns";
  f.view.set_applied(2, 101);  // after the cache refresh
  ASSERT_EQ(owned.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(owned.get());
}

TEST(PositionWaiter, TheDeadlineFailsTheWaitEvenWhileTheDatabaseFails) {
  Fixture f;
  f.db.failing = true;
  const auto started = Clock::now();
  auto r = f.wait({{2, 0}}, 100ms);
  ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(r.get());
  EXPECT_GE(Clock::now() - started, 100ms);
  EXPECT_GT(f.db.polls.load(), 0);
}

TEST(PositionWaiter, PollsTheDatabaseNoMoreOftenThanItsInterval) {
  view::ReplicaStatus view;
  FakeDb db;
  PositionWaiter waiter(
      view, [&db] { return db.read(); }, 100ms);
  std::promise<bool> done;
  const auto started = Clock::now();
  waiter.wait({{3, 100}}, started + 500ms, [&done](bool applied) { done.set_value(applied); });
  auto applied = done.get_future();
  ASSERT_EQ(applied.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(applied.get());
  const auto waited = Clock::now() - started;
  EXPECT_GE(db.polls.load(), 1);
  // One poll at the start of the wait, then one per interval at most.
  EXPECT_LE(db.polls.load(), 1 + waited / 100ms) << "polled faster than the interval";
  waiter.stop();
}

TEST(PositionWaiter, DoesNotPollTheDatabaseForItsOwnPartitions) {
  Fixture f;
  f.view.set_assigned(0, 0);
  auto r = f.wait({{0, 0}}, 200ms);
  ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(r.get());
  EXPECT_EQ(f.db.polls.load(), 0);
}

TEST(PositionWaiter, ADeadlineFiresAtItsTimeInOrderAndOnStop) {
  Fixture f;
  std::mutex mu;
  std::vector<int> fired;
  auto note = [&](int n) {
    return [&, n](bool applied) {
      EXPECT_FALSE(applied);
      std::lock_guard<std::mutex> lock(mu);
      fired.push_back(n);
    };
  };
  const auto start = Clock::now();
  f.waiter.at(start + 80ms, note(2));
  f.waiter.at(start + 20ms, note(1));
  f.waiter.at(start + 1h, note(3));
  // Applies do not fire them.
  f.view.set_assigned(0, 10);
  f.view.set_applied(0, 11);
  auto done = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return fired.size();
  };
  for (int i = 0; i < 4000 && done() < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_GE(Clock::now() - start, 80ms);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(fired, (std::vector<int>{1, 2}));
  }
  f.waiter.stop();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
}

TEST(PositionWaiter, StopFailsEveryWaiterAndLaterWaits) {
  Fixture f;
  auto a = f.wait({{0, 0}}, 60s);
  auto b = f.wait({{1, 0}}, 60s);
  f.waiter.stop();
  EXPECT_FALSE(a.get());
  EXPECT_FALSE(b.get());
  EXPECT_FALSE(f.wait({{0, 0}}, 60s).get());
}

TEST(PositionWaiter, ManyWaitersAndAppliesConcurrently) {
  Fixture f;
  for (int32_t p = 0; p < 4; ++p) f.view.set_assigned(p, 0);
  std::atomic<int> applied{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::promise<bool> done;
        auto fut = done.get_future();
        f.waiter.wait({{t, i}}, Clock::now() + 10s, [&done](bool ok) { done.set_value(ok); });
        (fut.get() ? applied : failed).fetch_add(1);
      }
    });
  }
  std::thread applier([&] {
    for (int64_t next = 1; next <= 200; ++next) {
      for (int32_t p = 0; p < 4; ++p) f.view.set_applied(p, next);
      std::this_thread::sleep_for(100us);
    }
  });
  for (auto& t : threads) t.join();
  applier.join();
  EXPECT_EQ(applied.load(), 800);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace kvstream::http
