// The apply engine under faults, end to end: kill -9 at random moments, a
// database outage, and a replica frozen (SIGSTOP) while the group gives its
// partitions to another. Checked only by what a user can observe: the kv
// table against the oracle, kv_offsets and its audit, the committed offsets,
// the group's membership on the broker, /readyz, exit codes.
//
//   KVSTREAM_CRASH_KILLS  number of kill -9 in the crash test (default 10)
//   KVSTREAM_CRASH_SEED   its seed (default: random, printed)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <thread>
#include <vector>

#include "tests/e2e/apply_fixture.h"
#include "tests/support/metrics_reader.h"
#include "tests/support/pg_server.h"
#include "tests/support/process.h"
#include "tests/support/small_disk.h"
#include "tests/support/test_database.h"
#include "tests/support/toxiproxy.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const GroupMember* member_with_client(const GroupDescription& g, const std::string& client_id) {
  for (const auto& m : g.members) {
    if (m.client_id == client_id) return &m;
  }
  return nullptr;
}

class ApplyFaultTest : public ApplyFixture {
 protected:
  // Stops the load, waits for every acknowledgement, and returns the end
  // offsets.
  Offsets finish_load(BackgroundLoad& load) {
    load.stop();
    EXPECT_EQ(load.error(), "");
    EXPECT_TRUE(publisher_->flush(60s)) << "the broker did not acknowledge the load";
    EXPECT_EQ(publisher_->failures(), 0u) << publisher_->first_failure();
    return ends();
  }

  // How every fault test ends: the replicas apply everything up to `end`
  // (within `timeout`; `logs` for the failure message), the table equals the
  // oracle, no position ever moved back, and the group's committed offsets
  // reach `end`. Call it inside ASSERT_NO_FATAL_FAILURE.
  void expect_applied_exactly(const Offsets& end, std::chrono::milliseconds timeout,
                              const std::function<std::string()>& logs) {
    ASSERT_TRUE(wait_applied(end, timeout))
        << "kv_offsets " << show(applied()) << ", end offsets " << show(end) << "\n"
        << logs();
    expect_table_matches_oracle();
    expect_no_backward_moves();
    EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s)) << show(committed());
  }

  // A group with `members` members, Stable, every partition assigned.
  bool wait_group(size_t members, std::chrono::milliseconds timeout, GroupDescription* out) {
    return eventually(
        [&] {
          auto g = try_describe(brokers_, group_, topic_);
          if (!g) return false;
          *out = *g;
          return g->state == "Stable" && g->members.size() == members &&
                 g->assigned().size() == static_cast<size_t>(kPartitions);
        },
        timeout, 500ms);
  }
};

