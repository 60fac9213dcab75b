// The apply engine end to end: the real kvstream-consumer binary against the
// real broker and Postgres, checked only by what a user can observe (the kv
// table against an oracle of the acknowledged events, kv_offsets, the
// group's committed offsets, the dead-letter topic, exit codes).
//
// Loads are seeded (KVSTREAM_TEST_SEED overrides the fixed seeds).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <set>
#include <thread>

#include "schema/dlq.h"
#include "tests/e2e/apply_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/metrics_reader.h"
#include "tests/support/poison.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class ApplyTest : public ApplyFixture {
 protected:
  // Publishes `spec` as fast as the producer goes and waits for every
  // acknowledgement.
  void publish(const LoadSpec& spec) {
    std::cout << "load: " << spec.events << " events over " << spec.keys << " keys, "
              << spec.delete_ratio * 100 << "% deletes, seed " << spec.seed << std::endl;
    publish_load(*publisher_, spec);
    ASSERT_TRUE(publisher_->flush(60s)) << "the broker did not acknowledge the load";
    ASSERT_EQ(publisher_->failures(), 0u) << publisher_->first_failure();
  }
};

// 100k events over 5k keys, 10% deletes, 6 partitions, one replica: the table
// is exactly the oracle, kv_offsets and the committed offsets are the end
// offsets, and at no moment was a Kafka offset committed past the database.
TEST_F(ApplyTest, HundredThousandEventsMatchTheOracle) {
  Replica& r = start_replica("r1");
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();

  // Committed offsets must never run ahead of kv_offsets: sample both while
  // the load is applied (committed first: kv_offsets only grows).
  std::atomic<bool> sampling{true};
  std::vector<std::string> ahead;
  size_t samples = 0;
  std::thread sampler([&] {
    while (sampling.load()) {
      try {
        const Offsets c = committed();
        const Offsets a = applied();
        ++samples;
        for (const auto& [p, offset] : c) {
          const int64_t done = a.count(p) ? a.at(p) : 0;
          if (offset > done && ahead.size() < 20) {
            ahead.push_back("partition " + std::to_string(p) + ": committed " +
                            std::to_string(offset) + " > applied " + std::to_string(done));
          }
        }
      } catch (const std::exception& e) {
        std::cout << "sampler: " << e.what() << std::endl;
      }
      std::this_thread::sleep_for(200ms);
    }
  });

  LoadSpec spec = load_spec(100000, 5000, 1001);
  spec.delete_ratio = 0.10;
  const auto start = Clock::now();
  publish(spec);
  const Offsets end = ends();
  ASSERT_EQ(total(end), 100000) << show(end);
  for (const auto& [p, offset] : end) EXPECT_GT(offset, 0) << "partition " << p << " got nothing";

  const bool caught_up = wait_applied(end, 240s);
  std::cout << "applied 100k events in " << seconds_since(start) << " s" << std::endl;
  sampling.store(false);
  sampler.join();
  ASSERT_TRUE(caught_up) << "kv_offsets " << show(applied()) << " never reached the end offsets "
                         << show(end) << "\n"
                         << r.log_tail();

  expect_table_matches_oracle();
  EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s))
      << "committed " << show(committed()) << ", end offsets " << show(end);
  EXPECT_GT(samples, 0u);
  EXPECT_TRUE(ahead.empty()) << "Kafka offsets committed past the applied position: "
                             << ahead.front();
  expect_no_backward_moves();
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// Replay: once everything is applied, reset the applied positions (no row;
// zero; halfway) and consume the topic again with a new replica of the same
// group (whose committed offsets are at the end): the database, not Kafka,
// decides where to start, and the table does not change at all.
TEST_F(ApplyTest, ReplayFromResetPositionsChangesNothing) {
  {
    Replica& r = start_replica("first");
    ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
    LoadSpec spec = load_spec(30000, 2000, 2002);
    publish(spec);
    ASSERT_TRUE(wait_applied(ends(), 120s)) << show(applied()) << "\n" << r.log_tail();
    ASSERT_TRUE(eventually([&] { return committed() == ends(); }, 30s)) << show(committed());
    ASSERT_EQ(r.terminate(30s), 0) << r.log_tail();
  }
  expect_table_matches_oracle();
  const KvTable before = read_kv_table(pg_url_);
  const Offsets end = ends();

  struct Reset {
    const char* name;
    const char* sql;
  };
  const Reset resets[] = {
      {"no-row", "DELETE FROM kv_offsets WHERE topic = $1"},
      {"zero", "UPDATE kv_offsets SET next_offset = 0 WHERE topic = $1"},
      {"halfway", "UPDATE kv_offsets SET next_offset = next_offset / 2 WHERE topic = $1"},
  };
  for (const Reset& reset : resets) {
    SCOPED_TRACE(reset.name);
    {
      pqxx::connection conn(pg_url_);
      pqxx::work tx(conn);
      tx.exec_params(reset.sql, topic_);
      tx.commit();
    }
    clear_audit(pg_url_);  // the reset moved the positions back, not a replica
    ASSERT_NE(applied(), end);
    Replica& r = start_replica(std::string("replay-") + reset.name);
    ASSERT_TRUE(wait_applied(end, 120s))
        << "the replay never reached the end offsets: " << show(applied()) << "\n"
        << r.log_tail();
    ASSERT_EQ(r.terminate(30s), 0) << r.log_tail();

    const KvTable after = read_kv_table(pg_url_);
    ASSERT_EQ(after.size(), before.size());
    size_t changed = 0, rewritten = 0;
    std::string example;
    for (const auto& [key, row] : before) {
      auto it = after.find(key);
      if (it == after.end()) {
        ++changed;
        if (example.empty()) example = key + " disappeared";
        continue;
      }
      const KvRow& now = it->second;
      if (now.value != row.value || now.content_type != row.content_type ||
          now.position != row.position) {
        ++changed;
        if (example.empty()) {
          example = key + " now from " + to_string(now.position) + ", was from " +
                    to_string(row.position);
        }
      } else if (now.updated_at != row.updated_at) {
        ++rewritten;
      }
    }
    EXPECT_EQ(changed, 0u) << "the replay changed rows, e.g. " << example;
    EXPECT_EQ(rewritten, 0u) << "the replay rewrote rows with the same content (updated_at moved)";
    expect_no_backward_moves();
  }
  expect_table_matches_oracle();
  EXPECT_EQ(committed(), end);
}

