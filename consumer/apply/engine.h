// The apply engine: turns the stream of decoded events into atomic, fenced,
// per-partition batches, applied by a BatchExecutor (the apply workers), and
// says which positions are safe to commit to Kafka.
//
// Lifecycle, all on the poll thread (not thread-safe; it owns no thread; only
// the executor's completion callback, guarded by done_mu_, runs elsewhere):
//   assign(partitions)   load each partition's applied position from the
//                        store; the caller seeks there
//   add_event / add_skipped, as records arrive in offset order
//   dispatch(now)        submit every partition batch that is ready; at most
//                        one batch in flight per partition, so each partition
//                        applies in order while different partitions apply in
//                        parallel, and polling goes on while batches commit.
//                        A partition with nothing in flight submits what it
//                        holds at once (with the default max_wait of 0);
//                        what arrives while its batch is in flight becomes
//                        its next batch (group commit): batches are small
//                        when the stream is quiet and grow under load
//   collect()            take finished batches into the progress report
//   take_progress()      what to commit, seek, pause or resume
//   revoke(partitions)   wait (bounded) for their batches in flight, then drop
//                        their pending work
//
// Decoding reuses events: take_spare() hands out an event whose strings keep
// the buffers of an applied one, and applied, coalesced and dropped events go
// back to that pool, so a steady stream allocates nothing per record.
//
// Records below a partition's applied position are ignored (redeliveries), so
// replays change nothing. A batch that fails transiently goes back in front
// of the partition's pending work and is retried after a backoff; the
// partition is reported for pausing meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apply/executor.h"
#include "apply/pending.h"
#include "common/backoff.h"
#include "schema/event.h"
#include "store/store.h"
#include "view/replica_status.h"

namespace kvstream::apply {

struct BatchLimits {
  size_t max_events = 5000;            // events pending per partition
  size_t max_bytes = 8 * 1024 * 1024;  // key+value bytes per partition
  // How long a partition with nothing in flight may hold its first pending
  // event for a larger batch; 0 submits at once (batches still grow under
  // load: what arrives during a commit is the next batch).
  std::chrono::milliseconds max_wait{0};
  // Pending work per partition beyond which it stops fetching (backpressure);
  // with a batch of up to as much in flight, what a partition holds is
  // bounded by twice that.
  size_t pause_factor = 2;
  // The memory of the events held (pending and in flight), all partitions
  // together: at this much, the partitions with pending events stop
  // fetching until it is back under half. It bounds the replica's memory
  // whatever the number of partitions it owns.
  size_t max_held_bytes = size_t{32} << 20;
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
  // position now in the database: forget the cached rows, then move the
  // view's position there (the engine does not), and seek there (or lose
  // them in a rebalance).
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

  // `on_done` (optional) is called on the executor's thread whenever a
  // batch's outcome is ready for collect(): the poll thread's wake-up.
  ApplyEngine(std::string topic, store::Store& offsets, BatchExecutor& executor,
              view::ReplicaStatus& view, BatchLimits limits, std::function<void()> on_done = {});
  ~ApplyEngine();

  // Where to resume each partition: its applied position, or store::kNoOffset
  // (start from the beginning). Throws kvstream::Error if the store fails.
  std::map<int32_t, int64_t> assign(const std::vector<int32_t>& partitions);
  // Waits until `deadline` for the partitions' batches in flight (their
  // outcome lands in the progress report), then forgets the partitions.
  void revoke(const std::vector<int32_t>& partitions, Clock::time_point deadline);

  void add_event(schema::Event event);
  // An event to decode into, with the buffers of an applied one when the
  // pool has one; give it back with recycle() if it is not added.
  schema::Event take_spare();
  void recycle(schema::Event&& event);
  // A record that will not be applied (dead-lettered): the applied position
  // still moves past it.
  void add_skipped(int32_t partition, int64_t offset);
  // The record at `offset` could be neither applied nor dead-lettered (the
  // replica is stopping): nothing of the partition from there on is taken,
  // so its position never passes the record and the next owner reads it.
  void hold_back(int32_t partition, int64_t offset);
  // The record held back at `offset` was dead-lettered after all: the
  // position moves past it (as add_skipped) and the partition takes records
  // again, from offset + 1 (the caller seeks the source there). Nothing if
  // the partition is not held at `offset` (revoked and assigned meanwhile).
  void release(int32_t partition, int64_t offset);

  // Submits ready batches; with `force`, every partition with pending work
  // (shutdown, revoke).
  void dispatch(Clock::time_point now, bool force = false);
  // Takes finished batches; waits up to `wait` for one if any is in flight.
  void collect(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  Progress take_progress();

  bool idle() const;  // nothing pending, nothing in flight
  // The memory of the events held, pending and in flight (max_held_bytes).
  size_t held_bytes() const { return held_bytes_; }
  // When dispatch() next has something to submit that it holds back now (a
  // retry's backoff, or max_wait): nullopt if nothing is held back. A
  // finished batch wakes the poll thread through `on_done` instead.
  std::optional<Clock::time_point> next_deadline() const;
  size_t in_flight() const { return in_flight_; }
  std::optional<int64_t> next_offset(int32_t partition) const;
  // The record timestamp (ms) of the oldest event not yet applied in the
  // partition, if any is held.
  std::optional<int64_t> oldest_unapplied_timestamp(int32_t partition) const;

 private:
  struct Partition {
    uint64_t epoch = 0;                      // fresh on every assign; stale completions are ignored
    int64_t next_offset = store::kNoOffset;  // applied position
    PendingEvents pending;                   // not yet submitted, coalesced per key
    int64_t last_offset = -1;      // highest offset accepted (pending, in flight or skipped)
    int64_t submitted_until = -1;  // highest offset covered by submitted batches
    size_t pending_bytes = 0;      // key and value bytes pending (max_bytes)
    size_t pending_memory = 0;     // memory of the pending events (max_held_bytes)
    size_t in_flight_memory = 0;   // memory of the batch in flight
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
  void recycle_all(std::vector<schema::Event>& events);
  // Sets the partition's pending and in-flight memory, keeping the total.
  void set_memory(Partition& p, size_t pending, size_t in_flight);
  // Adds an event to the partition's pending ones, recycling the one it
  // replaces.
  void add_pending(Partition& p, schema::Event&& event);

  const std::string topic_;
  store::Store& offsets_;
  BatchExecutor& executor_;
  view::ReplicaStatus& view_;
  const BatchLimits limits_;
  const std::function<void()> on_done_;
  Backoff backoff_{std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};

  std::map<int32_t, Partition> partitions_;
  uint64_t next_epoch_ = 1;
  size_t in_flight_ = 0;
  size_t held_bytes_ = 0;  // sum of the partitions' pending and in-flight memory
  Progress progress_;
  std::vector<schema::Event> spare_;  // the event pool (poll thread)

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<Completion> done_;  // guarded by done_mu_
};

}  // namespace kvstream::apply
