// Robustness tests (ctest label `robustness`): the chaos schedule's
// properties, the broker crash and restart the chaos driver relies on, and a
// short chaos run.
//
//   KVSTREAM_CHAOS_MINUTES  length of the short run's chaos phase (default 2.5)
//   KVSTREAM_CHAOS_SEED     its seed (default: random, printed; a failure
//                           prints the command that replays it)
//   KVSTREAM_CHAOS_RATE     events per second (default 300)
#include "tests/robustness/chaos.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

#include "tests/robustness/schedule.h"
#include "tests/support/kafka_server.h"
#include "tests/support/kafka_util.h"
#include "tests/support/load.h"

namespace kvstream::chaos {
namespace {

using namespace std::chrono_literals;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? fallback : std::string(v);
}

TEST(ChaosSchedule, TheSeedDeterminesTheSchedule) {
  ScheduleSpec spec;
  spec.seed = 42;
  const Schedule a = make_schedule(spec);
  const Schedule b = make_schedule(spec);
  EXPECT_EQ(a.describe(), b.describe());
  EXPECT_FALSE(a.actions.empty());
  spec.seed = 43;
  EXPECT_NE(make_schedule(spec).describe(), a.describe());
}

// For many seeds: a short run has every kind of fault; the actions on each
// resource are consistent (a replica is started only after it was stopped,
// the broker killed only when up, no lock or session kill while Postgres is
// down, a link faulted only when healthy and healed after); everything
// happens between the warm-up and the end.
TEST(ChaosSchedule, ShortRunsHaveEveryKindAndConsistentActions) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ScheduleSpec spec;
    spec.seed = seed;
    spec.duration_s = 150;
    const Schedule s = make_schedule(spec);
    for (const auto& [kind, n] : s.episodes_by_kind()) {
      EXPECT_GE(n, 1) << to_string(kind) << "\n" << s.describe();
    }
    const int slots = spec.core_replicas + spec.storm_replicas;
    std::vector<bool> up(static_cast<size_t>(slots), false);
    for (int i = 0; i < spec.core_replicas; ++i) up[static_cast<size_t>(i)] = true;
    bool broker_up = true, pg_up = true, storm = false;
    bool faulted[2] = {false, false};  // by Link
    bool disk_full = false;
    double last_broker_start = -100, lock_end = -1;
    for (const Action& a : s.actions) {
      ASSERT_GE(a.at, spec.warmup_s) << a.describe();
      ASSERT_LE(a.at, spec.duration_s) << a.describe();
      switch (a.kind) {
        case ActionKind::kReplicaStart:
          ASSERT_FALSE(up.at(static_cast<size_t>(a.slot))) << a.describe();
          up[static_cast<size_t>(a.slot)] = true;
          break;
        case ActionKind::kReplicaKill:
        case ActionKind::kReplicaTerm:
          ASSERT_TRUE(up.at(static_cast<size_t>(a.slot))) << a.describe();
          up[static_cast<size_t>(a.slot)] = false;
          break;
        case ActionKind::kBrokerKill:
          ASSERT_TRUE(broker_up) << a.describe();
          ASSERT_GE(a.at - last_broker_start, 20) << a.describe();
          broker_up = false;
          break;
        case ActionKind::kBrokerStart:
          ASSERT_FALSE(broker_up) << a.describe();
          broker_up = true;
          last_broker_start = a.at;
          break;
        case ActionKind::kPgStop:
          ASSERT_TRUE(pg_up) << a.describe();
          ASSERT_FALSE(disk_full) << a.describe();
          ASSERT_GE(a.at, lock_end) << a.describe();
          pg_up = false;
          break;
        case ActionKind::kPgStart:
          ASSERT_FALSE(pg_up) << a.describe();
          pg_up = true;
          break;
        case ActionKind::kPgTerminate:
          ASSERT_TRUE(pg_up) << a.describe();
          break;
        case ActionKind::kKvLock:
          ASSERT_TRUE(pg_up) << a.describe();
          ASSERT_GE(a.at, lock_end) << a.describe();
          lock_end = a.at + a.seconds;
          break;
        case ActionKind::kStormBegin:
          ASSERT_FALSE(storm);
          storm = true;
          break;
        case ActionKind::kStormEnd:
          ASSERT_TRUE(storm);
          storm = false;
          break;
        case ActionKind::kNetworkFault:
          ASSERT_FALSE(faulted[static_cast<int>(a.link)]) << a.describe();
          faulted[static_cast<int>(a.link)] = true;
          break;
        case ActionKind::kNetworkHeal:
          ASSERT_TRUE(faulted[static_cast<int>(a.link)]) << a.describe();
          faulted[static_cast<int>(a.link)] = false;
          break;
        case ActionKind::kDiskFill:
          ASSERT_TRUE(pg_up && !disk_full) << a.describe();
          ASSERT_GE(a.at, lock_end) << a.describe();
          disk_full = true;
          break;
        case ActionKind::kDiskFree:
          ASSERT_TRUE(pg_up && disk_full) << a.describe();
          disk_full = false;
          break;
      }
      if (a.slot >= spec.core_replicas) {
        ASSERT_TRUE(storm || a.kind != ActionKind::kReplicaStart) << a.describe();
      }
    }
    // Everything is back at the end: core replicas up, storm replicas gone.
    EXPECT_TRUE(broker_up);
    EXPECT_TRUE(pg_up);
    EXPECT_FALSE(storm);
    EXPECT_FALSE(faulted[0] || faulted[1] || disk_full);
    for (int i = 0; i < slots; ++i) {
      EXPECT_EQ(up[static_cast<size_t>(i)], i < spec.core_replicas) << "slot " << i;
    }
  }
}