// A stored position past the end of the topic (the topic was deleted and
// created again, or the broker lost records): the replica would fetch from
// the beginning and ignore every record below the position as applied. It
// stops instead, with a clear line, and changes nothing.
TEST_F(ApplyTest, APositionPastTheEndOfTheTopicStopsTheReplicaAndChangesNothing) {
  LoadSpec spec = load_spec(3000, 300, 2003);
  {
    Replica& r = start_replica("first");
    ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
    publish(spec);
    ASSERT_TRUE(wait_applied(ends(), 120s)) << show(applied()) << "\n" << r.log_tail();
    ASSERT_EQ(r.terminate(30s), 0) << r.log_tail();
  }
  // As if the topic were new: partition 0's position is far ahead of it.
  const Offsets end = ends();
  {
    pqxx::connection conn(pg_url_);
    pqxx::work tx(conn);
    tx.exec_params("UPDATE kv_offsets SET next_offset = $2 WHERE topic = $1 AND partition = 0",
                   topic_, end.at(0) + 1000);
    tx.commit();
  }
  clear_audit(pg_url_);
  const Offsets stored = applied();
  const KvTable before = read_kv_table(pg_url_);
  spec.seed += 1;
  publish(spec);  // records the replica must not skip

  Replica& r = start_replica("past-the-end");
  const std::optional<int> code = r.wait(90s);
  ASSERT_TRUE(code.has_value()) << "still running\n" << r.log_tail();
  EXPECT_NE(*code, 0) << r.log_tail();
  const std::string log = r.log_tail(20000);
  EXPECT_NE(log.find("partition 0 of " + topic_ + " is applied up to offset " +
                     std::to_string(end.at(0) + 1000) + " (kv_offsets), but the topic ends at"),
            std::string::npos)
      << log;
  // Nothing applied: neither the partition in question nor the others, and
  // no position moved.
  EXPECT_EQ(applied(), stored);
  const KvTable after = read_kv_table(pg_url_);
  EXPECT_EQ(after.size(), before.size());
  size_t changed = 0;
  for (const auto& [key, row] : before) {
    auto it = after.find(key);
    changed += it == after.end() || it->second.value != row.value ||
               it->second.position != row.position || it->second.updated_at != row.updated_at;
  }
  EXPECT_EQ(changed, 0u) << "rows changed";
  expect_no_backward_moves();
}

