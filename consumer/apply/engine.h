// The apply engine: turns the stream of decoded events into atomic, fenced,
// per-partition batches, applied by a BatchExecutor (the apply workers), and
// says which positions are safe to commit to Kafka.
//
// Lifecycle, all on the poll thread (not thread-safe; it owns no thread; only
// the executor's completion callback, guarded by done_mu_, runs elsewhere):
//   assign(partitions)   load each partition's applied position from the
//                        store; the caller seeks there
//   add_event / add_skipped, as records arrive in offset order
//   dispatch(now)        submit every partition batch that is ready (a bound
//                        reached); at most one batch in flight per partition,
//                        so each partition applies in order while different
//                        partitions apply in parallel, and polling goes on
//                        while batches commit
//   collect()            take finished batches into the progress report
//   take_progress()      what to commit, seek, pause or resume
//   revoke(partitions)   wait (bounded) for their batches in flight, then drop
//                        their pending work
//
// Records below a partition's applied position are ignored (redeliveries), so
// replays change nothing. A batch that fails transiently goes back in front
// of the partition's pending work and is retried after a backoff; the
// partition is reported for pausing meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apply/applied_view.h"
#include "apply/executor.h"
#include "common/backoff.h"
#include "schema/event.h"
#include "store/store.h"

namespace kvstream::apply {

struct BatchLimits {
  size_t max_events = 5000;                // events pending per partition
  size_t max_bytes = 8 * 1024 * 1024;      // key+value bytes per partition
  std::chrono::milliseconds max_wait{20};  // age of the oldest pending event
  // Pending work per partition beyond which it stops fetching (backpressure).
  size_t pause_factor = 4;
};

// One committed batch, for metrics and logs.
struct BatchReport {
  int32_t partition = -1;
  size_t events_in = 0;  // events accepted into the batch, before coalescing
  size_t puts = 0;       // rows written (after coalescing)
  size_t deletes = 0;
  // Seconds from each written event's record timestamp to the commit.
  std::vector<double> latencies;
};

struct Progress {
  // Partitions whose batches committed, with their new applied position:
  // safe to commit to Kafka.
  std::map<int32_t, int64_t> applied;
  // Partitions whose batch was fenced (another writer moved them), with the
  // position now in the database: seek there (or lose them in a rebalance).
  std::map<int32_t, int64_t> fenced;
  std::vector<int32_t> pause;   // stop fetching (a failed batch, or backlog)
  std::vector<int32_t> resume;  // fetch again
  std::vector<BatchReport> batches;
  size_t retries = 0;                     // transient failures seen
  std::optional<std::string> last_error;  // the latest transient failure
  std::optional<Error> fatal;             // a failure retrying cannot fix

  bool empty() const {
    return applied.empty() && fenced.empty() && pause.empty() && resume.empty() && !fatal &&
           retries == 0;
  }
};

class ApplyEngine {
 public:
  using Clock = std::chrono::steady_clock;

  ApplyEngine(std::string topic, store::Store& offsets, BatchExecutor& executor, AppliedView& view,
              BatchLimits limits);
  ~ApplyEngine();

  // Where to resume each partition: its applied position, or store::kNoOffset
  // (start from the beginning). Throws kvstream::Error if the store fails.
  std::map<int32_t, int64_t> assign(const std::vector<int32_t>& partitions);
  // Waits until `deadline` for the partitions' batches in flight (their
  // outcome lands in the progress report), then forgets the partitions.
  void revoke(const std::vector<int32_t>& partitions, Clock::time_point deadline);

  void add_event(schema::Event event);
  // A record that will not be applied (dead-lettered): the applied position
  // still moves past it.
  void add_skipped(int32_t partition, int64_t offset);
  // The record at `offset` could be neither applied nor dead-lettered (the
  // replica is stopping): nothing of the partition from there on is taken,
  // so its position never passes the record and the next owner reads it.
  void hold_back(int32_t partition, int64_t offset);

  // Submits ready batches; with `force`, every partition with pending work
  // (shutdown, revoke).
  void dispatch(Clock::time_point now, bool force = false);
  // Takes finished batches; waits up to `wait` for one if any is in flight.
  void collect(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  Progress take_progress();

  bool idle() const;  // nothing pending, nothing in flight
  size_t in_flight() const { return in_flight_; }
  std::optional<int64_t> next_offset(int32_t partition) const;
  // The record timestamp (ms) of the oldest event not yet applied in the
  // partition, if any is held.
  std::optional<int64_t> oldest_unapplied_timestamp(int32_t partition) const;

 private:
  struct Partition {
    uint64_t epoch = 0;                      // fresh on every assign; stale completions are ignored
    int64_t next_offset = store::kNoOffset;  // applied position
    std::vector<schema::Event> pending;      // not yet submitted, offset order
    int64_t last_offset = -1;      // highest offset accepted (pending, in flight or skipped)
    int64_t submitted_until = -1;  // highest offset covered by submitted batches
    size_t pending_bytes = 0;
    Clock::time_point pending_since{};
    bool in_flight = false;
    int64_t in_flight_oldest_ts = -1;
    Clock::time_point retry_at{};
    bool failed = false;     // the last batch failed; paused until one succeeds
    bool paused = false;     // as last reported
    int64_t held_from = -1;  // records from this offset on are refused (hold_back); -1: none
  };
  struct Completion {
    uint64_t epoch;
    size_t events_in;
    BatchResult result;
  };

  bool accept(int32_t partition, int64_t offset, Partition*& out);
  bool ready(const Partition& p, Clock::time_point now, bool force) const;
  void submit(int32_t id, Partition& p);
  void finish(Completion c);
  void update_pause(int32_t id, Partition& p);

  const std::string topic_;
  store::Store& offsets_;
  BatchExecutor& executor_;
  AppliedView& view_;
  const BatchLimits limits_;
  Backoff backoff_{std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};

  std::map<int32_t, Partition> partitions_;
  uint64_t next_epoch_ = 1;
  size_t in_flight_ = 0;
  Progress progress_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<Completion> done_;  // guarded by done_mu_
};

}  // namespace kvstream::apply
