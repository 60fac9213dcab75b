#include "tests/robustness/schedule.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

namespace kvstream::chaos {

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::kReplicaKill:
      return "replica_kill9";
    case FaultKind::kReplicaTerm:
      return "replica_sigterm";
    case FaultKind::kPgRestart:
      return "pg_restart";
    case FaultKind::kPgTerminate:
      return "pg_terminate_backends";
    case FaultKind::kKvLock:
      return "kv_table_lock";
    case FaultKind::kBrokerKill:
      return "broker_kill9";
    case FaultKind::kRebalanceStorm:
      return "rebalance_storm";
    case FaultKind::kPgNetwork:
      return "pg_network";
    case FaultKind::kBrokerNetwork:
      return "broker_network";
    case FaultKind::kPgDiskFull:
      return "pg_disk_full";
  }
  return "?";
}

const char* to_string(NetworkFault fault) {
  switch (fault) {
    case NetworkFault::kLatency:
      return "latency";
    case NetworkFault::kNarrow:
      return "narrow";
    case NetworkFault::kReset:
      return "reset";
    case NetworkFault::kCutAfter:
      return "cut_after_64k";
    case NetworkFault::kHalfOpen:
      return "half_open";
    case NetworkFault::kRefused:
      return "refused";
  }
  return "?";
}

const char* to_string(Link link) { return link == Link::kPostgres ? "postgres" : "broker"; }

const char* to_string(ActionKind kind) {
  switch (kind) {
    case ActionKind::kReplicaStart:
      return "replica_start";
    case ActionKind::kReplicaKill:
      return "replica_kill9";
    case ActionKind::kReplicaTerm:
      return "replica_sigterm";
    case ActionKind::kPgStop:
      return "pg_stop";
    case ActionKind::kPgStart:
      return "pg_start";
    case ActionKind::kPgTerminate:
      return "pg_terminate_backends";
    case ActionKind::kKvLock:
      return "kv_table_lock";
    case ActionKind::kBrokerKill:
      return "broker_kill9";
    case ActionKind::kBrokerStart:
      return "broker_start";
    case ActionKind::kStormBegin:
      return "storm_begin";
    case ActionKind::kStormEnd:
      return "storm_end";
    case ActionKind::kNetworkFault:
      return "network_fault";
    case ActionKind::kNetworkHeal:
      return "network_heal";
    case ActionKind::kDiskFill:
      return "disk_fill";
    case ActionKind::kDiskFree:
      return "disk_free";
  }
  return "?";
}