// A gauge without labels from the replica's /metrics, or -1 if absent.
double gauge(const Replica& r, const std::string& name) { return metric_value(r.port(), name); }

// A dead-letter topic that refuses records (here: every record is larger
// than it allows). The refused record is never skipped: its partition's
// position stays below it, the replica says so in its metrics, and it still
// stops cleanly on SIGTERM, leaving the record to the next owner.
TEST_F(ApplyTest, ADeadLetterTopicThatRefusesRecordsStallsVisiblyAndLosesNothing) {
  const std::string dlq = topic_ + ".tiny-dlq";
  create_topic(brokers_, dlq, 1, {{"max.message.bytes", "64"}});
  Replica& r = start_replica("stalled", {{"KVSTREAM_DLQ_TOPIC", dlq}});
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
  LoadSpec spec = load_spec(600, 100, 2004);
  publish(spec);
  ASSERT_TRUE(wait_applied(ends(), 60s)) << show(applied()) << "\n" << r.log_tail();

  const PoisonRecord poison = poison_record(7, "key:1");  // an unknown kv-op
  const Position at = publisher_->send_raw(poison.record);
  spec.seed += 1;
  publish(spec);  // more records behind it, on every partition

  auto metric = [&](const std::string& name) { return gauge(r, name); };
  EXPECT_TRUE(eventually(
      [&] {
        return metric("kvstream_dlq_stalled") == 1 && metric("kvstream_dlq_failures_total") >= 1;
      },
      60s))
      << "stalled " << metric("kvstream_dlq_stalled") << ", failures "
      << metric("kvstream_dlq_failures_total") << "\n"
      << r.log_tail();
  EXPECT_LE(applied().at(at.partition), at.offset)
      << "the position moved past the refused record at " << to_string(at);
  EXPECT_EQ(end_offsets(brokers_, dlq).at(0), 0);

  ASSERT_EQ(r.terminate(60s), 0) << r.log_tail();
  EXPECT_LE(applied().at(at.partition), at.offset)
      << "the position moved past the refused record at " << to_string(at);
  EXPECT_LE(committed().at(at.partition), at.offset);
  expect_no_backward_moves();
}

