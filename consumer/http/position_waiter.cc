#include "http/position_waiter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"

namespace kvstream::http {

PositionWaiter::PositionWaiter(const view::ReplicaStatus& view, DbPositions db,
                               std::chrono::milliseconds db_interval)
    : view_(view), db_(std::move(db)), db_interval_(db_interval) {
  thread_ = std::thread([this] { run(); });
  poller_ = std::thread([this] { poll_loop(); });
}

PositionWaiter::~PositionWaiter() { stop(); }

void PositionWaiter::stop() {
  std::vector<Waiter> failed;
  std::multimap<Clock::time_point, Done> deadlines;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    failed.swap(waiters_);
    deadlines.swap(deadlines_);
  }
  wake_.notify_all();
  poll_wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // A poll in progress ends first (at most the statement timeout and a
  // grace, for a database that does not answer).
  if (poller_.joinable()) poller_.join();
  for (auto& w : failed) w.done(false);
  for (auto& [at, done] : deadlines) done(false);
}

void PositionWaiter::notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiters_.empty()) return;
    changed_ = true;
  }
  wake_.notify_all();
}

std::map<int32_t, int64_t> PositionWaiter::merged() const {
  // A partition this replica owns counts as applied as far as this replica
  // applied it, never further: its view cache is refreshed before its own
  // position moves, while kv_offsets moves at the commit, just before the
  // refresh (a read released by the database's position could be served
  // the cache's older row). The database's positions are for the others.
  std::map<int32_t, int64_t> next = from_db_;
  for (const auto& [p, o] : view_.applied()) next[p] = o;
  return next;
}

std::map<int32_t, int64_t> PositionWaiter::known() const {
  std::lock_guard<std::mutex> lock(mu_);
  return merged();
}

bool PositionWaiter::satisfied(const std::vector<Position>& positions,
                               const std::map<int32_t, int64_t>& next) const {
  for (const Position& p : positions) {
    auto it = next.find(p.partition);
    if (it == next.end() || it->second <= p.offset) return false;
  }
  return true;
}

void PositionWaiter::wait(std::vector<Position> positions, Clock::time_point deadline, Done done) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_ || satisfied(positions, merged())) {
      const bool applied = !stopping_;  // already applied, or stopping
      lock.unlock();
      done(applied);
      return;
    }
    waiters_.push_back(Waiter{std::move(positions), deadline, std::move(done)});
    changed_ = true;
  }
  wake_.notify_all();
}

void PositionWaiter::at(Clock::time_point deadline, Done done) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      lock.unlock();
      done(false);
      return;
    }
    deadlines_.emplace(deadline, std::move(done));
    changed_ = true;
  }
  wake_.notify_all();
}

void PositionWaiter::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (waiters_.empty() && deadlines_.empty()) {
      wake_.wait(lock, [&] { return stopping_ || !waiters_.empty() || !deadlines_.empty(); });
      continue;
    }
    auto wake_at = waiters_.empty() || polling_ ? Clock::time_point::max() : next_db_poll_;
    for (const auto& w : waiters_) wake_at = std::min(wake_at, w.deadline);
    if (!deadlines_.empty()) wake_at = std::min(wake_at, deadlines_.begin()->first);
    wake_.wait_until(lock, wake_at, [&] { return stopping_ || changed_; });
    if (stopping_) break;
    changed_ = false;

    const auto now = Clock::now();
    std::vector<Done> expired;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      expired.push_back(std::move(deadlines_.begin()->second));
      deadlines_.erase(deadlines_.begin());
    }
    if (!expired.empty()) {
      lock.unlock();
      for (Done& done : expired) done(false);
      lock.lock();
      if (stopping_) break;
    }
    if (waiters_.empty()) continue;
    // Poll the database only for partitions this replica does not own, on
    // the poller's thread; its end wakes this one (changed_).
    if (now >= next_db_poll_ && !polling_) {
      const auto local = view_.applied();
      bool remote = false;
      for (const auto& w : waiters_) {
        for (const Position& p : w.positions) remote = remote || local.count(p.partition) == 0;
      }
      next_db_poll_ = Clock::time_point::max();
      if (remote) {
        polling_ = true;
        poll_wanted_ = true;
        poll_wake_.notify_one();
      }
    }

    const auto next = merged();
    const auto checked_at = Clock::now();
    std::vector<std::pair<Done, bool>> finished;
    auto keep = std::remove_if(waiters_.begin(), waiters_.end(), [&](Waiter& w) {
      if (satisfied(w.positions, next)) {
        finished.emplace_back(std::move(w.done), true);
        return true;
      }
      if (checked_at >= w.deadline) {
        finished.emplace_back(std::move(w.done), false);
        return true;
      }
      return false;
    });
    waiters_.erase(keep, waiters_.end());
    if (next_db_poll_ == Clock::time_point::max() && !polling_ && !waiters_.empty()) {
      // Someone may wait on a remote partition: poll again after the interval.
      next_db_poll_ = checked_at + db_interval_;
    }
    if (!finished.empty()) {
      lock.unlock();
      for (auto& [done, applied] : finished) done(applied);
      lock.lock();
    }
  }
}

void PositionWaiter::poll_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    poll_wake_.wait(lock, [&] { return stopping_ || poll_wanted_; });
    if (stopping_) return;
    poll_wanted_ = false;
    lock.unlock();
    std::map<int32_t, int64_t> polled;
    bool ok = true;
    try {
      polled = db_();
    } catch (const Error& e) {
      ok = false;
      spdlog::debug("read-your-writes: applied positions unreadable: {}", e.what());
    }
    lock.lock();
    if (ok) {
      for (const auto& [p, o] : polled) from_db_[p] = std::max(from_db_[p], o);
    }
    polling_ = false;
    changed_ = true;
    wake_.notify_all();
  }
}

}  // namespace kvstream::http
