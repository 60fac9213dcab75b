// GET /v1/watch end to end: real replicas on the real broker and Postgres,
// watched by a Server-Sent Events client. What a watcher sees is held to
// the topic itself (every record, once, in per-partition order, with its
// key, operation and value) and to the table (the state its events fold
// into); resumes from tokens, list-then-watch under writes, a slow watcher,
// the watcher limit and a start whose records left the topic.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "http/request.h"
#include "http/url.h"
#include "schema/codec.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"
#include "tests/support/load.h"
#include "tests/support/metrics_reader.h"
#include "tests/support/oracle.h"
#include "tests/support/replica.h"
#include "tests/support/sse_client.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kPartitions = 6;

// A change as a watcher or the topic tells it.
struct Change {
  std::string type;  // put, delete
  std::string key;
  std::string value;  // as JSON carries it: UTF-8 text, else base64
  Position position;
  friend bool operator==(const Change& a, const Change& b) {
    return a.type == b.type && a.key == b.key && a.value == b.value && a.position == b.position;
  }
};

std::string encoded(const std::string& value) {
  return schema::is_valid_utf8(value) ? value : http::base64(value);
}

std::vector<Change> changes_of(const std::vector<SseEvent>& events) {
  std::vector<Change> out;
  for (const auto& e : events) {
    const json data = json::parse(e.data);
    Change c;
    c.type = e.type;
    c.key = data.at("key");
    if (e.type == "put") c.value = data.at("value");
    c.position = *parse_position(data.at("position").get<std::string>());
    out.push_back(c);
  }
  return out;
}

// Every valid record of the topic, as changes, by partition in offset order.
std::map<int32_t, std::vector<Change>> topic_changes(const std::string& brokers,
                                                     const std::string& topic) {
  std::map<int32_t, std::vector<Change>> out;
  for (const schema::Record& r : read_all(brokers, topic, 60s)) {
    auto decoded = schema::decode(r);
    if (!std::holds_alternative<schema::Event>(decoded)) continue;
    const auto& e = std::get<schema::Event>(decoded);
    Change c;
    c.type = e.op == schema::Op::kPut ? "put" : "delete";
    c.key = e.key;
    if (e.op == schema::Op::kPut) c.value = encoded(e.value);
    c.position = Position{r.partition, r.offset};
    out[r.partition].push_back(c);
  }
  return out;
}

// The live rows of the table, key -> value as JSON carries it.
std::map<std::string, std::string> live_rows(const std::string& pg_url) {
  std::map<std::string, std::string> out;
  for (const auto& [key, row] : read_kv_table(pg_url)) {
    if (row.value) out[key] = encoded(*row.value);
  }
  return out;
}

// What a watcher's changes fold into, from `start` (key -> value and
// position): a change at or before the position a key was listed at is
// skipped (a listing of several pages, each its own snapshot).
std::map<std::string, std::string> fold(
    const std::map<std::string, std::pair<std::string, Position>>& start,
    const std::vector<Change>& changes) {
  std::map<std::string, std::pair<std::string, Position>> state = start;
  std::map<std::string, Position> listed;
  for (const auto& [key, v] : start) listed[key] = v.second;
  std::set<std::string> deleted;
  for (const Change& c : changes) {
    auto l = listed.find(c.key);
    if (l != listed.end() && l->second.partition == c.position.partition &&
        c.position.offset <= l->second.offset) {
      continue;
    }
    if (c.type == "put") {
      state[c.key] = {c.value, c.position};
    } else {
      state.erase(c.key);
    }
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, v] : state) out[key] = v.first;
  return out;
}

class WatchTest : public ::testing::Test {
 protected:
  WatchTest() {
    config_ = ReplicaConfig{
        test_brokers(), unique_name("watch"), unique_name("watch-group"), db_.url(), {}};
    config_.env["KVSTREAM_SESSION_TIMEOUT_MS"] = "6000";
    create_topic(config_.brokers, config_.topic, kPartitions);
    run_migrations(config_);
  }

