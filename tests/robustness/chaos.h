// The chaos driver (issue 10): a workload whose final state is known, under
// faults injected on a seeded schedule, then checked against the oracle.
//
// It starts everything of its own: a Kafka broker (tests/env/kafka-env in a
// folder of its own, so the broker it kills is never the shared test
// broker), a Postgres server (PgServer), a topic of 6 partitions and its
// dead-letter topic, and the consumer replicas (the real binary). Then:
//
//   - a load thread publishes PUTs and DELETEs at a fixed rate through the
//     producer library; only events the broker acknowledged go into the
//     oracle, with their acknowledged position (an event whose delivery
//     failed is published again as a new event of the same key);
//   - a poison thread mixes in records that break the contract;
//   - the scheduler runs the schedule (schedule.h): kill -9 and SIGTERM of
//     replicas and their restart, Postgres stopped and started, its kvstream
//     sessions terminated, the kv table locked for 10 s, the broker killed
//     with kill -9 and restarted on the same port and data, rebalance
//     storms;
//   - a monitor reaps every replica exit and checks that each was one the
//     driver caused (SIGKILL: 137; SIGTERM: exit 0 within the grace).
//
// When the chaos phase is over it lets the replicas catch up and checks:
// the kv table equals the oracle (every key, value, content type, position,
// tombstone); no key whose last event is a DELETE has a value; the audit
// triggers saw no applied position and no row move backwards at any moment;
// kv_offsets and the group's committed offsets equal the end offsets; the
// topic holds every acknowledged event at its acknowledged position; the
// dead-letter topic holds exactly the records of the topic that break the
// contract (each with its reason, key and value); every replica exit was
// one the driver caused. A failure lists the seed, the schedule as run and
// the replica logs, so that the run can be replayed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/robustness/apply_latency.h"
#include "tests/robustness/schedule.h"

namespace kvstream::chaos {

struct ChaosOptions {
  double minutes = 2.5;  // the chaos phase (setup and the final checks come on top)
  uint64_t seed = 1;
  int core_replicas = 3;
  int storm_replicas = 2;
  double rate = 300;  // events per second
  // Keys: a few hot keys get many events (ordering, coalescing); the rest
  // come from a window that slides through the key space, about four events
  // each, so that a lost event is often the last of its key.
  size_t hot_keys = 500;
  double hot_ratio = 0.2;
  size_t window_keys = 1000;
  double delete_ratio = 0.2;
  double poison_per_minute = 30;
  // 0: the consumer's default retention (a day: no tombstone is collected
  // during a run, every tombstone is checked). Otherwise the consumer's
  // KVSTREAM_TOMBSTONE_RETENTION_S, and an expected tombstone may be gone.
  uint32_t tombstone_retention_s = 0;
  std::string log_level = "info";  // of the replicas
  // The folder for the run's log, schedule, report and replica logs; empty:
  // a new /tmp/kvstream-chaos-XXXXXX.
  std::string run_dir;
  // Keep the replica logs after a run that passed (they are always kept
  // after a failure).
  bool keep_logs = false;
  // Progress lines go here (and to <run_dir>/chaos.log).
  std::ostream* out = nullptr;
  // When set (e.g. by a signal handler), the run stops at its next wait and
  // cleans up (replicas, broker, Postgres): a failure "cancelled".
  const std::atomic<bool>* cancel = nullptr;
};

ScheduleSpec schedule_spec(const ChaosOptions& options);

struct ChaosReport {
  ChaosOptions options;
  Schedule schedule;
  std::string run_dir;
  std::vector<std::string> executed;  // each action with its actual time and outcome

  // Faults injected (the first action of the episode took effect), by kind.
  std::map<FaultKind, int> injected;
  size_t sessions_terminated = 0;
  size_t storm_joins = 0, storm_leaves = 0;
  size_t replica_starts = 0;
  std::map<std::string, size_t> exits;  // by cause: kill9, sigterm, unexpected, ...
  double slowest_sigterm_exit_s = 0;

  size_t events = 0, puts = 0, deletes = 0, keys = 0;
  size_t delivery_failures = 0, republished = 0, unacked_but_persisted = 0;
  size_t poison_sent = 0, poison_unknown = 0, poison_in_topic = 0;
  size_t dlq_records = 0, dlq_duplicates = 0;
  size_t rows = 0, value_rows = 0, tombstone_rows = 0, deleted_keys = 0;
  size_t collected_tombstones = 0;
  // Table damage, against the events below kv_offsets when the replicas
  // did not catch up; not_applied counts the acknowledged events above them.
  size_t lost = 0, resurrected = 0, other_differences = 0, backward_moves = 0;
  size_t not_applied = 0;
  size_t audited_offset_changes = 0;
  int64_t end_offsets_total = 0;
  double catch_up_s = 0, longest_stall_s = 0, elapsed_s = 0;
  // The HTTP clients' figures (http_clients.h).
  std::string http;
  // From the send of each acknowledged event to its application, during
  // faults and between them (apply_latency.h); unset if the run stopped
  // before the replicas caught up.
  std::optional<ApplyLatency> apply_latency;

  std::vector<std::string> failures;
  bool ok() const { return failures.empty(); }
  // The figures of the run, a few lines.
  std::string figures() const;
  // The command that replays the run.
  std::string replay_command() const;
  // Everything: figures, failures, replay, schedule as run.
  std::string full() const;
};

// Runs the whole thing; never throws (a setup error is a failure in the
// report). Bounded: every wait has a deadline.
ChaosReport run_chaos(const ChaosOptions& options);

}  // namespace kvstream::chaos