// A dead-letter topic that refuses records holds back only the partition of
// the refused record: the other partitions are applied meanwhile, the stall
// shows in the metrics, and once the topic takes records again the dead
// letter lands and the held partition catches up, losing nothing.
TEST_F(ApplyTest, ADeadLetterTopicThatRefusesRecordsHoldsBackOnlyItsPartition) {
  const std::string dlq = topic_ + ".refusing-dlq";
  create_topic(brokers_, dlq, 1, {{"max.message.bytes", "64"}});
  Replica& r = start_replica("held", {{"KVSTREAM_DLQ_TOPIC", dlq}});
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
  LoadSpec spec = load_spec(600, 100, 2005);
  publish(spec);
  ASSERT_TRUE(wait_applied(ends(), 60s)) << show(applied()) << "\n" << r.log_tail();

  const PoisonRecord poison = poison_record(7, "key:1");  // an unknown kv-op
  const Position at = publisher_->send_raw(poison.record);
  spec.seed += 1;
  publish(spec);  // more records on every partition, behind it too
  const Offsets end = ends();
  ASSERT_GT(end.at(at.partition), at.offset + 1) << "no record behind the refused one";

  // Every other partition reaches its end; the held one stops at the record.
  Offsets held = end;
  held[at.partition] = at.offset;
  EXPECT_TRUE(wait_applied(held, 60s))
      << "kv_offsets " << show(applied()) << ", want " << show(held) << "\n"
      << r.log_tail();
  auto metric = [&](const std::string& name) { return gauge(r, name); };
  EXPECT_TRUE(eventually(
      [&] {
        return metric("kvstream_dlq_stalled") == 1 && metric("kvstream_dlq_failures_total") >= 1;
      },
      60s))
      << "stalled " << metric("kvstream_dlq_stalled") << ", failures "
      << metric("kvstream_dlq_failures_total");
  EXPECT_EQ(applied().at(at.partition), at.offset);

  // The topic takes records again: the dead letter lands, the partition
  // moves on past it, and the stall ends.
  set_topic_config(brokers_, dlq, {{"max.message.bytes", "1048588"}});
  EXPECT_TRUE(wait_applied(end, 60s))
      << "kv_offsets " << show(applied()) << ", end offsets " << show(end) << "\n"
      << r.log_tail();
  expect_table_matches_oracle();
  expect_no_backward_moves();
  EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s)) << show(committed());
  EXPECT_TRUE(eventually([&] { return metric("kvstream_dlq_stalled") == 0; }, 10s));
  const std::vector<schema::Record> letters = read_all(brokers_, dlq, 20s);
  ASSERT_EQ(letters.size(), 1u);
  const schema::Header* offset = letters[0].last_header("kv-dlq-offset");
  ASSERT_NE(offset, nullptr);
  EXPECT_EQ(offset->value, std::to_string(at.offset));
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// Three replicas join and leave (SIGTERM) at staggered times during a load;
// every one that leaves exits 0, and the table ends equal to the oracle.
TEST_F(ApplyTest, ReplicasJoiningAndLeavingDuringALoadMatchTheOracle) {
  const std::map<std::string, std::string> env{{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "6000"},
                                               {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"}};
  Replica& a = start_replica("a", env);
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();

  LoadSpec spec = load_spec(40000, 3000, 4004);
  spec.rate = 2000;  // about 20 s
  BackgroundLoad load(*publisher_, spec);
  const auto start = Clock::now();
  auto at = [&](double s) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(static_cast<int>(s * 1000)));
  };

  at(3);
  Replica& b = start_replica("b", env);
  at(6);
  Replica& c = start_replica("c", env);
  // All three share the partitions at some point (the broker's view).
  GroupDescription group;
  EXPECT_TRUE(eventually(
      [&] {
        try {
          group = describe_group(brokers_, group_, topic_);
        } catch (const std::exception& e) {
          group.state = e.what();
          return false;
        }
        if (group.state != "Stable" || group.members.size() != 3) return false;
        for (const auto& m : group.members) {
          if (m.partitions.empty()) return false;
        }
        return group.assigned().size() == kPartitions;
      },
      30s, 500ms))
      << group.summary();
  at(9);
  EXPECT_EQ(a.terminate(25s), 0) << a.log_tail();
  at(12);
  Replica& d = start_replica("d", env);
  at(15);
  EXPECT_EQ(b.terminate(25s), 0) << b.log_tail();
  at(17);
  EXPECT_EQ(c.terminate(25s), 0) << c.log_tail();

  ASSERT_TRUE(load.wait(60s));
  ASSERT_EQ(load.error(), "");
  ASSERT_TRUE(publisher_->flush(60s));
  ASSERT_EQ(publisher_->failures(), 0u) << publisher_->first_failure();
  const Offsets end = ends();
  ASSERT_EQ(total(end), 40000);
  ASSERT_TRUE(wait_applied(end, 120s)) << show(applied()) << " vs " << show(end);
  expect_table_matches_oracle();
  expect_no_backward_moves();
  EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s)) << show(committed());
  EXPECT_EQ(d.terminate(25s), 0) << d.log_tail();
}

