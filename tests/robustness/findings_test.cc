// Consumer bugs the chaos driver (tests/robustness/chaos.h) found, each
// reproduced here deterministically: each test failed on the code in which
// its bug was found, and passes once the bug is fixed. They use the test
// broker and Postgres of scripts/test (KVSTREAM_TEST_BROKERS,
// KVSTREAM_TEST_PG_URL), or a server of their own where they stop it.
//
// 1. ReplicaShutdown.SigtermAfterJoiningBeforeTheFirstAssignmentExitsZero
//    Found by seed 12 (`scripts/chaos --minutes 2.5 --seed 12
//    --tombstone-retention 20`), and again by seed 1242580577. A replica
//    that gets SIGTERM after it has joined the group but before its first
//    assignment aborts instead of exiting 0, with exit 134 (SIGABRT):
//
//      kvstream-consumer: rdkafka_sticky_assignor.c:1896:
//      rd_kafka_sticky_assignor_state_destroy: Assertion `assignor_state' failed.
//
//    librdkafka sets the cooperative-sticky assignor of a member when its
//    JoinGroup completes, but sets the assignor's state only when a
//    SyncGroup gives the member an assignment. rd_kafka_destroy in between
//    asserts (librdkafka issue 4312, fixed in 2.3.0; Debian 12 ships 2.0.2).
//    The replica uses that assignor (consumer/source/kafka_source.cc, the
//    `partition.assignment.strategy` setting) and destroys its consumer on
//    shutdown. A rolling update that stops a replica still joining a busy
//    group hits this.
//
//    The test makes the window long:
//    - The group's leader (replica A) is kept nearly frozen: SIGSTOP, with a
//      40 ms SIGCONT every 1.5 s, so that it stays a live member.
//    - A second member (C) notices rebalances late: its heartbeat interval
//      is 3 s.
//    So the join phase that a new replica B starts usually completes while
//    the leader is frozen. B has its JoinGroup response, and the leader's
//    assignment (its SyncGroup) comes up to 1.5 s later. The broker shows
//    that moment as the group state CompletingRebalance, with B among the
//    members. B gets SIGTERM then.
//
// 2. ReplicaRebalance.APartitionPausedWhenRevokedIsFetchedWhenAssignedAgain
//    Found by seed 1242580577 (`scripts/chaos --minutes 2.5 --seed
//    1242580577`, the short run of scripts/test). Partition 0 stalled for
//    good, 1167 records short of its end, while its replica ran, reported
//    itself ready, showed 0 paused partitions and a lag of 4.
//    - A replica pauses a partition whose batch fails (Postgres down) or
//      whose backlog is too long (ApplyEngine::update_pause).
//    - On revoke, ConsumerService::on_revoke (consumer/service.cc,
//      `paused_.erase(p)`) forgets the pause, but never resumes the
//      partition in librdkafka.
//    - librdkafka keeps a partition's pause across a revoke and a later
//      assignment (its documented behaviour).
//    - If the same replica is given the partition again,
//      KafkaSource::handle_rebalance (consumer/source/kafka_source.cc)
//      assigns it still paused. The engine's new Partition starts unpaused,
//      so nothing ever resumes it, and it is never fetched again.
//    The stall is silent: /readyz is 200, kvstream_paused_partitions is 0,
//    and the lag gauge uses the end offset of the last fetch.
//
// 3. ReplicaShutdown.SigtermWhileJoiningWithTheBrokerGoneExitsZero
//    Found by seed 997887639 (`scripts/chaos --minutes 2.5 --seed
//    997887639`): replica s0.3 started 1.2 s before the broker was killed,
//    got SIGTERM 6 s later and exited 134, 10.1 s after it. The fix of 1.
//    waits for the first assignment only up to the session timeout (10 s);
//    with the broker gone the join never finishes, and the consumer was then
//    closed and destroyed in the state that asserts. The test catches a
//    new member at the moment of 1. and kills the broker right then.
//
// 4. ReplicaRebalance.ACommitRefusedDuringARebalanceReachesKafkaWhenItEnds
//    Finding 5 of docs/reliability.md, found by seed 3013527399 (the short
//    run of scripts/test): a replica committed the position of a partition
//    it kept through a rebalance with the generation it had before, the
//    broker refused it (the group had moved to the next generation), no
//    later record of the partition came, and the group's committed offset
//    stayed behind the applied position for good. The window is the time
//    between the broker's end of the join and the member's receipt of its
//    JoinGroup answer; the test makes it seconds long: replica C reaches the
//    broker through Toxiproxy, whose answers to C come 6 s late, while A and
//    the joining B go straight. A load runs until B has joined; C applies
//    its last records during the window and counts its refused commits
//    (kvstream_kafka_commits_refused_total); with nothing published after
//    that, every partition's committed offset must still reach its end.
//
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "tests/support/group.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_server.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"
#include "tests/support/load.h"
#include "tests/support/metrics_reader.h"
#include "tests/support/pg_server.h"
#include "tests/support/replica.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"
#include "tests/support/toxiproxy.h"
#include "tests/support/wait.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

