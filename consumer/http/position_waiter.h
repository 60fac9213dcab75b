// Read-your-writes: waits, without holding a thread per request, until
// positions (partition, offset) are applied by whichever replica owns each
// partition.
//
// A position is applied when its partition's next offset to apply is past
// it. This replica knows its own partitions' positions at once (the
// ReplicaStatus, which calls notify() on every change); the others' come from
// the database (kv_offsets), polled every `db_interval` while someone waits
// on a partition that is not ours (one query serves every waiter, and none
// runs while nobody waits on another replica's partition). For a partition
// this replica owns, only its own position counts: kv_offsets moves at the
// commit, before the view cache is refreshed, so a read released by it
// could be served the cache's older row (finding 16, docs/reliability.md).
//
// One thread serves every waiter: it wakes on notify(), at the next deadline
// and when a database poll ends, and calls each waiter's callback exactly
// once, with true when all its positions are applied, false when its
// deadline passed first (or on stop()). Callbacks run on that thread (or on
// the caller's, when already applied) and must not block. A second thread
// runs the database polls, so that a database that is slow or does not
// answer (a half-open link holds a poll up to the statement timeout and a
// grace) never delays a deadline or a local apply (finding 17,
// docs/reliability.md).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/position.h"
#include "view/replica_status.h"

namespace kvstream::http {

class PositionWaiter {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(bool applied)>;
  // Next offsets from the database, by partition; throws kvstream::Error.
  using DbPositions = std::function<std::map<int32_t, int64_t>()>;

  PositionWaiter(const view::ReplicaStatus& view, DbPositions db,
                 std::chrono::milliseconds db_interval = kDefaultDbInterval);

  // Short: a write applied by another replica is seen within it, which is
  // what such a wait adds (an apply takes a few milliseconds); and cheap: at
  // most 500 small queries a second, only while such waits exist.
  static constexpr std::chrono::milliseconds kDefaultDbInterval{2};
  ~PositionWaiter();
  PositionWaiter(const PositionWaiter&) = delete;
  PositionWaiter& operator=(const PositionWaiter&) = delete;

  void wait(std::vector<Position> positions, Clock::time_point deadline, Done done);
  // Calls done(false) at `deadline` (or on stop()), on the waiter's thread:
  // a deadline for an answer that waits on something else (a write waiting
  // for Kafka's acknowledgement).
  void at(Clock::time_point deadline, Done done);

  // The applied view changed.
  void notify();

  // Fails every waiter and ends the thread; later waits fail at once.
  void stop();

  // The next offset to apply of each partition, as far as known (owned
  // partitions and the last database poll).
  std::map<int32_t, int64_t> known() const;

 private:
  struct Waiter {
    std::vector<Position> positions;
    Clock::time_point deadline;
    Done done;
  };

  void run();
  void poll_loop();  // the database polls' thread
  bool satisfied(const std::vector<Position>& positions,
                 const std::map<int32_t, int64_t>& next) const;
  // The local view merged with the last database poll (mu_ held).
  std::map<int32_t, int64_t> merged() const;

  const view::ReplicaStatus& view_;
  const DbPositions db_;
  const std::chrono::milliseconds db_interval_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Waiter> waiters_;  // guarded by mu_
  // at()'s deadlines, earliest first (apart from waiters_: applies do not
  // look at them).
  std::multimap<Clock::time_point, Done> deadlines_;  // guarded by mu_
  std::map<int32_t, int64_t> from_db_;                // guarded by mu_
  Clock::time_point next_db_poll_{};                  // guarded by mu_
  bool polling_ = false;      // a poll asked for and not yet ended; guarded by mu_
  bool poll_wanted_ = false;  // poll_loop's signal; guarded by mu_
  std::condition_variable poll_wake_;
  bool changed_ = false;   // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
  std::thread poller_;
};

}  // namespace kvstream::http
