// The view cache seen from outside: reads of hot keys hammered while their
// values change through Kafka never go back in time, and once the writes
// are applied every read equals Postgres, served from the cache.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "common/position.h"
#include "producer/producer.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"
#include "tests/support/metrics_reader.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

uint16_t pick_port() {
  auto r = run_command({"/usr/bin/python3", "-c",
                        "import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
                        "print(s.getsockname()[1])"});
  return static_cast<uint16_t>(std::stoi(r.out));
}

TEST(ViewCacheEndToEnd, HotKeysReadWhileChangingEndEqualToPostgres) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("cache");
  create_topic(brokers, topic, 3);
  TestDatabase db;
  const uint16_t port = pick_port();
  ChildProcess consumer({bin_dir() + "/kvstream-consumer"},
                        {{"KVSTREAM_BROKERS", brokers},
                         {"KVSTREAM_TOPIC", topic},
                         {"KVSTREAM_GROUP", unique_name("group")},
                         {"KVSTREAM_PG_URL", db.url()},
                         {"KVSTREAM_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)}},
                        "/tmp/" + topic + "-consumer.log");
  auto ready = [&] {
    try {
      return http_get(port, "/readyz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  };
  for (int i = 0; i < 300 && !ready(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(ready()) << consumer.log();

  constexpr int kKeys = 20;
  auto key = [](int i) { return "hot:" + std::to_string(i); };

  // Readers: the position a reader sees for a key never moves backwards.
  std::atomic<bool> writing{true};
  std::atomic<int> reads{0}, regressions{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r));
      std::map<std::string, int64_t> last;
      while (writing.load()) {
        const std::string k = key(static_cast<int>(rng() % kKeys));
        HttpResult res;
        try {
          res = http_get(port, "/v1/kv/" + k);
        } catch (const std::exception&) {
          continue;
        }
        ++reads;
        if (res.status != 200) continue;
        auto pos = parse_position(res.header("x-kv-position"));
        if (!pos) continue;
        if (last.count(k) && pos->offset < last[k]) ++regressions;
        last[k] = pos->offset;
      }
    });
  }

  producer::ProducerSettings ps;
  ps.kafka.brokers = brokers;
  ps.kafka.topic = topic;
  {
    producer::Producer producer(ps);
    for (int n = 0; n < 3000; ++n) {
      const int i = n % kKeys;
      producer.put(key(i), "v" + std::to_string(n), {}, nullptr);
      if (n % 100 == 0) std::this_thread::sleep_for(5ms);
    }
    producer.del_sync(key(0));  // ends deleted
    EXPECT_EQ(producer.flush(30s), 0u);
  }

  // Wait until every partition is applied to its end.
  const auto ends = end_offsets(brokers, topic);
  bool applied = false;
  for (int i = 0; i < 600 && !applied; ++i) {
    auto conn = db.connect();
    pqxx::nontransaction tx(*conn);
    applied = true;
    for (const auto& [p, end] : ends) {
      if (end == 0) continue;
      auto r = tx.exec_params(
          "SELECT next_offset FROM kv_offsets WHERE topic = $1 AND partition = $2", topic, p);
      if (r.empty() || r[0][0].as<int64_t>() != end) applied = false;
    }
    if (!applied) std::this_thread::sleep_for(100ms);
  }
  writing.store(false);
  for (auto& t : readers) t.join();
  ASSERT_TRUE(applied) << "the writes were never all applied";
  EXPECT_GT(reads.load(), 100);
  EXPECT_EQ(regressions.load(), 0) << "a read went back to an older position";

  auto conn = db.connect();
  pqxx::nontransaction tx(*conn);
  for (int i = 0; i < kKeys; ++i) {
    auto row =
        tx.exec_params("SELECT value, src_partition, src_offset FROM kv WHERE key = $1", key(i));
    ASSERT_EQ(row.size(), 1u);
    // Twice: the second read must be a cache hit with the same answer.
    for (int attempt = 0; attempt < 2; ++attempt) {
      HttpResult res = http_get(port, "/v1/kv/" + key(i));
      if (row[0][0].is_null()) {
        EXPECT_EQ(res.status, 404) << key(i);
      } else {
        EXPECT_EQ(res.status, 200) << key(i);
        EXPECT_EQ(res.body, pqxx::binarystring(row[0][0]).str()) << key(i);
        EXPECT_EQ(res.header("x-kv-position"),
                  std::to_string(row[0][1].as<int>()) + ":" + row[0][2].as<std::string>());
      }
      if (attempt == 1) {
        EXPECT_EQ(res.header("x-kv-cache"), "hit") << key(i);
      }
    }
  }
  consumer.signal(SIGTERM);
  EXPECT_EQ(consumer.wait(30s), 0) << consumer.log();
}

TEST(ViewCacheEndToEnd, CachedKeysAreServedWhilePostgresIsDownMissesAre503AndTheBreakerOpens) {
  // A Postgres of its own: this test stops it (the shared one stays up).
  char dir[] = "/tmp/kvstream-cache-pg.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string env = source_dir() + "/tests/env/pg-env";
  auto started = run_command({env, "start", dir});
  // Destroyed on every way out, a failed assertion's included.
  struct Destroy {
    std::string env, dir;
    ~Destroy() { run_command({env, "destroy", dir}); }
  } destroy{env, dir};
  ASSERT_EQ(started.exit_code, 0) << started.out;
  const std::string pg_url = started.out.substr(0, started.out.find('\n'));

  const std::string brokers = test_brokers();
  const std::string topic = unique_name("degraded");
  create_topic(brokers, topic, 1);
  const uint16_t port = pick_port();
  {
    ChildProcess consumer({bin_dir() + "/kvstream-consumer"},
                          {{"KVSTREAM_BROKERS", brokers},
                           {"KVSTREAM_TOPIC", topic},
                           {"KVSTREAM_GROUP", unique_name("group")},
                           {"KVSTREAM_PG_URL", pg_url},
                           {"KVSTREAM_PG_STATEMENT_TIMEOUT_MS", "1000"},
                           {"KVSTREAM_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)}},
                          "/tmp/" + topic + "-consumer.log");
    producer::ProducerSettings ps;
    ps.kafka.brokers = brokers;
    ps.kafka.topic = topic;
    {
      producer::Producer producer(ps);
      producer.put_sync("cached", "still here");
    }
    // Until the key is in the cache: a read that raced with the event's
    // apply answers from Postgres without filling the cache (view_cache.h).
    HttpResult res;
    for (int i = 0; i < 300; ++i) {
      try {
        res = http_get(port, "/v1/kv/cached");
      } catch (const std::exception&) {
      }
      if (res.status == 200 && res.header("x-kv-cache") == "hit") break;
      std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(res.status, 200) << consumer.log();
    ASSERT_EQ(res.header("x-kv-cache"), "hit") << consumer.log();

    ASSERT_EQ(run_command({env, "stop", dir}).exit_code, 0);
    res = http_get(port, "/v1/kv/cached");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "still here");
    EXPECT_EQ(res.header("x-kv-cache"), "hit");
    bool degraded = false;
    for (int i = 0; i < 150 && !degraded; ++i) {  // once the replica noticed
      degraded = http_get(port, "/v1/kv/cached").header("x-kv-degraded") == "database-unavailable";
      if (!degraded) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(degraded);
    EXPECT_EQ(http_get(port, "/v1/kv/never-seen").status, 503);
    EXPECT_EQ(http_get(port, "/readyz").status, 503);
    // After repeated failures the circuit breaker answers misses at once,
    // saying so, instead of sending each one to the dead database.
    bool fast = false;
    for (int i = 0; i < 20 && !fast; ++i) {
      auto miss = http_get(port, "/v1/kv/miss-" + std::to_string(i));
      EXPECT_EQ(miss.status, 503);
      fast = miss.body.find("failing fast") != std::string::npos;
    }
    EXPECT_TRUE(fast);
    // The health gauges say the same: the database down, not ready, the
    // breaker open (or, past its cool-down, half-open), never closed.
    EXPECT_EQ(metric_value(port, "kvstream_database_up"), 0);
    EXPECT_EQ(metric_value(port, "kvstream_ready"), 0);
    const double breaker = metric_value(port, "kvstream_read_breaker_state");
    EXPECT_TRUE(breaker == 1 || breaker == 2) << "kvstream_read_breaker_state " << breaker;
    // Postgres back: the breaker closes after a trial read, misses answer.
    auto restarted = run_command({env, "start", dir});
    ASSERT_EQ(restarted.exit_code, 0) << restarted.out;
    int status = 0;
    for (int i = 0; i < 150 && status != 404; ++i) {
      status = http_get(port, "/v1/kv/never-seen").status;
      if (status != 404) std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(status, 404) << consumer.log();
    EXPECT_EQ(metric_value(port, "kvstream_read_breaker_state"), 0) << "closed by the trial read";
    consumer.signal(SIGTERM);
    EXPECT_EQ(consumer.wait(40s), 0) << consumer.log();
  }
}

}  // namespace
}  // namespace kvstream::testing