// Finding 1's setting: a group of two replicas in which a new member's first
// assignment comes late. A, the first member, is the group's leader; C
// notices rebalances late (a 3 s heartbeat interval).
class SlowAssignmentGroup {
 public:
  SlowAssignmentGroup(const std::string& brokers, const std::string& name)
      : brokers_(brokers), topic_(unique_name(name)), group_(unique_name(name + "_group")) {
    create_topic(brokers_, topic_, 6);
    create_topic(brokers_, topic_ + ".dlq", 1);
    config_ = ReplicaConfig{brokers_, topic_, group_, db_.url(), {}};
    run_migrations(config_);
  }

  ReplicaConfig config(const std::string& client_id, const char* heartbeat_ms = "1000") const {
    ReplicaConfig c = config_;
    c.env = {{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "10000"},
             {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", heartbeat_ms},
             {"KVSTREAM_KAFKA_CLIENT_ID", client_id}};
    return c;
  }

  // Starts A and C; "" once the group is stable with both, else why not.
  std::string start() {
    a_ = std::make_unique<Replica>(config("kvtest-leader"), "leader");
    if (!a_->wait_ready(60s)) return "the leader is not ready\n" + a_->log_tail();
    if (auto why = wait_stable(1); !why.empty()) return why;
    c_ = std::make_unique<Replica>(config("kvtest-late", "3000"), "late");
    if (!c_->wait_ready(60s)) return "the late member is not ready\n" + c_->log_tail();
    return wait_stable(2);
  }

  // "" once the group is stable with `members` members and every partition
  // assigned, else why not (after 60 s).
  std::string wait_stable(size_t members) {
    GroupDescription g;
    const bool ok = eventually(
        [&] {
          if (!describe(&g)) return false;
          return g.state == "Stable" && g.members.size() == members && g.assigned().size() == 6;
        },
        60s, 250ms);
    return ok ? std::string()
              : "group not stable with " + std::to_string(members) + " members: " + g.summary();
  }

  // Starts replica B (client id `client`) and waits (up to 60 s) for the
  // moment the broker shows it joined, without its assignment yet (the
  // group CompletingRebalance with B among its members). Meanwhile A is
  // kept nearly frozen (SIGSTOP, with a 40 ms SIGCONT every 1.5 s so that
  // it stays a live member), so that the leader's assignment (its
  // SyncGroup) comes up to 1.5 s after B's join. The freeze lasts until
  // thaw_leader(). False if the moment was missed.
  bool join_until_unassigned(const std::string& client, std::unique_ptr<Replica>* b,
                             GroupDescription* g) {
    stop_throttle_.store(false);
    throttle_ = std::thread([this] {
      while (!stop_throttle_.load()) {
        a_->signal(SIGSTOP);
        std::this_thread::sleep_for(1500ms);
        a_->signal(SIGCONT);
        std::this_thread::sleep_for(40ms);
      }
      a_->signal(SIGCONT);
    });
    *b = std::make_unique<Replica>(config(client), client);
    return eventually(
        [&] {
          if (!describe(g) || g->state != "CompletingRebalance") return false;
          for (const GroupMember& m : g->members) {
            if (m.client_id == client) return true;
          }
          return false;
        },
        60s, 20ms);
  }

  void thaw_leader() {
    stop_throttle_.store(true);
    if (throttle_.joinable()) throttle_.join();
  }

  Replica& a() { return *a_; }
  Replica& c() { return *c_; }

  ~SlowAssignmentGroup() { thaw_leader(); }

 private:
  bool describe(GroupDescription* g) {
    try {
      *g = describe_group(brokers_, group_, topic_);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  const std::string brokers_;
  const std::string topic_;
  const std::string group_;
  TestDatabase db_;
  ReplicaConfig config_;
  std::unique_ptr<Replica> a_;
  std::unique_ptr<Replica> c_;
  std::atomic<bool> stop_throttle_{false};
  std::thread throttle_;
};

TEST(ReplicaShutdown, SigtermAfterJoiningBeforeTheFirstAssignmentExitsZero) {
  SlowAssignmentGroup group(test_brokers(), "shutdown");
  ASSERT_EQ(group.start(), "");

  // Up to five attempts (each bounded), until the moment was caught twice:
  // it may be missed, or the leader's assignment may reach B before B has
  // left.
  size_t caught = 0;
  std::optional<int> failed_code;
  std::string failed_log;
  for (int attempt = 0; attempt < 5 && !failed_code && caught < 2; ++attempt) {
    std::unique_ptr<Replica> b;
    GroupDescription g;
    const bool moment =
        group.join_until_unassigned("kvtest-joiner-" + std::to_string(attempt), &b, &g);
    b->signal(SIGTERM);
    const std::optional<int> code = b->wait(90s);
    group.thaw_leader();
    std::cout << "attempt " << attempt << ": "
              << (moment ? "SIGTERM while " + g.summary() : std::string("moment missed"))
              << "; exit " << (code ? std::to_string(*code) : "none") << std::endl;
    if (!code) {
      failed_code = -1;
      failed_log = "still running 90 s after SIGTERM\n" + b->log_tail(3000);
      b->kill();
      break;
    }
    if (moment) ++caught;
    if (*code != 0) {
      failed_code = code;
      failed_log = b->log_tail(3000);
      break;
    }
    ASSERT_EQ(group.wait_stable(2), "");
  }
  ASSERT_GT(caught, 0u) << "could not catch a new member between its join and its assignment";
  EXPECT_FALSE(failed_code.has_value()) << "a replica stopped before its first assignment exited "
                                        << failed_code.value_or(0) << ", not 0\n"
                                        << failed_log;
  EXPECT_TRUE(group.a().running()) << group.a().log_tail();
  EXPECT_EQ(group.c().terminate(30s), 0) << group.c().log_tail();
  EXPECT_EQ(group.a().terminate(30s), 0) << group.a().log_tail();
}

// Finding 3: the same moment, with the broker gone (killed) right then, so
// that the join never finishes: the replica got SIGTERM, waited its session
// timeout for the assignment, then aborted (exit 134) closing its consumer.
TEST(ReplicaShutdown, SigtermWhileJoiningWithTheBrokerGoneExitsZero) {
  KafkaServer kafka;  // of this test's own: it is killed
  SlowAssignmentGroup group(kafka.brokers(), "shutdown_nobroker");
  ASSERT_EQ(group.start(), "");

  bool caught = false;
  for (int attempt = 0; attempt < 5 && !caught; ++attempt) {
    std::unique_ptr<Replica> b;
    GroupDescription g;
    caught = group.join_until_unassigned("kvtest-joiner-" + std::to_string(attempt), &b, &g);
    if (!caught) {
      group.thaw_leader();
      ASSERT_EQ(b->terminate(90s), 0) << b->log_tail();
      ASSERT_EQ(group.wait_stable(2), "");
      continue;
    }
    kafka.kill();
    b->signal(SIGTERM);
    const std::optional<int> code = b->wait(90s);
    group.thaw_leader();
    std::cout << "SIGTERM while " << g.summary() << ", then the broker killed; exit "
              << (code ? std::to_string(*code) : "none") << std::endl;
    ASSERT_TRUE(code.has_value()) << "still running 90 s after SIGTERM\n" << b->log_tail(3000);
    EXPECT_EQ(*code, 0) << b->log_tail(3000);
  }
  ASSERT_TRUE(caught) << "could not catch a new member between its join and its assignment";
  // The members that had their assignment stop cleanly without the broker too.
  EXPECT_EQ(group.c().terminate(60s), 0) << group.c().log_tail();
  EXPECT_EQ(group.a().terminate(60s), 0) << group.a().log_tail();
}

// A gauge of the replica's /metrics, or -1.
double gauge(const Replica& r, const std::string& name) { return metric_value(r.port(), name); }

std::string show(const std::map<int32_t, int64_t>& offsets) {
  std::string out;
  for (const auto& [p, o] : offsets) out += " p" + std::to_string(p) + "=" + std::to_string(o);
  return out;
}

TEST(ReplicaRebalance, APartitionPausedWhenRevokedIsFetchedWhenAssignedAgain) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("repause");
  const std::string group = unique_name("repause_group");
  create_topic(brokers, topic, 6);
  create_topic(brokers, topic + ".dlq", 1);
  PgServer pg;  // of this test's own: it is stopped
  ReplicaConfig config{brokers, topic, group, pg.create_database(unique_name("repause")), {}};
  run_migrations(config);
  auto env_for = [&](const std::string& client_id) {
    ReplicaConfig c = config;
    c.env = {{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "6000"},
             {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
             {"KVSTREAM_KAFKA_CLIENT_ID", client_id}};
    return c;
  };
  auto applied = [&] {
    std::map<int32_t, int64_t> out = read_applied_offsets(config.pg_url, topic);
    for (int32_t p = 0; p < 6; ++p) out.emplace(p, 0);
    return out;
  };
  auto describe = [&]() -> std::optional<GroupDescription> {
    try {
      return describe_group(brokers, group, topic);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  auto partitions_of = [](const GroupDescription& g, const std::string& client) {
    for (const GroupMember& m : g.members) {
      if (m.client_id == client) return m.partitions;
    }
    return std::vector<int32_t>{};
  };
  Oracle oracle;
  EventPublisher publisher(brokers, topic, oracle);
  auto publish = [&](uint64_t seed) {
    LoadSpec spec;
    spec.events = 3000;
    spec.keys = 300;
    spec.seed = seed;
    publish_load(publisher, spec);
    return publisher.flush(60s) && publisher.failures() == 0;
  };

  Replica a(env_for("kvtest-a"), "a");
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();
  ASSERT_TRUE(publish(1));
  ASSERT_TRUE(eventually([&] { return applied() == end_offsets(brokers, topic); }, 60s))
      << show(applied()) << "\n"
      << a.log_tail();

  // Postgres goes away under a load: A pauses every partition.
  pg.stop();
  ASSERT_TRUE(publish(2));
  ASSERT_TRUE(eventually([&] { return gauge(a, "kvstream_paused_partitions") == 6; }, 60s))
      << "paused: " << gauge(a, "kvstream_paused_partitions") << "\n"
      << a.log_tail();

  // B joins: A's partitions that move to B are revoked while paused. (B
  // then waits for Postgres inside its first assignment, so the rebalance
  // does not finish while B lives.)
  std::vector<int32_t> moved;
  {
    ReplicaConfig b_config = env_for("kvtest-b");
    b_config.env["KVSTREAM_NO_MIGRATE"] = "true";  // joins without waiting for Postgres
    Replica b(b_config, "b");
    ASSERT_TRUE(
        eventually([&] { return gauge(a, "kvstream_assigned_partitions") < 6; }, 60s, 250ms))
        << "A kept all its partitions\n"
        << a.log_tail() << b.log_tail();
    // Which ones A gave up, from its own status.
    const std::string status = http_request(a.port(), "GET", "/v1/status").body;
    for (int32_t p = 0; p < 6; ++p) {
      if (status.find("\"partition\":" + std::to_string(p) + "}") == std::string::npos &&
          status.find("\"partition\":" + std::to_string(p) + ",") == std::string::npos) {
        moved.push_back(p);
      }
    }
    // B dies before it could apply anything; A gets them back.
    b.kill();
  }
  // Postgres is back (A waits for it inside its assignment callbacks, so the
  // group settles only then); A gets every partition back.
  pg.start();
  GroupDescription back;
  ASSERT_TRUE(eventually(
      [&] {
        auto g = describe();
        if (!g) return false;
        back = *g;
        return g->state == "Stable" && g->members.size() == 1 &&
               partitions_of(*g, "kvtest-a").size() == 6;
      },
      60s, 250ms))
      << back.summary() << "\n"
      << a.log_tail(1500);

  // More events come: every partition must reach its end offset.
  ASSERT_TRUE(publish(3));
  const std::map<int32_t, int64_t> end = end_offsets(brokers, topic);
  std::map<int32_t, int64_t> now;
  const bool caught_up = eventually(
      [&] {
        try {
          now = applied();
        } catch (const std::exception&) {
          return false;
        }
        return now == end;
      },
      90s, 500ms);
  std::string stalled;
  for (const auto& [p, o] : end) {
    if (now[p] != o) stalled += " " + std::to_string(p);
  }
  std::string moved_text;
  for (int32_t p : moved) moved_text += " " + std::to_string(p);
  EXPECT_TRUE(caught_up) << "partitions that never reached their end offset:" << stalled
                         << " (revoked from A while paused, then assigned to A again:" << moved_text
                         << ")\napplied" << show(now) << "\nend    " << show(end)
                         << "\nA says: paused partitions " << gauge(a, "kvstream_paused_partitions")
                         << ", /readyz " << a.readyz() << "\n"
                         << a.log_tail(3000);
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
}

TEST(ReplicaRebalance, ACommitRefusedDuringARebalanceReachesKafkaWhenItEnds) {
  Toxiproxy proxy("/tmp");
  const uint16_t listener = free_port();
  const uint16_t proxied = proxy.add_proxy("broker", "127.0.0.1:" + std::to_string(listener));
  KafkaServer kafka(listener, proxied);  // of this test's own: C reaches it through the proxy
  const std::string topic = unique_name("refused_commit");
  const std::string group = unique_name("refused_commit_group");
  create_topic(kafka.brokers(), topic, 6);
  create_topic(kafka.brokers(), topic + ".dlq", 1);
  TestDatabase db;
  ReplicaConfig config{kafka.brokers(), topic, group, db.url(), {}};
  run_migrations(config);
  auto config_for = [&](const std::string& client_id, const std::string& brokers) {
    ReplicaConfig c = config;
    c.brokers = brokers;
    c.env = {{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "15000"},
             {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
             {"KVSTREAM_KAFKA_CLIENT_ID", client_id}};
    return c;
  };
  auto applied = [&] {
    try {
      std::map<int32_t, int64_t> out = read_applied_offsets(db.url(), topic);
      for (int32_t p = 0; p < 6; ++p) out.emplace(p, 0);
      return out;
    } catch (const std::exception&) {
      return std::map<int32_t, int64_t>{};
    }
  };
  auto committed = [&] {
    try {
      return committed_offsets(kafka.brokers(), group, topic);
    } catch (const std::exception&) {
      return std::map<int32_t, int64_t>{};
    }
  };
  auto describe = [&](GroupDescription* g) {
    auto d = try_describe(kafka.brokers(), group, topic);
    if (d) *g = std::move(*d);
    return d.has_value();
  };
  auto stable_with = [&](size_t members) {
    GroupDescription g;
    const bool ok = eventually(
        [&] {
          return describe(&g) && g.state == "Stable" && g.members.size() == members &&
                 g.assigned().size() == 6;
        },
        90s, 250ms);
    return ok ? std::string()
              : "group not stable with " + std::to_string(members) + ": " + g.summary();
  };

  Oracle oracle;
  EventPublisher publisher(kafka.brokers(), topic, oracle);
  Replica a(config_for("kvtest-a", kafka.brokers()), "a");
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();
  Replica c(config_for("kvtest-c", "127.0.0.1:" + std::to_string(proxied)), "c");
  ASSERT_TRUE(c.wait_ready(60s)) << c.log_tail();
  ASSERT_EQ(stable_with(2), "");
  {
    LoadSpec spec;
    spec.events = 1200;
    spec.keys = 300;
    publish_load(publisher, spec);
    ASSERT_TRUE(publisher.flush(60s) && publisher.failures() == 0);
  }
  std::map<int32_t, int64_t> end = end_offsets(kafka.brokers(), topic);
  ASSERT_TRUE(eventually([&] { return applied() == end && committed() == end; }, 60s))
      << "applied" << show(applied()) << "\ncommitted" << show(committed()) << "\nend" << show(end);

  // C's answers from the broker come 6 s late: C learns of a rebalance
  // 6 s after it begins, and of its end (its JoinGroup answer) 6 s after
  // the broker ended the join. A load runs until shortly after B has
  // joined; C's last records reach it in between, and it commits them with
  // the generation it had. Up to four attempts: when the last records
  // reach C outside that window, nothing is refused (and nothing is wrong).
  auto refused = [&] {
    return std::max(0.0, metric_value(c.port(), "kvstream_kafka_commits_refused_total"));
  };
  std::unique_ptr<Replica> b;
  bool caught = false;
  for (int attempt = 0; attempt < 4 && !caught; ++attempt) {
    if (b) {
      ASSERT_EQ(b->terminate(30s), 0) << b->log_tail();
      b.reset();
      ASSERT_EQ(stable_with(2), "");
    }
    const double refused_before = refused();
    proxy.add_toxic("broker", "late", "latency", "downstream", {{"latency", 6000}});
    LoadSpec spec;
    spec.events = 0;  // until stopped
    spec.keys = 600;
    spec.rate = 300;
    spec.seed = 2 + static_cast<uint64_t>(attempt);
    auto load = std::make_unique<BackgroundLoad>(publisher, spec);
    std::this_thread::sleep_for(3s);
    const std::string client = "kvtest-b" + std::to_string(attempt);
    b = std::make_unique<Replica>(config_for(client, kafka.brokers()), client);
    GroupDescription g;
    const bool joined = eventually(
        [&] {
          if (!describe(&g)) return false;
          for (const GroupMember& m : g.members) {
            if (m.client_id == client) return true;
          }
          return false;
        },
        60s, 20ms);
    // C hears of the rebalance up to a heartbeat and 6 s after B's join,
    // and rejoins then, which ends the join; its records are as late as
    // its answers. Those published until 2.5 s after B's join reach it
    // after the join's end and before its JoinGroup answer.
    std::this_thread::sleep_for(2500ms);
    load->stop();
    load.reset();
    ASSERT_TRUE(joined) << "B did not join: " << g.summary() << "\n" << b->log_tail();
    ASSERT_TRUE(publisher.flush(60s) && publisher.failures() == 0);
    caught = eventually([&] { return refused() > refused_before; }, 25s, 100ms);
    proxy.remove_toxic("broker", "late");
    ASSERT_EQ(stable_with(3), "");
    std::cout << "attempt " << attempt << ": C's commits refused: " << refused() - refused_before
              << std::endl;
  }
  ASSERT_TRUE(caught) << "no commit of C was refused in four attempts\n" << c.log_tail();

  // Nothing is published any more: every position applied reaches Kafka.
  end = end_offsets(kafka.brokers(), topic);
  EXPECT_TRUE(eventually([&] { return applied() == end; }, 60s))
      << "applied" << show(applied()) << "\nend" << show(end);
  std::map<int32_t, int64_t> now;
  EXPECT_TRUE(eventually(
      [&] {
        now = committed();
        return now == end;
      },
      30s, 250ms))
      << "the group's committed offsets stayed behind the applied positions\ncommitted" << show(now)
      << "\nend      " << show(end) << "\n"
      << c.log_tail(3000);
  EXPECT_EQ(b->terminate(30s), 0) << b->log_tail();
  EXPECT_EQ(c.terminate(30s), 0) << c.log_tail();
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
}

}  // namespace
}  // namespace kvstream::testing