// Without a disk of its own for the database (not root), no episode fills it.
TEST(ChaosSchedule, NoDiskFullWithoutADiskToFill) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    ScheduleSpec spec;
    spec.seed = seed;
    spec.disk_full = false;
    const Schedule s = make_schedule(spec);
    EXPECT_EQ(s.episodes_by_kind().at(FaultKind::kPgDiskFull), 0) << "seed " << seed;
    for (const auto& [kind, n] : s.episodes_by_kind()) {
      if (kind != FaultKind::kPgDiskFull) {
        EXPECT_GE(n, 1) << to_string(kind) << ", seed " << seed;
      }
    }
  }
}

// What the chaos driver relies on: a broker killed with kill -9 comes back
// on the same port with its data; acknowledged events are all there, at
// their acknowledged positions, and the producer goes on.
TEST(ChaosApplyLatency, EachEventCountsFromItsSendToTheFirstSampleThatPassesIt) {
  using Clock = AppliedSamples::Clock;
  const Clock::time_point t0 = Clock::now();
  const auto at = [&](double s) {
    return t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  AppliedSamples samples;
  samples.add(at(0.0), {{0, 0}, {1, 0}});
  samples.add(at(1.0), {{0, 2}, {1, 0}});  // partition 0 applied offsets 0 and 1
  samples.add(at(2.0), {{0, 2}, {1, 0}});  // nothing new: the first sight stays
  samples.add(at(9.0), {{0, 3}, {1, 1}});
  EXPECT_EQ(samples.applied_at(0, 1), at(1.0));
  EXPECT_EQ(samples.applied_at(0, 2), at(9.0));
  EXPECT_EQ(samples.applied_at(1, 1), std::nullopt);
  EXPECT_EQ(samples.applied_at(4, 0), std::nullopt);

  // An episode from 5 s to 6 s, on for 2 s after: events sent in [5, 8]
  // count as during the fault.
  Episode pg;
  pg.kind = FaultKind::kPgRestart;
  pg.start = 5;
  pg.end = 6;
  std::vector<testing::PublishedEvent> events = {
      {"a", schema::Op::kPut, "v", "", Position{0, 0}, at(0.5)},   // between: 0.5 s
      {"b", schema::Op::kPut, "v", "", Position{0, 1}, at(0.9)},   // between: 0.1 s
      {"c", schema::Op::kPut, "v", "", Position{0, 2}, at(7.0)},   // during: 2 s
      {"d", schema::Op::kPut, "v", "", Position{1, 0}, at(8.5)},   // between: 0.5 s
      {"e", schema::Op::kPut, "v", "", Position{1, 1}, at(8.6)},   // never seen applied
      {"f", schema::Op::kPut, "v", "", Position{1, -1}, at(8.7)},  // no position: left out
  };
  const ApplyLatency l = summarize_latency(events, samples, {pg}, t0, 2.0, 0.05);
  EXPECT_EQ(l.between.events, 3u);
  EXPECT_DOUBLE_EQ(l.between.p50_s, 0.5);
  EXPECT_DOUBLE_EQ(l.between.max_s, 0.5);
  EXPECT_NEAR(l.between.p99_s, 0.5, 1e-9);
  EXPECT_EQ(l.during.events, 1u);
  EXPECT_NEAR(l.during.p99_s, 2.0, 1e-9);
  ASSERT_EQ(l.by_kind.count(FaultKind::kPgRestart), 1u);
  EXPECT_EQ(l.by_kind.at(FaultKind::kPgRestart).events, 1u);
  EXPECT_EQ(l.unseen, 1u);
  EXPECT_NE(describe(l).find("during pg_restart: p50 / p99 / max 2.000 / 2.000 / 2.0 s over 1 "
                             "events"),
            std::string::npos)
      << describe(l);
}

TEST(KafkaServerTest, KillNineThenStartKeepsThePortAndTheData) {
  testing::avoid_ephemeral_ports();
  testing::KafkaServer kafka;
  testing::create_topic(kafka.brokers(), "crash", 3);
  testing::Oracle oracle;
  {
    testing::EventPublisher publisher(kafka.brokers(), "crash", oracle);
    for (int i = 0; i < 300; ++i)
      publisher.put("key:" + std::to_string(i), "v" + std::to_string(i));
    ASSERT_TRUE(publisher.flush(60s));
    ASSERT_EQ(publisher.failures(), 0u) << publisher.first_failure();
  }
  const std::string before = kafka.brokers();
  const pid_t pid = kafka.pid();
  ASSERT_GT(pid, 0);
  kafka.kill();
  EXPECT_FALSE(kafka.running());
  kafka.start();
  EXPECT_EQ(kafka.brokers(), before);
  EXPECT_NE(kafka.pid(), pid);

  testing::PublisherOptions options;
  options.delivery_timeout = 120s;
  testing::EventPublisher publisher(kafka.brokers(), "crash", oracle, options);
  for (int i = 0; i < 100; ++i) publisher.del("key:" + std::to_string(i));
  ASSERT_TRUE(publisher.flush(120s));
  ASSERT_EQ(publisher.failures(), 0u) << publisher.first_failure();

  const auto records = testing::read_all(kafka.brokers(), "crash", 60s);
  ASSERT_EQ(records.size(), oracle.size());
  std::set<std::string> in_topic, acknowledged;
  for (const auto& r : records) {
    in_topic.insert(std::to_string(r.partition) + ":" + std::to_string(r.offset) + " " +
                    r.key.value_or("") + "=" + r.value.value_or("<null>"));
  }
  for (const auto& e : oracle.events()) {
    acknowledged.insert(to_string(e.position) + " " + e.key + "=" +
                        (e.op == schema::Op::kPut ? e.value : "<null>"));
  }
  EXPECT_EQ(in_topic, acknowledged);
}

// The short chaos run of scripts/test: every kind of fault, then every
// invariant (chaos.h).
TEST(Chaos, ShortRunKeepsEveryInvariant) {
  ChaosOptions options;
  options.minutes = std::stod(env_or("KVSTREAM_CHAOS_MINUTES", "2.5"));
  options.seed = std::stoull(env_or("KVSTREAM_CHAOS_SEED", std::to_string(std::random_device{}())));
  options.rate = std::stod(env_or("KVSTREAM_CHAOS_RATE", "300"));
  options.out = &std::cout;
  std::cout << "chaos: seed " << options.seed << ", " << options.minutes
            << " min (replay: KVSTREAM_CHAOS_SEED=" << options.seed
            << " KVSTREAM_CHAOS_MINUTES=" << options.minutes
            << " ctest -R Chaos, or scripts/chaos --minutes " << options.minutes << " --seed "
            << options.seed << ")" << std::endl;
  RecordProperty("chaos_seed", std::to_string(options.seed));
  const ChaosReport report = run_chaos(options);
  std::cout << report.figures() << std::endl;
  EXPECT_TRUE(report.ok()) << report.full();
  // Every kind of fault was injected at least once.
  for (const auto& [kind, n] : report.schedule.episodes_by_kind()) {
    EXPECT_GE(report.injected.count(kind) ? report.injected.at(kind) : 0, n > 0 ? 1 : 0)
        << to_string(kind) << " was planned but never took effect";
  }
}

}  // namespace
}  // namespace kvstream::chaos