// kill -9 at random moments of a load (some during start-up, most while
// applying), restarting each time; then one replica finishes. The table is
// exactly the oracle: nothing lost, no deleted key back, no position or row
// ever moved backwards.
TEST_F(ApplyFaultTest, KillNineAtRandomMomentsLosesNothingAndResurrectsNothing) {
  const uint64_t kills = env_number("KVSTREAM_CRASH_KILLS", 10);
  const uint64_t seed = env_number("KVSTREAM_CRASH_SEED", std::random_device{}());
  std::cout << "crash test: " << kills << " kills, seed " << seed
            << " (repeat with KVSTREAM_CRASH_SEED=" << seed << ")" << std::endl;
  RecordProperty("crash_seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  // A dead member holds its partitions until its session times out: keep it
  // short so that each restart gets them back quickly.
  const std::map<std::string, std::string> env{{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "3000"},
                                               {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "500"}};

  LoadSpec spec;
  spec.events = 0;  // until the kills are done
  // About three events per key: a lost event is likely the last of its key,
  // so a loss shows in the final table (coalescing hides earlier ones).
  spec.keys = 20000;
  spec.delete_ratio = 0.10;
  spec.rate = 1500;
  spec.seed = seed;
  BackgroundLoad load(*publisher_, spec);

  // One kill in four at a random moment of start-up (migrations, joining the
  // group, loading positions); the others once it is applying. The count is
  // fixed and only the order drawn, so that every seed kills mostly while
  // applying.
  std::vector<bool> early_kills(kills, false);
  std::fill_n(early_kills.begin(), kills / 4, true);
  std::shuffle(early_kills.begin(), early_kills.end(), rng);

  size_t while_applying = 0;
  for (uint64_t i = 0; i < kills; ++i) {
    const int64_t before = total(applied());
    Replica& r = start_replica("crash-" + std::to_string(i), env);
    const auto started = Clock::now();
    const bool early = early_kills[i];
    if (early) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
    } else {
      ASSERT_TRUE(eventually([&] { return total(applied()) > before; }, 60s, 50ms))
          << "replica " << i << " applied nothing within 60 s\n"
          << r.log_tail();
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 2000)(rng)));
    }
    ASSERT_TRUE(r.running()) << "replica " << i << " exited by itself\n" << r.log_tail();
    r.kill();
    const int64_t after = total(applied());
    if (after > before) ++while_applying;
    std::cout
        << "kill " << i + 1 << "/" << kills << (early ? " (start-up)" : " (applying)") << " after "
        << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
        << " ms; applied " << before << " -> " << after << ", published "
        << publisher_->acknowledged() << std::endl;
  }
  std::cout << while_applying << " of " << kills << " kills landed while the replica was applying"
            << std::endl;

  const Offsets end = finish_load(load);
  Replica& last = start_replica("final", env);
  ASSERT_NO_FATAL_FAILURE(expect_applied_exactly(end, 180s, [&] { return last.log_tail(); }));
  EXPECT_EQ(last.terminate(30s), 0) << last.log_tail();
}