  std::unique_ptr<Replica> start(const std::string& name,
                                 std::map<std::string, std::string> env = {}) {
    ReplicaConfig config = config_;
    for (auto& [k, v] : env) config.env[k] = v;
    auto r = std::make_unique<Replica>(config, name);
    EXPECT_TRUE(r->wait_ready(60s)) << r->log_tail();
    return r;
  }

  // Waits until the view has applied everything the topic holds now.
  // The position vector of everything the topic holds now.
  std::string vector_at_end() const {
    std::vector<int64_t> next(kPartitions, 0);
    for (const auto& [p, end] : end_offsets(config_.brokers, config_.topic)) {
      next[static_cast<size_t>(p)] = end;
    }
    return http::format_position_vector(next);
  }

  bool all_applied(std::chrono::milliseconds timeout) {
    const auto ends = end_offsets(config_.brokers, config_.topic);
    return eventually(
        [&] {
          const auto applied = read_applied_offsets(db_.url(), config_.topic);
          for (const auto& [p, end] : ends) {
            if (end == 0) continue;
            auto it = applied.find(p);
            if (it == applied.end() || it->second < end) return false;
          }
          return true;
        },
        timeout);
  }

  TestDatabase db_;
  ReplicaConfig config_;
};

// Every change of a 100,000-event load reaches a watcher once, in
// per-partition order, while another replica is killed with -9 and its
// partitions move; the watcher's changes are the topic's records and fold
// into the table.
TEST_F(WatchTest, AWatcherSeesEveryChangeOnceWhileAReplicaIsKilled) {
  auto a = start("a");
  auto b = start("b");
  SseClient watcher(a->port(), "/v1/watch");
  ASSERT_EQ(watcher.status(10s), 200);

  Oracle oracle;
  EventPublisher publisher(config_.brokers, config_.topic, oracle);
  LoadSpec spec;
  spec.events = 100000;
  spec.keys = 5000;
  spec.seed = 20;
  BackgroundLoad load(publisher, spec);
  ASSERT_TRUE(eventually([&] { return publisher.acknowledged() >= 30000; }, 120s)) << load.error();
  b->kill();
  ASSERT_TRUE(load.wait(300s)) << load.error();
  ASSERT_TRUE(publisher.flush(60s));
  ASSERT_EQ(publisher.failures(), 0U) << publisher.first_failure();
  ASSERT_TRUE(all_applied(240s)) << a->log_tail();

  const auto topic = topic_changes(config_.brokers, config_.topic);
  size_t records = 0;
  for (const auto& [p, changes] : topic) records += changes.size();
  ASSERT_EQ(records, spec.events);
  ASSERT_TRUE(eventually([&] { return watcher.count() >= records; }, 120s))
      << watcher.count() << " of " << records << "\n"
      << a->log_tail();
  std::this_thread::sleep_for(500ms);  // nothing more may come
  const auto seen = changes_of(watcher.events());
  ASSERT_EQ(seen.size(), records);
  std::map<int32_t, std::vector<Change>> by_partition;
  for (const Change& c : seen) by_partition[c.position.partition].push_back(c);
  for (const auto& [p, changes] : topic) {
    ASSERT_EQ(by_partition[p].size(), changes.size()) << "partition " << p;
    for (size_t i = 0; i < changes.size(); ++i) {
      ASSERT_EQ(by_partition[p][i], changes[i])
          << "partition " << p << ", change " << i << " at offset " << changes[i].position.offset;
    }
  }
  EXPECT_EQ(fold({}, seen), live_rows(db_.url()));
  const TableDiff diff = compare(oracle.expected(), read_kv_table(db_.url()));
  EXPECT_TRUE(diff.empty()) << diff.describe();
  EXPECT_EQ(a->terminate(30s), 0) << a->log_tail();
}