// A replica that takes partitions with a backlog is not ready until it has
// replayed it: with a catch-up bound of 0 events, the first 200 of /readyz
// comes only once every partition is applied to its end; before that it
// answers 503 saying which partitions it is catching up on.
TEST_F(ApplyTest, AReplicaIsReadyOnlyOnceItHasCaughtUpWithTheBacklogItTook) {
  publish(load_spec(60000, 2000, 3003));
  const Offsets end = ends();
  Replica& r = start_replica("catching-up", {{"KVSTREAM_READY_MAX_LAG_EVENTS", "0"}});
  std::string reason;
  int status = 0;
  EXPECT_TRUE(eventually(
      [&] {
        try {
          const HttpResult ready = http_request(r.port(), "GET", "/readyz", "", {}, 2s);
          status = ready.status;
          if (ready.status == 503 && ready.body.find("catching up") != std::string::npos) {
            reason = ready.body;
          }
        } catch (const std::exception&) {
          status = 0;  // not listening yet
        }
        return status == 200 || !r.running();
      },
      120s, 5ms))
      << "never ready\n"
      << r.log_tail();
  ASSERT_EQ(status, 200) << r.log_tail();
  EXPECT_EQ(applied(), end) << "ready before the backlog was applied";
  std::cout << "while catching up, /readyz said: " << (reason.empty() ? "(not seen)" : reason)
            << std::endl;
  expect_table_matches_oracle();
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// kv_offsets is the truth and the group's committed offsets mirror it for
// lag monitoring and tools. A replica that takes over partitions whose
// committed offsets are behind what is applied (the previous owner's last
// commits were rejected in a rebalance, or a tool rewound the group) commits
// the applied positions, even when it has nothing new to apply; and it does
// not re-apply anything.
TEST_F(ApplyTest, NewOwnerCommitsTheAppliedPositionsItTakesOver) {
  {
    Replica& r = start_replica("first");
    ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
    LoadSpec spec = load_spec(5000, 500, 3003);
    publish(spec);
    ASSERT_TRUE(wait_applied(ends(), 60s)) << show(applied()) << "\n" << r.log_tail();
    ASSERT_TRUE(eventually([&] { return committed() == ends(); }, 30s)) << show(committed());
    ASSERT_EQ(r.terminate(30s), 0) << r.log_tail();
  }
  const Offsets end = ends();
  const KvTable before = read_kv_table(pg_url_);
  Offsets behind;
  for (const auto& [p, offset] : end) behind[p] = offset / 3;
  commit_group_offsets(brokers_, group_, topic_, behind);
  ASSERT_EQ(committed(), behind);

  Replica& next = start_replica("next");
  ASSERT_TRUE(next.wait_ready(60s)) << next.log_tail();
  EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s))
      << "committed " << show(committed()) << " stays behind the applied positions "
      << show(applied()) << "\n"
      << next.log_tail();
  EXPECT_EQ(applied(), end);
  const KvTable after = read_kv_table(pg_url_);
  size_t rewritten = 0;
  for (const auto& [key, row] : before) {
    auto it = after.find(key);
    if (it == after.end() || it->second.updated_at != row.updated_at) ++rewritten;
  }
  EXPECT_EQ(rewritten, 0u) << "rows were written again";
  EXPECT_EQ(next.terminate(30s), 0) << next.log_tail();
}

// One record of each kind that breaks the contract.
struct Poison {
  std::string reason;  // the kv-dlq-reason it must get
  schema::Record record;
  Position position;  // where it landed
};