// Postgres (a server of this test's own) stops for 20 s during a load: the
// replica stays a member with the same assignment (no rebalance, seen from
// the broker, even though it must poll at least every 10 s), reports 503 on
// /readyz, commits nothing past what was applied, and once the database is
// back it resumes and the table equals the oracle.
TEST_F(ApplyFaultTest, DatabaseOutageKeepsTheAssignmentAndResumes) {
  PgServer pg;
  pg_url_ = pg.create_database(unique_name("outage"));
  run_migrations(config());
  install_audit(pg_url_);
  const std::map<std::string, std::string> env{
      {"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "6000"},
      {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
      // A replica that stopped polling during the outage would leave the
      // group after this; the outage is twice as long.
      {"KVSTREAM_KAFKA_MAX_POLL_INTERVAL_MS", "10000"}};
  Replica& r = start_replica("r1", env);
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
  GroupDescription before;
  ASSERT_TRUE(wait_group(1, 30s, &before)) << before.summary();

  LoadSpec spec;
  spec.events = 30000;
  spec.keys = 2000;
  spec.rate = 1000;  // about 30 s: before, during and after the outage
  spec.seed = env_number("KVSTREAM_TEST_SEED", 5005);
  BackgroundLoad load(*publisher_, spec);
  ASSERT_TRUE(eventually([&] { return total(applied()) > 2000; }, 30s)) << r.log_tail();

  pg.stop();
  const auto outage_start = Clock::now();
  std::cout << "Postgres stopped" << std::endl;
  bool saw_not_ready = false;
  std::vector<std::string> group_changes;
  std::vector<Offsets> committed_during;
  while (Clock::now() - outage_start < 20s) {
    if (r.readyz() == 503) saw_not_ready = true;
    if (auto g = try_describe(brokers_, group_, topic_)) {
      if (g->state != "Stable" || g->members.size() != 1 ||
          g->members[0].member_id != before.members[0].member_id ||
          g->members[0].partitions != before.members[0].partitions) {
        group_changes.push_back(g->summary());
      }
    }
    try {
      committed_during.push_back(committed());
    } catch (const std::exception& e) {
      std::cout << "committed offsets: " << e.what() << std::endl;
    }
    ASSERT_TRUE(r.running()) << "the replica exited during the outage\n" << r.log_tail();
    std::this_thread::sleep_for(500ms);
  }
  const auto outage_end = std::chrono::system_clock::now();
  pg.start();
  std::cout << "Postgres started again" << std::endl;

  EXPECT_TRUE(saw_not_ready) << "/readyz never answered 503 while Postgres was down";
  EXPECT_TRUE(group_changes.empty())
      << "the group changed during the outage (a rebalance); before: " << before.summary()
      << "; then: " << group_changes.front();
  // Nothing past the last applied event was committed while Postgres was
  // down: every committed offset seen then is at most the position the
  // database held when it stopped.
  const Offsets applied_at_outage = audited_offsets_at(pg_url_, topic_, outage_end);
  for (const Offsets& c : committed_during) {
    for (const auto& [p, offset] : c) {
      auto it = applied_at_outage.find(p);
      EXPECT_LE(offset, it == applied_at_outage.end() ? 0 : it->second)
          << "partition " << p << " committed past the applied position during the outage";
    }
  }
  EXPECT_TRUE(eventually([&] { return r.readyz() == 200; }, 60s)) << "/readyz did not recover\n"
                                                                  << r.log_tail();

  ASSERT_TRUE(load.wait(60s));
  const Offsets end = finish_load(load);
  ASSERT_NO_FATAL_FAILURE(expect_applied_exactly(end, 120s, [&] { return r.log_tail(); }));
  auto after = try_describe(brokers_, group_, topic_);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->summary(), before.summary()) << "the membership changed across the outage";
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// Postgres runs out of disk space under the load (the kv table's tablespace
// on a full tmpfs; the WAL keeps its own disk): the replica keeps running,
// retries its batches and says why, commits nothing it did not apply, and
// once space is back it applies everything: the table equals the oracle.
TEST_F(ApplyFaultTest, DiskFullOnPostgresPausesTheApplyAndLosesNothing) {
  if (!SmallDisk::can_mount()) GTEST_SKIP() << "mounting a small tmpfs for Postgres needs root";
  SmallDisk disk("64m");
  PgServer pg;
  pg_url_ = pg.create_database(unique_name("diskfull"), &disk);
  run_migrations(config());
  install_audit(pg_url_);
  Replica& r = start_replica("r1");
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();

  LoadSpec spec;
  spec.events = 40000;
  spec.keys = 40000;  // mostly new rows: the table must grow
  spec.max_padding = 600;
  spec.rate = 1500;
  spec.seed = env_number("KVSTREAM_TEST_SEED", 6006);
  BackgroundLoad load(*publisher_, spec);
  ASSERT_TRUE(eventually([&] { return total(applied()) > 3000; }, 30s)) << r.log_tail();

  const size_t filled = disk.fill();
  std::cout << "filled the tablespace's disk with " << filled / 1024 << " KiB" << std::endl;
  const double retries_before = metric_value(r.port(), "kvstream_apply_retries_total");
  ASSERT_TRUE(eventually(
      [&] { return metric_value(r.port(), "kvstream_apply_retries_total") > retries_before; }, 60s))
      << "no batch failed with the disk full\n"
      << r.log_tail();
  // Held full for a while: the replica stays, and what it commits to Kafka
  // never passes what Postgres holds.
  const auto full_until = Clock::now() + 10s;
  while (Clock::now() < full_until) {
    ASSERT_TRUE(r.running()) << "the replica exited with the disk full\n" << r.log_tail();
    const Offsets held = applied();
    for (const auto& [p, offset] : committed()) {
      auto it = held.find(p);
      EXPECT_LE(offset, it == held.end() ? 0 : it->second)
          << "partition " << p << " committed past the applied position with the disk full";
    }
    std::this_thread::sleep_for(500ms);
  }
  std::ifstream log(r.log_path());
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("No space left on device"), std::string::npos)
      << "the log does not say the disk is full\n"
      << r.log_tail();

  disk.free_space();
  ASSERT_TRUE(load.wait(120s));
  const Offsets end = finish_load(load);
  ASSERT_NO_FATAL_FAILURE(expect_applied_exactly(end, 120s, [&] { return r.log_tail(); }));
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// The network between the replica and Postgres misbehaves under a load,
// through a real fault proxy (Toxiproxy): added latency, a narrow link,
// connections reset and cut (mid-transaction included), new connections
// refused, and a half-open link (the peer stops answering without
// closing). The replica stays up through all of it, and once the link is
// healthy again it applies everything: the table equals the oracle, no
// position moves backwards, and the committed offsets reach the end.
TEST_F(ApplyFaultTest, NetworkFaultsBetweenTheReplicaAndPostgresLoseNothing) {
  Toxiproxy proxy("/tmp");
  // The replica goes through the proxy, the test's own checks straight to
  // Postgres.
  const std::string proxied =
      pg_url_with_port(pg_url_, proxy.add_proxy("pg", pg_url_host_port(pg_url_)));
  Replica& r = start_replica(
      "r1", {{"KVSTREAM_PG_URL", proxied}, {"KVSTREAM_PG_STATEMENT_TIMEOUT_MS", "3000"}});
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();

  LoadSpec spec;
  spec.events = 0;  // until the faults are over
  spec.keys = 3000;
  spec.rate = 800;
  spec.seed = env_number("KVSTREAM_TEST_SEED", 8008);
  BackgroundLoad load(*publisher_, spec);
  ASSERT_TRUE(eventually([&] { return total(applied()) > 2000; }, 30s)) << r.log_tail();

  const auto hold = [&](const std::string& what, std::chrono::seconds d) {
    std::cout << what << " for " << d.count() << " s" << std::endl;
    const auto until = Clock::now() + d;
    while (Clock::now() < until) {
      ASSERT_TRUE(r.running()) << "the replica exited during: " << what << "\n" << r.log_tail();
      std::this_thread::sleep_for(250ms);
    }
  };
  proxy.add_toxic("pg", "latency", "latency", "downstream", {{"latency", 150}, {"jitter", 50}});
  hold("150 ms of latency", 6s);
  proxy.remove_toxic("pg", "latency");
  proxy.add_toxic("pg", "narrow", "bandwidth", "upstream", {{"rate", 32}});
  hold("a 32 KB/s link", 6s);
  proxy.remove_toxic("pg", "narrow");
  proxy.add_toxic("pg", "reset", "reset_peer", "upstream", {{"timeout", 0}});
  hold("every connection reset", 3s);
  proxy.remove_toxic("pg", "reset");
  hold("healthy", 3s);
  proxy.set_enabled("pg", false);
  hold("connections cut and refused", 4s);
  proxy.set_enabled("pg", true);
  hold("healthy", 3s);
  // Data stops both ways and nothing is closed: Postgres cannot time the
  // statement out (it never arrives), so the replica must notice by itself,
  // within its statement timeout and a grace.
  const double retries_before = metric_value(r.port(), "kvstream_apply_retries_total");
  proxy.add_toxic("pg", "half-open-up", "timeout", "upstream", {{"timeout", 0}});
  proxy.add_toxic("pg", "half-open-down", "timeout", "downstream", {{"timeout", 0}});
  hold("a half-open link", 15s);
  EXPECT_GT(metric_value(r.port(), "kvstream_apply_retries_total"), retries_before)
      << "no batch failed during 15 s of a half-open link (statement timeout 3 s): the replica "
         "waited on it silently\n"
      << r.log_tail();
  proxy.remove_toxic("pg", "half-open-up");
  proxy.remove_toxic("pg", "half-open-down");

  load.stop();
  const Offsets end = finish_load(load);
  ASSERT_NO_FATAL_FAILURE(expect_applied_exactly(end, 120s, [&] { return r.log_tail(); }));
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// Fencing, black box: a replica frozen with SIGSTOP cannot poll; the broker
// expels it after its session timeout and the other replica takes its
// partitions and applies newer events; then the frozen one is thawed
// (SIGCONT) with whatever it held in flight. Its stale writes must be
// rejected: no applied position or row ever moves backwards, and the table
// ends equal to the oracle. Three rounds, alternating the frozen replica.
TEST_F(ApplyFaultTest, FrozenReplicaThatLostItsPartitionsCannotWrite) {
  auto env_for = [](const std::string& client_id) {
    return std::map<std::string, std::string>{{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "6000"},
                                              {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
                                              {"KVSTREAM_KAFKA_CLIENT_ID", client_id}};
  };
  Replica& a = start_replica("a", env_for("kvtest-a"));
  Replica& b = start_replica("b", env_for("kvtest-b"));
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();
  ASSERT_TRUE(b.wait_ready(60s)) << b.log_tail();

  LoadSpec spec;
  spec.events = 0;  // until the rounds are done
  spec.keys = 1000;
  spec.rate = 1500;
  spec.seed = env_number("KVSTREAM_TEST_SEED", 7007);
  BackgroundLoad load(*publisher_, spec);

  struct Side {
    Replica* replica;
    std::string client_id;
  };
  Side frozen{&a, "kvtest-a"}, other{&b, "kvtest-b"};
  size_t inside_transaction = 0;
  std::mt19937 jitter(spec.seed);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", freezing " + frozen.client_id);
    GroupDescription g;
    ASSERT_TRUE(wait_group(2, 60s, &g)) << g.summary();
    const GroupMember* m = member_with_client(g, frozen.client_id);
    ASSERT_NE(m, nullptr) << g.summary();
    const std::string frozen_member = m->member_id;
    const std::vector<int32_t> lost = m->partitions;
    ASSERT_FALSE(lost.empty()) << g.summary();
    const Offsets started = applied();
    ASSERT_TRUE(eventually(
        [&] {
          const Offsets now = applied();
          for (int32_t p : lost) {
            if (now.at(p) <= started.at(p)) return false;
          }
          return true;
        },
        30s))
        << "the replica to freeze is not applying its partitions";

    // Freeze it between two database transactions (a replica frozen inside
    // one holds its row locks, which is a different test).
    bool clean = false;
    for (int attempt = 0; attempt < 30 && !clean; ++attempt) {
      frozen.replica->signal(SIGSTOP);
      std::this_thread::sleep_for(500ms);
      if (stalled_transactions(pg_url_, 300ms) == 0) {
        clean = true;
      } else {
        ++inside_transaction;
        frozen.replica->signal(SIGCONT);
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 350)(jitter)));
      }
    }
    ASSERT_TRUE(clean) << "could not freeze the replica outside a transaction";
    const Offsets at_freeze = applied();

    // The broker expels it; the other replica owns everything and applies
    // newer events of the partitions the frozen one held.
    GroupDescription taken;
    EXPECT_TRUE(eventually(
        [&] {
          auto d = try_describe(brokers_, group_, topic_);
          if (!d) return false;
          taken = *d;
          const GroupMember* o = member_with_client(taken, other.client_id);
          return taken.state == "Stable" && taken.members.size() == 1 && o != nullptr &&
                 o->partitions.size() == static_cast<size_t>(kPartitions);
        },
        30s, 500ms))
        << taken.summary();
    EXPECT_TRUE(eventually(
        [&] {
          const Offsets now = applied();
          for (int32_t p : lost) {
            if (now.at(p) <= at_freeze.at(p)) return false;
          }
          return true;
        },
        30s))
        << "the new owner did not apply newer events: at freeze " << show(at_freeze) << ", now "
        << show(applied()) << "\n"
        << other.replica->log_tail();

    // Thaw it: whatever it held is stale now.
    frozen.replica->signal(SIGCONT);
    std::cout << "round " << round << ": froze " << frozen.client_id << " (member " << frozen_member
              << ", partitions " << lost.size() << "), thawed" << std::endl;
    ASSERT_TRUE(frozen.replica->running()) << frozen.replica->log_tail();
    std::swap(frozen, other);
  }
  std::cout << "freezes that landed inside a transaction (retried): " << inside_transaction
            << std::endl;
  // Each thawed replica's stale batches, if it held any when it was
  // expelled, were fenced: both export the count (whether a round leaves a
  // stale batch depends on what the frozen replica had fetched).
  const double fenced_a = metric_value(a.port(), "kvstream_fenced_batches_total");
  const double fenced_b = metric_value(b.port(), "kvstream_fenced_batches_total");
  EXPECT_GE(fenced_a, 0) << "kvstream_fenced_batches_total missing";
  EXPECT_GE(fenced_b, 0) << "kvstream_fenced_batches_total missing";
  std::cout << "batches fenced: " << fenced_a + fenced_b << std::endl;

  const Offsets end = finish_load(load);
  ASSERT_NO_FATAL_FAILURE(expect_applied_exactly(end, 120s, [&] { return replica_logs(); }));
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
  EXPECT_EQ(b.terminate(30s), 0) << b.log_tail();
}