// A watcher that resumes from any event's id gets every change after it,
// once, on either replica.
TEST_F(WatchTest, ResumingFromEvery1000thTokenHasNoGapAndNoDuplicate) {
  auto a = start("a");
  auto b = start("b");
  SseClient watcher(a->port(), "/v1/watch?from=now");
  ASSERT_EQ(watcher.status(10s), 200);
  Oracle oracle;
  EventPublisher publisher(config_.brokers, config_.topic, oracle);
  LoadSpec spec;
  spec.events = 20000;
  spec.keys = 2000;
  spec.seed = 21;
  ASSERT_EQ(publish_load(publisher, spec), spec.events);
  ASSERT_TRUE(publisher.flush(60s));
  ASSERT_TRUE(eventually([&] { return watcher.count() >= spec.events; }, 120s))
      << watcher.count() << "\n"
      << a->log_tail();
  const auto events = watcher.events();
  const auto all = changes_of(events);

  std::vector<std::unique_ptr<SseClient>> resumed;
  std::vector<size_t> from;
  for (size_t i = 0; i < events.size(); i += 1000) {
    // Alternately the query's from and a reconnect's Last-Event-ID, on
    // alternate replicas.
    Replica& r = (i / 1000) % 2 == 0 ? *a : *b;
    SseClient::Options options;
    std::string target = "/v1/watch";
    if ((i / 1000) % 4 < 2) {
      target += "?from=" + events[i].id;
    } else {
      options.headers["Last-Event-ID"] = events[i].id;
    }
    resumed.push_back(std::make_unique<SseClient>(r.port(), target, options));
    from.push_back(i);
  }
  for (size_t k = 0; k < resumed.size(); ++k) {
    const size_t expected = events.size() - from[k] - 1;
    ASSERT_EQ(resumed[k]->status(10s), 200)
        << "from " << events[from[k]].id << ": " << resumed[k]->body() << "\n"
        << a->log_tail() << b->log_tail();
    ASSERT_TRUE(eventually([&] { return resumed[k]->count() >= expected; }, 120s))
        << "from " << events[from[k]].id << ": " << resumed[k]->count() << " of " << expected;
  }
  std::this_thread::sleep_for(500ms);
  for (size_t k = 0; k < resumed.size(); ++k) {
    const auto got = changes_of(resumed[k]->events());
    // The same changes; across partitions the order may differ.
    std::map<int32_t, std::vector<Change>> want, have;
    for (size_t i = from[k] + 1; i < all.size(); ++i)
      want[all[i].position.partition].push_back(all[i]);
    for (const Change& c : got) have[c.position.partition].push_back(c);
    EXPECT_EQ(have, want) << "from " << events[from[k]].id;
  }
}

// A client lists every page while writes go on, watches from the first
// page's positions, and rebuilds the table exactly.
TEST_F(WatchTest, ListThenWatchRebuildsTheTableWhileWritesGoOn) {
  auto a = start("a");
  auto b = start("b");
  Oracle oracle;
  EventPublisher publisher(config_.brokers, config_.topic, oracle);
  LoadSpec spec;
  spec.events = 40000;
  spec.keys = 3000;
  spec.rate = 4000;
  spec.seed = 22;
  BackgroundLoad load(publisher, spec);
  ASSERT_TRUE(eventually([&] { return publisher.acknowledged() >= 10000; }, 120s)) << load.error();

  std::map<std::string, std::pair<std::string, Position>> listed;
  std::string first_positions, after;
  int pages = 0;
  while (true) {
    std::string target = "/v1/kv?limit=500";
    if (!after.empty()) target += "&after=" + after;  // keys of the load: no escaping needed
    auto page = http_get(b->port(), target);
    ASSERT_EQ(page.status, 200) << page.body;
    const json body = json::parse(page.body);
    if (pages++ == 0) first_positions = body.at("positions");
    EXPECT_EQ(page.header("X-KV-Positions"), body.at("positions"));
    for (const auto& item : body.at("items")) {
      listed[item.at("key")] = {item.at("value"),
                                *parse_position(item.at("position").get<std::string>())};
    }
    if (body.at("next_after").is_null()) break;
    after = body.at("next_after");
  }
  EXPECT_GT(pages, 1);
  SseClient watcher(a->port(), "/v1/watch?from=" + first_positions);
  ASSERT_EQ(watcher.status(10s), 200);
  ASSERT_TRUE(load.wait(120s)) << load.error();
  ASSERT_TRUE(publisher.flush(60s));
  ASSERT_TRUE(all_applied(120s));
  // The watcher has every change once its token reaches the applied ends.
  const std::string final_token = vector_at_end();
  ASSERT_TRUE(eventually([&] { return watcher.last_id() == final_token; }, 60s))
      << watcher.last_id() << " vs " << final_token;
  EXPECT_EQ(fold(listed, changes_of(watcher.events())), live_rows(db_.url()));
}

