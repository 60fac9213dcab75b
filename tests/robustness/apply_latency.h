// Apply latency of a chaos run, during faults and between them: from the
// moment an event was handed to the producer to the first moment the
// driver saw its partition's applied position (kv_offsets) pass it. Internal
// to the driver (chaos.h).
//
// A sampler thread reads kv_offsets every `interval` over one connection of
// its own (reconnecting while Postgres is down: what is applied then is seen
// when it is back, which is when a reader could see it too), so a figure is
// exact to the interval. The events come from the oracle (acknowledged,
// with their positions and send times); the windows from the schedule.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/robustness/schedule.h"
#include "tests/support/oracle.h"

namespace kvstream::chaos {

// The applied positions seen over time, per partition. Not thread-safe.
class AppliedSamples {
 public:
  using Clock = std::chrono::steady_clock;

  // kv_offsets as read at `t`: each partition's next offset to apply.
  void add(Clock::time_point t, const std::map<int32_t, int64_t>& next_offsets);
  // The first time the position of `partition` was seen past `offset`.
  std::optional<Clock::time_point> applied_at(int32_t partition, int64_t offset) const;

 private:
  // Per partition, each new position with the time it was first seen (the
  // positions only grow: the chaos checks audit that they never move back).
  std::map<int32_t, std::vector<std::pair<int64_t, Clock::time_point>>> seen_;
};

struct LatencyFigures {
  size_t events = 0;
  double p50_s = 0, p99_s = 0, max_s = 0;
};

struct ApplyLatency {
  double interval_s = 0;
  // Sent while some fault was on: from an episode's first action to its
  // last plus `recovery_s` (a killed member is noticed after the session
  // timeout, then the group rebalances), by kind and all kinds together.
  double recovery_s = 0;
  LatencyFigures during;
  std::map<FaultKind, LatencyFigures> by_kind;
  LatencyFigures between;  // sent while no fault was on
  size_t unseen = 0;       // acknowledged events the sampler never saw applied
};

// Pure: the latencies of `events` (those with a position and a send time)
// by the windows of `episodes` (seconds from `chaos_start`).
ApplyLatency summarize_latency(const std::vector<testing::PublishedEvent>& events,
                               const AppliedSamples& samples, const std::vector<Episode>& episodes,
                               AppliedSamples::Clock::time_point chaos_start, double recovery_s,
                               double interval_s);

// "p50 / p99 / max 0.021 / 0.310 / 4.2 s over 1234 events" lines.
std::string describe(const ApplyLatency& latency);

// Reads kv_offsets of `topic` every `interval` in a thread of its own, from
// construction to stop().
class AppliedSampler {
 public:
  AppliedSampler(std::string db_url, std::string topic, std::chrono::milliseconds interval);
  ~AppliedSampler();
  AppliedSampler(const AppliedSampler&) = delete;
  AppliedSampler& operator=(const AppliedSampler&) = delete;

  // Stops sampling; then samples() may be read.
  void stop();
  const AppliedSamples& samples() const { return samples_; }
  std::chrono::milliseconds interval() const { return interval_; }

 private:
  void loop();

  const std::string db_url_, topic_;
  const std::chrono::milliseconds interval_;
  AppliedSamples samples_;  // the thread's until stop()
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kvstream::chaos