// A replica frozen (SIGSTOP) in the middle of applying a batch, after its
// fenced update of kv_offsets and before its commit, must not block the new
// owner of its partitions for as long as it stays frozen (a paused VM, a
// half-open connection). A batch is one statement, so the server finishes
// it (commit or error) without the client: no transaction of the frozen
// replica stays open, and the new owner applies newer events of every
// partition. A table lock held by the test makes "in the middle"
// deterministic: the replica's upsert waits on it while it is frozen.
TEST_F(ApplyFaultTest, ReplicaFrozenWhileApplyingABatchDoesNotStallTheNewOwner) {
  auto env_for = [](const std::string& client_id) {
    return std::map<std::string, std::string>{{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "6000"},
                                              {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
                                              {"KVSTREAM_PG_STATEMENT_TIMEOUT_MS", "2000"},
                                              {"KVSTREAM_KAFKA_CLIENT_ID", client_id}};
  };
  Replica& a = start_replica("a", env_for("kvtest-a"));
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();
  LoadSpec spec;
  spec.events = 0;
  spec.keys = 1000;
  spec.rate = 1000;
  spec.seed = env_number("KVSTREAM_TEST_SEED", 7117);
  BackgroundLoad load(*publisher_, spec);
  ASSERT_TRUE(eventually([&] { return total(applied()) > 1000; }, 30s)) << a.log_tail();

  // Hold the replica's transactions open: its upserts wait for this lock.
  {
    pqxx::connection lock_conn(pg_url_);
    pqxx::work lock(lock_conn);
    lock.exec("LOCK TABLE kv IN SHARE MODE");
    ASSERT_TRUE(eventually([&] { return lock_waiters(pg_url_) > 0; }, 30s))
        << "the replica never waited on the lock\n"
        << a.log_tail();
    a.signal(SIGSTOP);
    std::this_thread::sleep_for(200ms);
    lock.commit();
  }
  // The server finishes the frozen replica's statement on its own: its apply
  // connections go back to idle, holding nothing.
  ASSERT_TRUE(eventually(
      [&] {
        pqxx::connection conn(pg_url_);
        return pqxx::nontransaction(conn)
                   .exec(
                       "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND application_name = 'kvstream-apply' "
                       "AND state <> 'idle'")[0][0]
                   .as<int>() == 0;
      },
      10s))
      << "the frozen replica's batch did not finish without it";
  EXPECT_EQ(stalled_transactions(pg_url_, 200ms), 0u);
  const auto frozen_at = Clock::now();
  const Offsets at_freeze = applied();  // frozen: it cannot commit any more

  Replica& b = start_replica("b", env_for("kvtest-b"));
  ASSERT_TRUE(b.wait_ready(60s)) << b.log_tail();
  // The new owner applies newer events of every partition, within the
  // session timeout (6 s) and a few statement deadlines (2 s each).
  const bool progressed = eventually(
      [&] {
        const Offsets now = applied();
        for (const auto& [p, offset] : at_freeze) {
          if (now.at(p) <= offset) return false;
        }
        return true;
      },
      40s, 250ms);
  const Offsets stalled_at = applied();
  const size_t still_open = stalled_transactions(pg_url_, 200ms);
  EXPECT_TRUE(progressed)
      << "partitions stalled behind the frozen replica's transaction for "
      << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - frozen_at).count()
      << " s: at freeze " << show(at_freeze) << ", now " << show(stalled_at)
      << "; frozen transactions still open: " << still_open << "\n"
      << b.log_tail();

  a.signal(SIGCONT);
  ASSERT_TRUE(a.running()) << a.log_tail();
  const Offsets end = finish_load(load);
  ASSERT_NO_FATAL_FAILURE(expect_applied_exactly(end, 120s, [&] { return replica_logs(); }));
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
  EXPECT_EQ(b.terminate(30s), 0) << b.log_tail();
}