// A watcher that does not read is cut with its error event while the other
// goes on; the limit answers 429; a start whose records left the topic 410.
TEST_F(WatchTest, ASlowWatcherIsCutTheLimitIs429AndAGoneStartIs410) {
  // 4 MiB of history: reading runs at most 4 MiB / 2 / 6 partitions ahead
  // of the watcher furthest behind.
  auto a = start("a", {{"KVSTREAM_WATCH_BUFFER_BYTES", "1048576"},
                       {"KVSTREAM_WATCH_HISTORY_BYTES", "4194304"},
                       {"KVSTREAM_WATCH_MAX_WATCHERS", "2"}});
  SseClient::Options stalled;
  stalled.read = false;
  stalled.receive_buffer = 4096;
  SseClient slow(a->port(), "/v1/watch", stalled);
  SseClient fast(a->port(), "/v1/watch");
  ASSERT_EQ(fast.status(10s), 200);
  // The limit (2): a third watcher is refused.
  ASSERT_TRUE(eventually([&] { return metric_value(a->port(), "kvstream_watchers") == 2; }, 10s));
  auto refused = http_get(a->port(), "/v1/watch");
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(json::parse(refused.body).value("error", ""), "too_many_watchers");
  EXPECT_FALSE(refused.header("Retry-After").empty());

  Oracle oracle;
  EventPublisher publisher(config_.brokers, config_.topic, oracle);
  LoadSpec spec;
  // About 15 MB of events: more than the slow watcher's socket buffers, its
  // 1 MiB on the replica and its place in the history.
  spec.events = 30000;
  spec.keys = 30000;
  spec.max_padding = 600;
  spec.seed = 23;
  ASSERT_EQ(publish_load(publisher, spec), spec.events);
  ASSERT_TRUE(publisher.flush(60s));
  ASSERT_TRUE(eventually([&] { return fast.count() >= spec.events; }, 120s)) << a->log_tail();
  ASSERT_TRUE(all_applied(60s));
  // The slow one was cut: once it reads, its stream ends with the error.
  slow.start_reading();
  ASSERT_TRUE(eventually([&] { return slow.ended(); }, 30s));
  const auto events = slow.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "error");
  EXPECT_EQ(json::parse(events.back().data).value("error", ""), "too_slow");
  EXPECT_LT(events.size(), spec.events);
  const auto dropped = metric_series(a->port(), "kvstream_watch_dropped_total");
  EXPECT_EQ(dropped, (std::map<std::string, double>{{"{reason=\"too_slow\"}", 1}}))
      << show_series(dropped);
  // The watcher that read got everything, and room for another watch.
  EXPECT_EQ(fast.count(), spec.events);
  ASSERT_TRUE(eventually([&] { return metric_value(a->port(), "kvstream_watchers") == 1; }, 10s));

  // Records below offset 100 of partition 0 deleted, as retention would: a
  // watch from before them is 410, from after them streams.
  delete_records(config_.brokers, config_.topic, 0, 100);
  auto gone = http_get(a->port(), "/v1/watch?from=0:10");
  EXPECT_EQ(gone.status, 410) << gone.body;
  EXPECT_EQ(json::parse(gone.body).value("error", ""), "gone");
  SseClient resumed(a->port(), "/v1/watch?from=" + vector_at_end());
  EXPECT_EQ(resumed.status(10s), 200);
}

}  // namespace
}  // namespace kvstream::testing
