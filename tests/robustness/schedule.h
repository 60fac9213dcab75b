// The fault schedule of a chaos run: a list of timed actions, generated from
// a seed alone, so that a run can be replayed (same seed, same minutes, same
// replica counts: the same schedule). Pure: no processes, no clock.
//
// Faults come in episodes of one kind; an episode is one or more actions
// (kill, then restart; stop, then start; a storm of joins and leaves).
// Episodes of different resources (a replica slot, Postgres, the broker, the
// kv lock, the storm) may overlap; episodes of one resource never do.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kvstream::chaos {

enum class FaultKind {
  kReplicaKill,     // kill -9 of a replica, restarted after 0-3 s
  kReplicaTerm,     // SIGTERM of a replica (it must exit 0), restarted
  kPgRestart,       // Postgres stopped for 2-15 s, then started again
  kPgTerminate,     // pg_terminate_backend of every kvstream session
  kKvLock,          // the kv table locked (ACCESS EXCLUSIVE) for 10 s
  kBrokerKill,      // kill -9 of the broker, restarted on its port and data after 0-8 s
  kRebalanceStorm,  // extra replicas joining and leaving every 1-4 s for 15-30 s
  kPgNetwork,       // the replicas' link to Postgres faulted for 5-20 s (a NetworkFault)
  kBrokerNetwork,   // the replicas' link to the broker faulted for 5-20 s (a NetworkFault)
  kPgDiskFull,      // the database's disk full for 5-15 s (ScheduleSpec::disk_full)
};
inline constexpr int kFaultKinds = 10;
const char* to_string(FaultKind kind);

// What a network episode does to its link, through Toxiproxy.
enum class NetworkFault {
  kLatency,   // 150-400 ms more on every answer (jitter 50 ms)
  kNarrow,    // 32 KB/s each way
  kReset,     // every connection reset at once, new ones too
  kCutAfter,  // each connection cut after 64 KB from the server: mid-fetch, mid-transaction
  kHalfOpen,  // nothing goes through either way, nothing is closed
  kRefused,   // every connection closed, new ones refused
};
inline constexpr int kNetworkFaults = 6;
const char* to_string(NetworkFault fault);

enum class Link { kPostgres, kBroker };
const char* to_string(Link link);

enum class ActionKind {
  kReplicaStart,  // start the slot's replica (once its previous process is gone)
  kReplicaKill,   // SIGKILL the slot's replica
  kReplicaTerm,   // SIGTERM the slot's replica; it must exit 0
  kPgStop,
  kPgStart,
  kPgTerminate,
  kKvLock,  // hold the lock for `seconds`, in the background
  kBrokerKill,
  kBrokerStart,
  kStormBegin,  // markers around a storm's joins and leaves
  kStormEnd,
  kNetworkFault,  // `fault` on `link` from now on
  kNetworkHeal,   // the link healthy again
  kDiskFill,      // a file takes every byte left on the database's disk
  kDiskFree,      // and goes again
};
const char* to_string(ActionKind kind);

struct Action {
  double at = 0;  // seconds from the start of the chaos phase
  ActionKind kind = ActionKind::kReplicaStart;
  int slot = -1;       // replica actions: the slot
  double seconds = 0;  // kKvLock: how long it is held
  int episode = 0;     // the episode it belongs to
  // kNetworkFault, kNetworkHeal: the link and what happens to it; `amount`
  // is the latency in ms for kLatency.
  Link link = Link::kPostgres;
  NetworkFault fault = NetworkFault::kLatency;
  int amount = 0;

  std::string describe() const;  // "  37.20s  #12 replica_kill r1"
};

struct Episode {
  int id = 0;
  FaultKind kind = FaultKind::kReplicaKill;
  double start = 0, end = 0;  // seconds
};

struct ScheduleSpec {
  uint64_t seed = 1;
  double duration_s = 150;  // the chaos phase; every episode ends within it
  double warmup_s = 15;     // no fault before this
  int core_replicas = 3;    // slots 0..core-1: always meant to run
  int storm_replicas = 2;   // slots core..core+storm-1: only during storms
  double min_gap_s = 3;     // between the starts of two episodes
  double max_gap_s = 9;
  double kv_lock_s = 10;
  // Whether the database lives on a disk of its own that can be filled
  // (SmallDisk: root only); without it there are no kPgDiskFull episodes.
  bool disk_full = true;
};

struct Schedule {
  ScheduleSpec spec;
  std::vector<Episode> episodes;
  std::vector<Action> actions;  // by time

  // Episodes of each kind (every kind is present, with 0 for none).
  std::map<FaultKind, int> episodes_by_kind() const;
  // Every action, one a line.
  std::string describe() const;
};

// Slot names: r0, r1, ... for the core slots, s0, s1, ... for the storm's.
std::string slot_name(const ScheduleSpec& spec, int slot);

// Deterministic: the same spec gives the same schedule on every machine (the
// generator draws from std::mt19937_64 with its own arithmetic, not from
// library distributions). The first episodes are one of each kind, in a
// random order, so that any run long enough for seven episodes sees every
// kind; the rest are drawn by weight. Adding a kind changes the schedules
// of every seed (seeds of older runs replay on the commit they ran on).
Schedule make_schedule(const ScheduleSpec& spec);

}  // namespace kvstream::chaos