std::string Action::describe() const {
  char head[64];
  std::snprintf(head, sizeof(head), "%8.2fs  #%-3d %-22s", at, episode, to_string(kind));
  std::string out = head;
  if (slot >= 0) out += " slot " + std::to_string(slot);
  if (kind == ActionKind::kKvLock) {
    char s[32];
    std::snprintf(s, sizeof(s), " for %.0f s", seconds);
    out += s;
  }
  if (kind == ActionKind::kNetworkFault || kind == ActionKind::kNetworkHeal) {
    out += std::string(" ") + to_string(link) + " " + to_string(fault);
    if (fault == NetworkFault::kLatency) out += " " + std::to_string(amount) + " ms";
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::map<FaultKind, int> Schedule::episodes_by_kind() const {
  std::map<FaultKind, int> out;
  for (int k = 0; k < kFaultKinds; ++k) out[static_cast<FaultKind>(k)] = 0;
  for (const Episode& e : episodes) ++out[e.kind];
  return out;
}

std::string Schedule::describe() const {
  std::string out;
  for (const Action& a : actions) {
    std::string line = a.describe();
    if (a.slot >= 0) line += " (" + slot_name(spec, a.slot) + ")";
    out += line + "\n";
  }
  return out;
}

std::string slot_name(const ScheduleSpec& spec, int slot) {
  if (slot < spec.core_replicas) return "r" + std::to_string(slot);
  return "s" + std::to_string(slot - spec.core_replicas);
}

namespace {

// Draws with explicit arithmetic: std::uniform_*_distribution may differ
// between standard libraries, and a seed must give the same schedule
// everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double unit() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(gen_() % n); }
  bool coin(double p) { return unit() < p; }

 private:
  std::mt19937_64 gen_;
};

// How often each kind is drawn once every kind has had its turn.
constexpr std::pair<FaultKind, int> kWeights[] = {
    {FaultKind::kReplicaKill, 24},   {FaultKind::kReplicaTerm, 14}, {FaultKind::kPgRestart, 9},
    {FaultKind::kPgTerminate, 12},   {FaultKind::kKvLock, 8},       {FaultKind::kBrokerKill, 9},
    {FaultKind::kRebalanceStorm, 8}, {FaultKind::kPgNetwork, 9},    {FaultKind::kBrokerNetwork, 9},
    {FaultKind::kPgDiskFull, 7},
};

class Generator {
 public:
  explicit Generator(const ScheduleSpec& spec)
      : spec_(spec),
        rng_(spec.seed),
        slot_free_(static_cast<size_t>(spec.core_replicas + spec.storm_replicas), 0.0) {
    schedule_.spec = spec;
  }

  Schedule run() {
    // Every kind once first, in a random order.
    std::vector<FaultKind> first;
    for (int k = 0; k < kFaultKinds; ++k) {
      if (enabled(static_cast<FaultKind>(k))) first.push_back(static_cast<FaultKind>(k));
    }
    for (size_t i = first.size(); i > 1; --i) std::swap(first[i - 1], first[rng_.below(i)]);
    std::set<FaultKind> unseen(first.begin(), first.end());

    double t = spec_.warmup_s;
    for (bool at_start = true;; at_start = false) {
      if (!at_start) t += rng_.uniform(spec_.min_gap_s, spec_.max_gap_s);
      if (t >= spec_.duration_s) break;
      std::vector<FaultKind> prefs;
      for (FaultKind k : first) {
        if (unseen.count(k)) prefs.push_back(k);
      }
      for (FaultKind k : weighted_order()) prefs.push_back(k);
      for (FaultKind k : prefs) {
        if (place(k, t)) {
          unseen.erase(k);
          break;
        }
      }
    }
    std::stable_sort(schedule_.actions.begin(), schedule_.actions.end(),
                     [](const Action& a, const Action& b) { return a.at < b.at; });
    return schedule_;
  }

 private:
  bool enabled(FaultKind kind) const { return kind != FaultKind::kPgDiskFull || spec_.disk_full; }

  // Every kind once, drawn by weight without replacement.
  std::vector<FaultKind> weighted_order() {
    std::vector<std::pair<FaultKind, int>> left;
    for (const auto& kw : kWeights) {
      if (enabled(kw.first)) left.push_back(kw);
    }
    std::vector<FaultKind> out;
    while (!left.empty()) {
      int total = 0;
      for (const auto& [k, w] : left) total += w;
      size_t pick = rng_.below(static_cast<size_t>(total));
      size_t i = 0;
      for (; i < left.size(); ++i) {
        if (pick < static_cast<size_t>(left[i].second)) break;
        pick -= static_cast<size_t>(left[i].second);
      }
      out.push_back(left[i].first);
      left.erase(left.begin() + static_cast<std::ptrdiff_t>(i));
    }
    return out;
  }

  Action& add(double at, ActionKind kind, int slot = -1, double seconds = 0) {
    Action a;
    a.at = at;
    a.kind = kind;
    a.slot = slot;
    a.seconds = seconds;
    a.episode = next_id_;
    schedule_.actions.push_back(a);
    return schedule_.actions.back();
  }

  void episode(FaultKind kind, double start, double end) {
    schedule_.episodes.push_back(Episode{next_id_, kind, start, end});
    ++next_id_;
  }

  // A core slot free at `t`, or -1.
  int free_core_slot(double t) {
    std::vector<int> free;
    for (int s = 0; s < spec_.core_replicas; ++s) {
      if (slot_free_[static_cast<size_t>(s)] <= t) free.push_back(s);
    }
    if (free.empty()) return -1;
    return free[rng_.below(free.size())];
  }

  bool fits(double end) const { return end <= spec_.duration_s; }

  bool place(FaultKind kind, double t) {
    switch (kind) {
      case FaultKind::kReplicaKill:
      case FaultKind::kReplicaTerm: {
        const bool kill = kind == FaultKind::kReplicaKill;
        const int slot = free_core_slot(t);
        if (slot < 0) return false;
        const double restart = t + (kill ? rng_.uniform(0, 3) : rng_.uniform(0.5, 4));
        if (!fits(restart)) return false;
        add(t, kill ? ActionKind::kReplicaKill : ActionKind::kReplicaTerm, slot);
        add(restart, ActionKind::kReplicaStart, slot);
        episode(kind, t, restart);
        // SIGTERM lets the replica apply what is pending first (seconds).
        slot_free_[static_cast<size_t>(slot)] = restart + (kill ? 4 : 8);
        return true;
      }
      case FaultKind::kPgRestart: {
        if (t < pg_busy_until_) return false;
        const double up = t + rng_.uniform(2, 15);
        if (!fits(up)) return false;
        add(t, ActionKind::kPgStop);
        add(up, ActionKind::kPgStart);
        episode(kind, t, up);
        pg_busy_until_ = up + 8;
        pg_up_at_ = up + 2;
        return true;
      }
      case FaultKind::kPgTerminate: {
        if (t < pg_up_at_) return false;
        add(t, ActionKind::kPgTerminate);
        episode(kind, t, t);
        return true;
      }
      case FaultKind::kKvLock: {
        if (t < pg_busy_until_) return false;
        const double end = t + spec_.kv_lock_s;
        if (!fits(end)) return false;
        add(t, ActionKind::kKvLock, -1, spec_.kv_lock_s);
        episode(kind, t, end);
        pg_busy_until_ = end + 2;
        return true;
      }
      case FaultKind::kBrokerKill: {
        if (t < broker_free_) return false;
        const double up = t + rng_.uniform(0, 8);
        if (!fits(up)) return false;
        add(t, ActionKind::kBrokerKill);
        add(up, ActionKind::kBrokerStart);
        episode(kind, t, up);
        // Room for the JVM to start and the group to settle before the next.
        broker_free_ = up + 25;
        return true;
      }
      case FaultKind::kRebalanceStorm: {
        if (t < storm_free_ || spec_.storm_replicas <= 0) return false;
        double len = rng_.uniform(15, 30);
        if (t + len > spec_.duration_s) len = spec_.duration_s - t;
        if (len < 8) return false;
        const double end = t + len;
        add(t, ActionKind::kStormBegin);
        std::vector<bool> running(static_cast<size_t>(spec_.storm_replicas), false);
        for (double s = t + rng_.uniform(0.2, 1.5); s < end; s += rng_.uniform(1, 4)) {
          std::vector<int> up, down;
          for (int i = 0; i < spec_.storm_replicas; ++i) {
            (running[static_cast<size_t>(i)] ? up : down).push_back(i);
          }
          if (up.empty() || (!down.empty() && rng_.coin(0.5))) {
            const int i = down[rng_.below(down.size())];
            add(s, ActionKind::kReplicaStart, spec_.core_replicas + i);
            running[static_cast<size_t>(i)] = true;
          } else {
            const int i = up[rng_.below(up.size())];
            add(s, rng_.coin(0.7) ? ActionKind::kReplicaTerm : ActionKind::kReplicaKill,
                spec_.core_replicas + i);
            running[static_cast<size_t>(i)] = false;
          }
        }
        for (int i = 0; i < spec_.storm_replicas; ++i) {
          if (running[static_cast<size_t>(i)]) {
            add(end, ActionKind::kReplicaTerm, spec_.core_replicas + i);
          }
        }
        add(end, ActionKind::kStormEnd);
        episode(kind, t, end);
        storm_free_ = end + 10;
        return true;
      }
      case FaultKind::kPgNetwork:
      case FaultKind::kBrokerNetwork: {
        const Link link = kind == FaultKind::kPgNetwork ? Link::kPostgres : Link::kBroker;
        double& free = link == Link::kPostgres ? pg_link_free_ : broker_link_free_;
        if (t < free) return false;
        const double end = t + rng_.uniform(5, 20);
        if (!fits(end)) return false;
        const auto fault = static_cast<NetworkFault>(rng_.below(kNetworkFaults));
        const int amount =
            fault == NetworkFault::kLatency ? 150 + 50 * static_cast<int>(rng_.below(6)) : 0;
        for (const auto& [at, what] :
             {std::pair{t, ActionKind::kNetworkFault}, std::pair{end, ActionKind::kNetworkHeal}}) {
          Action& a = add(at, what);
          a.link = link;
          a.fault = fault;
          a.amount = amount;
        }
        episode(kind, t, end);
        free = end + 5;
        return true;
      }
      case FaultKind::kPgDiskFull: {
        if (!spec_.disk_full || t < pg_busy_until_) return false;
        const double end = t + rng_.uniform(5, 15);
        if (!fits(end)) return false;
        add(t, ActionKind::kDiskFill);
        add(end, ActionKind::kDiskFree);
        episode(kind, t, end);
        pg_busy_until_ = end + 2;
        return true;
      }
    }
    return false;
  }

  const ScheduleSpec spec_;
  Rng rng_;
  Schedule schedule_;
  int next_id_ = 1;
  std::vector<double> slot_free_;
  double pg_busy_until_ = 0;  // a restart or a lock in progress
  double pg_up_at_ = 0;       // Postgres is up from then on
  double broker_free_ = 0;
  double storm_free_ = 0;
  double pg_link_free_ = 0;
  double broker_link_free_ = 0;
};

}  // namespace

Schedule make_schedule(const ScheduleSpec& spec) { return Generator(spec).run(); }

}  // namespace kvstream::chaos