schema::Record record(std::optional<std::string> key, std::optional<std::string> value,
                      std::vector<schema::Header> headers = {}) {
  schema::Record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.headers = std::move(headers);
  return r;
}

// The n-th poison record; keys of the load's key space where the key itself
// is valid, so that applying a poison record would show in the table.
Poison make_poison(size_t n, const LoadSpec& spec) {
  const std::string valid_key = load_key(spec, (n * 37) % spec.keys);
  const std::string tag = std::to_string(n);
  switch (n % 10) {
    case 0:
      return {"key_too_long", record(std::string(1025, 'k') + tag, "too-long-" + tag), {}};
    case 1:
      return {"key_not_utf8", record("bad\xff\xfe" + tag, "not-utf8-" + tag), {}};
    case 2:
      return {"put_without_value", record(valid_key, std::nullopt, {{"kv-op", "put"}}), {}};
    case 3:
      return {"malformed_traceparent",
              record(valid_key, "trace-" + tag, {{"traceparent", "00-not-a-trace-" + tag}}),
              {}};
    case 4:
      return {"key_contains_nul", record(std::string("nul\0", 4) + tag, "nul-" + tag), {}};
    case 5:
      return {"empty_key", record(std::string(), "empty-key-" + tag), {}};
    case 6:
      return {"missing_key", record(std::nullopt, "no-key-" + tag), {}};
    case 7:
      return {"unknown_op", record(valid_key, "op-" + tag, {{"kv-op", "upsert"}}), {}};
    case 8:
      return {"malformed_content_type",
              record(valid_key, "ct-" + tag, {{"content-type", "text/\x01plain"}}),
              {}};
    default:
      return {"header_too_large",
              record(valid_key, "big-header-" + tag, {{"x-big", std::string(5000, 'h')}}),
              {}};
  }
}

// Records that break the contract, mixed into a load: each is in the DLQ
// with the right reason and its origin, no valid event is lost, nothing
// poisoned is applied, and every partition's applied position reaches its
// end offset (no stall behind a bad record).
TEST_F(ApplyTest, PoisonRecordsGoToTheDlqAndNeverStallTheirPartition) {
  Replica& r = start_replica("r1");
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();

  LoadSpec spec = load_spec(12000, 1000, 6006);
  spec.rate = 4000;
  BackgroundLoad load(*publisher_, spec);
  std::vector<Poison> poison;
  for (size_t n = 0; n < 40; ++n) {
    Poison p = make_poison(n, spec);
    p.position = publisher_->send_raw(p.record);
    poison.push_back(std::move(p));
    std::this_thread::sleep_for(60ms);
  }
  ASSERT_TRUE(load.wait(60s));
  ASSERT_EQ(load.error(), "");
  ASSERT_TRUE(publisher_->flush(60s));
  ASSERT_EQ(publisher_->failures(), 0u) << publisher_->first_failure();
  // Then poison records until every partition ends with one, so that its
  // applied position can reach the end only by moving past a bad record.
  std::set<int32_t> waiting;
  for (int32_t p = 0; p < kPartitions; ++p) waiting.insert(p);
  for (size_t n = 40; !waiting.empty() && n < 400; ++n) {
    Poison p = make_poison(n, spec);
    p.position = publisher_->send_raw(p.record);
    waiting.erase(p.position.partition);
    poison.push_back(std::move(p));
  }
  ASSERT_TRUE(waiting.empty()) << "could not end every partition with a poison record";

  const Offsets end = ends();
  ASSERT_EQ(total(end), static_cast<int64_t>(spec.events + poison.size()));
  EXPECT_TRUE(wait_applied(end, 120s)) << "a partition stalled: kv_offsets " << show(applied())
                                       << ", end offsets " << show(end) << "\n"
                                       << r.log_tail();
  expect_table_matches_oracle();
  expect_no_backward_moves();
  EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s)) << show(committed());

  std::vector<schema::Record> dlq;
  EXPECT_TRUE(eventually(
      [&] {
        dlq = read_all(brokers_, topic_ + ".dlq", 20s);
        return dlq.size() >= poison.size();
      },
      30s, 500ms))
      << dlq.size() << " of " << poison.size() << " poison records in the DLQ";
  EXPECT_EQ(dlq.size(), poison.size()) << "the DLQ holds more records than were poisoned";

  auto header = [](const schema::Record& rec, const std::string& name) -> std::string {
    const schema::Header* h = rec.last_header(name);
    return h && h->value ? *h->value : "<absent>";
  };
  std::map<std::string, const schema::Record*> by_origin;
  for (const auto& rec : dlq) {
    by_origin[header(rec, "kv-dlq-partition") + ":" + header(rec, "kv-dlq-offset")] = &rec;
  }
  for (const Poison& p : poison) {
    SCOPED_TRACE(p.reason + " at " + to_string(p.position));
    auto it = by_origin.find(to_string(p.position));
    if (it == by_origin.end()) {
      ADD_FAILURE() << "not in the DLQ";
      continue;
    }
    const schema::Record& got = *it->second;
    EXPECT_EQ(header(got, "kv-dlq-reason"), p.reason);
    EXPECT_EQ(header(got, "kv-dlq-topic"), topic_);
    EXPECT_EQ(got.key, p.record.key);
    EXPECT_EQ(got.value, p.record.value);
    for (const schema::Header& h : p.record.headers) {
      EXPECT_EQ(header(got, h.name), h.value.value_or("<absent>")) << "header " << h.name;
    }
  }
  EXPECT_EQ(r.terminate(30s), 0) << r.log_tail();
}