// The rows that differ between two reads of the kv table, "" when none.
std::string table_changes(const KvTable& before, const KvTable& after) {
  std::string out;
  for (const auto& [key, row] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      out += " new:" + key;
    } else if (it->second.value != row.value || it->second.content_type != row.content_type ||
               it->second.position != row.position || it->second.updated_at != row.updated_at) {
      out += " changed:" + key;
    }
  }
  for (const auto& [key, row] : before) {
    if (!after.count(key)) out += " gone:" + key;
  }
  return out;
}

// Issue 17: the topic is deleted and created again while a replica holds
// its partitions. Its fetch positions fall off the new, shorter logs, and
// librdkafka starts them again at the beginning: the replica would ignore
// the new records as applied (and apply those past its old positions as if
// they followed the old topic). The lag tracking sees a partition end below
// its applied position: the replica stops, exit 1 with one clear line, as
// when an assignment finds it, and the table is left as it was.
TEST_F(ApplyFaultTest, TopicRecreatedWhileAssignedStopsTheReplicaAndChangesNothing) {
  Replica& r = start_replica("r1");
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
  LoadSpec spec;
  spec.events = 1200;
  spec.keys = 200;
  spec.seed = 17;
  publish_load(*publisher_, spec);
  ASSERT_TRUE(publisher_->flush(60s));
  const Offsets end = ends();
  ASSERT_TRUE(wait_applied(end, 60s)) << show(applied());
  const KvTable before = read_kv_table(pg_url_);
  publisher_.reset();  // it knows the old topic

  delete_topic(brokers_, topic_);
  create_topic(brokers_, topic_, kPartitions);
  // A few events on the new topic: every partition ends far below its
  // applied position.
  Oracle new_events;
  {
    EventPublisher publisher(brokers_, topic_, new_events);
    LoadSpec few;
    few.events = 60;
    few.keys = 200;
    few.seed = 18;
    publish_load(publisher, few);
    ASSERT_TRUE(publisher.flush(60s));
  }
  const Offsets new_end = ends();
  for (const auto& [p, o] : new_end) ASSERT_LT(o, end.at(p)) << "partition " << p;

  const std::optional<int> code = r.wait(60s);
  ASSERT_TRUE(code.has_value()) << "the replica still runs on the recreated topic (applied"
                                << show(applied()) << ", topic ends" << show(new_end) << ")";
  EXPECT_EQ(*code, 1);
  EXPECT_NE(r.log_tail(20000).find("(kv_offsets), but the topic ends at offset"),
            std::string::npos);
  EXPECT_EQ(applied(), end);
  EXPECT_EQ(table_changes(before, read_kv_table(pg_url_)), "");
}

}  // namespace
}  // namespace kvstream::testing