// SIGTERM while a load is being applied: the replica exits 0 within its
// grace period (20 s by default), and at that moment the group's committed
// offsets equal kv_offsets for every partition. A new replica then applies
// the rest: nothing was lost.
TEST_F(ApplyTest, SigtermDuringALoadExitsZeroWithCommittedEqualToApplied) {
  Replica& r = start_replica("r1");
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();

  LoadSpec spec = load_spec(45000, 2000, 8008);
  spec.rate = 3000;  // about 15 s: still running when SIGTERM arrives
  BackgroundLoad load(*publisher_, spec);
  ASSERT_TRUE(eventually([&] { return total(applied()) > 5000; }, 60s)) << show(applied()) << "\n"
                                                                        << r.log_tail();

  const bool load_running = !load.done();
  const auto sent_at = Clock::now();
  r.signal(SIGTERM);
  const std::optional<int> code = r.wait(60s);
  const double took = seconds_since(sent_at);
  std::cout << "exit " << (code ? std::to_string(*code) : "none") << " " << took
            << " s after SIGTERM" << std::endl;
  ASSERT_TRUE(code.has_value()) << "still running 60 s after SIGTERM\n" << r.log_tail();
  EXPECT_EQ(*code, 0) << r.log_tail();
  EXPECT_LT(took, 20.0) << "took longer than the grace period";
  EXPECT_TRUE(load_running) << "the load ended before SIGTERM; make it longer";

  const Offsets committed_now = committed();
  const Offsets applied_now = applied();
  EXPECT_EQ(committed_now, applied_now)
      << "committed " << show(committed_now) << "\napplied   " << show(applied_now);

  ASSERT_TRUE(load.wait(60s));
  ASSERT_EQ(load.error(), "");
  ASSERT_TRUE(publisher_->flush(60s));
  ASSERT_EQ(publisher_->failures(), 0u) << publisher_->first_failure();
  Replica& next = start_replica("r2");
  const Offsets end = ends();
  ASSERT_TRUE(wait_applied(end, 120s)) << show(applied()) << "\n" << next.log_tail();
  expect_table_matches_oracle();
  expect_no_backward_moves();
  EXPECT_TRUE(eventually([&] { return committed() == end; }, 30s)) << show(committed());
  EXPECT_EQ(next.terminate(30s), 0) << next.log_tail();
}

}  // namespace
}  // namespace kvstream::testing
