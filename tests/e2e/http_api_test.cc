// The HTTP API end to end: real kvstream-consumer replicas against the real
// broker and Postgres, spoken to by a real HTTP client (and, for the
// connection-level cases, a raw socket). Each test checks what a client sees:
// status, headers, bodies, and the rows in Postgres.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/position.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"
#include "tests/support/metrics_reader.h"
#include "tests/support/replica.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using tcp = boost::asio::ip::tcp;

constexpr int kPartitions = 6;

std::string error_code(const HttpResult& r) {
  try {
    return json::parse(r.body).value("error", "");
  } catch (const std::exception&) {
    return "<not json: " + r.body.substr(0, 200) + ">";
  }
}

// A topic, a database and replicas of one group for the tests of a suite.
class HttpApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase();
    config_ = new ReplicaConfig{
        test_brokers(), unique_name("http"), unique_name("http-group"), db_->url(), {}};
    create_topic(config_->brokers, config_->topic, kPartitions);
    run_migrations(*config_);
    a_ = new Replica(*config_, "a");
    b_ = new Replica(*config_, "b");
    ASSERT_TRUE(a_->wait_ready(60s)) << a_->log_tail();
    ASSERT_TRUE(b_->wait_ready(60s)) << b_->log_tail();
    // Both own partitions before the tests start.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline && (owned(*a_) == 0 || owned(*b_) == 0)) {
      std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(owned(*a_) + owned(*b_), kPartitions) << a_->log_tail() << b_->log_tail();
    // A replica is ready once joined, before its first assignment; with the
    // assignment it waits to have caught up (its lag measured) again.
    ASSERT_TRUE(a_->wait_ready(60s)) << a_->log_tail();
    ASSERT_TRUE(b_->wait_ready(60s)) << b_->log_tail();
  }

  static void TearDownTestSuite() {
    for (Replica* r : {a_, b_}) {
      if (r != nullptr) {
        EXPECT_EQ(r->terminate(30s), 0) << r->log_tail();
      }
      delete r;
    }
    delete config_;
    delete db_;
  }

  static size_t owned(Replica& r) {
    auto s = http_get(r.port(), "/v1/status");
    if (s.status != 200) return 0;
    return json::parse(s.body)["partitions"].size();
  }

  static std::optional<std::string> row(const std::string& key) {
    auto conn = db_->connect();
    pqxx::nontransaction tx(*conn);
    auto r = tx.exec_params("SELECT value FROM kv WHERE key = $1", key);
    if (r.empty()) return std::nullopt;
    if (r[0][0].is_null()) return std::string("<tombstone>");
    return pqxx::binarystring(r[0][0]).str();
  }

  // PUT through `r` without waiting; the position it answers.
  static std::string put(Replica& r, const std::string& encoded_key, const std::string& value,
                         const std::string& content_type = "text/plain") {
    auto res = http_request(r.port(), "PUT", "/v1/kv/" + encoded_key, value,
                            {{"Content-Type", content_type}});
    EXPECT_EQ(res.status, 202) << res.body;
    EXPECT_FALSE(res.header("X-KV-Position").empty());
    return res.header("X-KV-Position");
  }

  static TestDatabase* db_;
  static ReplicaConfig* config_;
  static Replica* a_;
  static Replica* b_;
};

TestDatabase* HttpApiTest::db_ = nullptr;
ReplicaConfig* HttpApiTest::config_ = nullptr;
Replica* HttpApiTest::a_ = nullptr;
Replica* HttpApiTest::b_ = nullptr;

TEST_F(HttpApiTest, PutGetHeadConditionalGetAndDeleteLikeAKeyValueStore) {
  const std::string position = put(*a_, "user%2F1", "{\"name\":\"Ada\"}", "application/json");
  const auto parsed = parse_position(position);
  ASSERT_TRUE(parsed) << position;

  auto got = http_request(a_->port(), "GET", "/v1/kv/user%2F1?min_position=" + position);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, "{\"name\":\"Ada\"}");
  EXPECT_EQ(got.header("Content-Type"), "application/json");
  EXPECT_EQ(got.header("X-KV-Position"), position);
  EXPECT_EQ(got.header("ETag"), "\"" + position + "\"");
  EXPECT_EQ(row("user/1"), "{\"name\":\"Ada\"}");

  auto head = http_request(a_->port(), "HEAD", "/v1/kv/user%2F1");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), "14");
  EXPECT_TRUE(head.body.empty());

  auto cached = http_request(a_->port(), "GET", "/v1/kv/user%2F1", "",
                             {{"If-None-Match", "\"" + position + "\""}});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
  auto changed =
      http_request(a_->port(), "GET", "/v1/kv/user%2F1", "", {{"If-None-Match", "\"0:0\""}});
  EXPECT_EQ(changed.status, 200);

  auto put_applied = http_request(b_->port(), "PUT", "/v1/kv/user%2F1?wait=applied", "v2",
                                  {{"Content-Type", "text/plain"}});
  EXPECT_EQ(put_applied.status, 201) << put_applied.body;
  EXPECT_EQ(row("user/1"), "v2");
  auto deleted = http_request(b_->port(), "DELETE", "/v1/kv/user%2F1?wait=applied");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(json::parse(deleted.body)["status"], "applied");
  EXPECT_EQ(row("user/1"), "<tombstone>");
  for (Replica* r : {a_, b_}) {
    auto gone = http_get(r->port(), "/v1/kv/user%2F1");
    EXPECT_EQ(gone.status, 404) << gone.body;
    EXPECT_EQ(error_code(gone), "not_found");
  }
  // Deleting again is harmless.
  EXPECT_EQ(http_request(a_->port(), "DELETE", "/v1/kv/user%2F1?wait=applied").status, 200);
  EXPECT_EQ(http_get(a_->port(), "/v1/kv/never-written").status, 404);
}

TEST_F(HttpApiTest, APutsPositionReadOnTheOtherReplicaAlwaysReturnsTheNewValue) {
  for (int i = 0; i < 40; ++i) {
    const std::string key = "ryw-" + std::to_string(i % 7);
    const std::string value = "value-" + std::to_string(i);
    Replica& writer = i % 2 == 0 ? *a_ : *b_;
    Replica& reader = i % 2 == 0 ? *b_ : *a_;
    const std::string position = put(writer, key, value);
    // Alternate the two ways of asking.
    auto got = i % 4 < 2 ? http_request(reader.port(), "GET",
                                        "/v1/kv/" + key + "?min_position=" + position)
                         : http_request(reader.port(), "GET", "/v1/kv/" + key, "",
                                        {{"X-KV-Min-Position", position}});
    ASSERT_EQ(got.status, 200) << "round " << i << ": " << got.body;
    ASSERT_EQ(got.body, value) << "round " << i;
  }
}

TEST_F(HttpApiTest, APositionNotYetAppliedAnswers504WhenTheWaitEnds) {
  const std::string far = "0:1000000000";
  auto res = http_request(a_->port(), "GET", "/v1/kv/x?min_position=" + far + "&timeout_ms=300");
  EXPECT_EQ(res.status, 504) << res.body;
  EXPECT_EQ(error_code(res), "not_yet_applied");
  EXPECT_EQ(json::parse(res.body)["min_position"][0], far);
  // Several positions; one not there.
  auto list = http_request(a_->port(), "GET", "/v1/kv?min_position=1:0,2:1000000000&timeout_ms=0");
  EXPECT_EQ(list.status, 504) << list.body;
}

TEST_F(HttpApiTest, ListsLiveKeysByPrefixInBytewiseOrderPageByPage) {
  std::set<std::string> expected;
  // The page must reflect every write: the latest position of each
  // partition written to.
  std::map<int32_t, int64_t> latest;
  auto wrote = [&](const std::string& position) {
    auto p = parse_position(position);
    ASSERT_TRUE(p) << position;
    latest[p->partition] = std::max(latest[p->partition], p->offset);
  };
  for (int i = 0; i < 23; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "list/%02d", i);
    wrote(put(*a_, std::string("list%2F") + (key + 5), "v" + std::to_string(i)));
    expected.insert(key);
  }
  wrote(put(*a_, "lisu", "outside the prefix"));
  wrote(put(*a_, "list%2F%C3%A9", std::string("\xff\xfe binary", 9), "application/octet-stream"));
  expected.insert("list/\xc3\xa9");
  std::string last;
  for (const auto& [p, o] : latest) {
    last += (last.empty() ? "" : ",") + to_string(Position{p, o});
  }
  auto del = http_request(a_->port(), "DELETE", "/v1/kv/list%2F05?wait=applied");
  ASSERT_EQ(del.status, 200);
  expected.erase("list/05");

  std::vector<std::string> keys;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    std::string target = "/v1/kv?prefix=list%2F&limit=10&min_position=" + last;
    if (!after.empty()) target += "&after=" + after;
    auto res = http_get(b_->port(), target);
    ASSERT_EQ(res.status, 200) << res.body;
    auto body = json::parse(res.body);
    EXPECT_LE(body["items"].size(), 10u);
    for (const auto& item : body["items"]) {
      keys.push_back(item["key"]);
      EXPECT_FALSE(item["position"].get<std::string>().empty());
      EXPECT_FALSE(item["updated_at"].get<std::string>().empty());
      if (item["key"] == "list/07") {
        EXPECT_EQ(item["value"], "v7");
        EXPECT_EQ(item["value_encoding"], "utf-8");
        EXPECT_EQ(item["content_type"], "text/plain");
      }
      if (item["key"] == "list/\xc3\xa9") {
        EXPECT_EQ(item["value_encoding"], "base64");
        EXPECT_EQ(item["value"], "//4gYmluYXJ5");
      }
    }
    if (body["next_after"].is_null()) break;
    // The cursor goes back percent-encoded.
    after.clear();
    for (unsigned char c : body["next_after"].get<std::string>()) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      after += buf;
    }
  }
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), expected);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(keys.size(), expected.size()) << "no key twice";

  // A huge limit is capped; an empty prefix lists everything.
  auto all = http_get(a_->port(), "/v1/kv?limit=1000000&min_position=" + last);
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_GE(json::parse(all.body)["items"].size(), expected.size() + 1);
}

TEST_F(HttpApiTest, BadInputGetsA4xxWithAStableJsonReason) {
  struct Case {
    std::string method, target, body;
    std::map<std::string, std::string> headers;
    int status;
    std::string code;
  };
  const std::string long_key(2048, 'k');
  // 100 KiB of headers, in fields of 20 KiB.
  std::map<std::string, std::string> big_headers;
  for (int i = 0; i < 5; ++i) big_headers["X-Big-" + std::to_string(i)] = std::string(20480, 'h');
  const std::vector<Case> cases = {
      {"GET", "/v1/kv/%zz", "", {}, 400, "bad_key"},
      {"GET", "/v1/kv/a%2", "", {}, 400, "bad_key"},
      {"GET", "/v1/kv/a%00b", "", {}, 400, "key_contains_nul"},
      {"GET", "/v1/kv/%C3%28", "", {}, 400, "key_not_utf8"},
      {"GET", "/v1/kv/", "", {}, 400, "empty_key"},
      {"GET", "/v1/kv/" + long_key, "", {}, 400, "key_too_long"},
      {"PUT", "/v1/kv/" + long_key, "v", {}, 400, "key_too_long"},
      {"PUT", "/v1/kv/big", std::string(2 * 1024 * 1024, 'x'), {}, 413, "body_too_large"},
      {"GET", "/v1/kv/k", "", big_headers, 431, "headers_too_large"},
      {"GET", "/v2/kv/k", "", {}, 404, "no_route"},
      {"GET", "/", "", {}, 404, "no_route"},
      {"POST", "/v1/kv/k", "v", {}, 405, "method_not_allowed"},
      {"DELETE", "/v1/kv", "", {}, 405, "method_not_allowed"},
      {"PUT", "/healthz", "", {}, 405, "method_not_allowed"},
      {"GET", "/v1/kv/k?min_position=abc", "", {}, 400, "bad_min_position"},
      {"GET", "/v1/kv/k?min_position=1:", "", {}, 400, "bad_min_position"},
      {"GET", "/v1/kv/k?min_position=-1:5", "", {}, 400, "bad_min_position"},
      {"GET", "/v1/kv/k?min_position=99:5", "", {}, 400, "bad_min_position"},
      {"GET", "/v1/kv/k", "", {{"X-KV-Min-Position", "1:2,"}}, 400, "bad_min_position"},
      {"GET", "/v1/kv/k?min_position=0:0&timeout_ms=-5", "", {}, 400, "bad_timeout"},
      {"GET", "/v1/kv?limit=-1", "", {}, 400, "bad_limit"},
      {"GET", "/v1/kv?limit=0", "", {}, 400, "bad_limit"},
      {"GET", "/v1/kv?limit=ten", "", {}, 400, "bad_limit"},
      {"GET", "/v1/kv?limit=99999999999999999999999", "", {}, 400, "bad_limit"},
      {"GET", "/v1/kv?prefix=%zz", "", {}, 400, "bad_query"},
      {"GET", "/v1/kv?prefix=a%00", "", {}, 400, "bad_query"},
      {"PUT", "/v1/kv/k?wait=forever", "v", {}, 400, "bad_wait"},
      {"PUT", "/v1/kv/k", "v", {{"Content-Type", std::string(5000, 'c')}}, 400, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.target.substr(0, 80));
    auto res = http_request(a_->port(), c.method, c.target, c.body, c.headers);
    EXPECT_EQ(res.status, c.status) << res.body;
    EXPECT_EQ(res.header("Content-Type"), "application/json");
    auto body = json::parse(res.body);
    EXPECT_TRUE(body.contains("message")) << res.body;
    if (!c.code.empty()) {
      EXPECT_EQ(body.value("error", ""), c.code);
    } else {
      EXPECT_FALSE(body.value("error", "").empty());
    }
    if (c.status == 405) {
      EXPECT_FALSE(res.header("Allow").empty());
    }
  }
  // Nothing of it reached the table.
  EXPECT_EQ(row("big"), std::nullopt);
  EXPECT_EQ(row("k"), std::nullopt);
  // And the server still serves.
  EXPECT_EQ(http_get(a_->port(), "/healthz").status, 200);
}

TEST_F(HttpApiTest, StatusMetricsAndRequestIds) {
  auto status = http_get(a_->port(), "/v1/status");
  ASSERT_EQ(status.status, 200);
  auto body = json::parse(status.body);
  EXPECT_EQ(body["topic"], config_->topic);
  EXPECT_EQ(body["group_joined"], true);
  EXPECT_EQ(body["database_ok"], true);
  EXPECT_EQ(body["partition_count"], kPartitions);
  EXPECT_FALSE(body["version"].get<std::string>().empty());
  EXPECT_TRUE(body["cache"].contains("entries"));
  for (const auto& p : body["partitions"]) {
    EXPECT_GE(p["partition"].get<int>(), 0);
    EXPECT_TRUE(p.contains("next_offset"));
    EXPECT_TRUE(p.contains("lag"));
  }

  auto mine = http_request(a_->port(), "GET", "/healthz", "", {{"X-Request-ID", "abc-123"}});
  EXPECT_EQ(mine.header("X-Request-ID"), "abc-123");
  auto generated = http_get(a_->port(), "/healthz");
  EXPECT_EQ(generated.header("X-Request-ID").size(), 32u);
  auto again = http_get(a_->port(), "/healthz");
  EXPECT_NE(again.header("X-Request-ID"), generated.header("X-Request-ID"));
  auto insane = http_request(a_->port(), "GET", "/healthz", "", {{"X-Request-ID", "a b"}});
  EXPECT_EQ(insane.header("X-Request-ID").size(), 32u);

  http_get(a_->port(), "/v1/kv/metrics-probe");
  auto metrics = http_get(a_->port(), "/metrics");
  EXPECT_NE(metrics.body.find("kvstream_http_requests_total{code=\"404\",route=\"/v1/kv/{key}\"}"),
            std::string::npos)
      << metrics.body.substr(0, 4000);
  EXPECT_NE(metrics.body.find("kvstream_http_request_duration_seconds_bucket"), std::string::npos);
  // A ready replica: ready, its database up, a member of the group, reads
  // through a closed breaker.
  EXPECT_EQ(metric_value(a_->port(), "kvstream_ready"), 1);
  EXPECT_EQ(metric_value(a_->port(), "kvstream_database_up"), 1);
  EXPECT_EQ(metric_value(a_->port(), "kvstream_group_joined"), 1);
  EXPECT_EQ(metric_value(a_->port(), "kvstream_read_breaker_state"), 0);
}

// A replica of its own for the tests that change HTTP settings (its own
// group: it does not disturb the suite's).
class HttpSettingsTest : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env) {
    config_ = ReplicaConfig{test_brokers(), unique_name("http-settings"),
                            unique_name("http-settings-group"), db_.url(), std::move(env)};
    create_topic(config_.brokers, config_.topic, 2);
    replica_ = std::make_unique<Replica>(config_, "r");
    ASSERT_TRUE(replica_->wait_ready(60s)) << replica_->log_tail();
  }

  void TearDown() override {
    if (replica_) {
      EXPECT_EQ(replica_->terminate(30s), 0) << replica_->log_tail();
    }
  }

  tcp::socket connect(boost::asio::io_context& ioc) {
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), replica_->port()));
    return s;
  }

  TestDatabase db_;
  ReplicaConfig config_;
  std::unique_ptr<Replica> replica_;
};

TEST_F(HttpSettingsTest, AClientSendingOneBytePerSecondIsCutOff) {
  start({{"KVSTREAM_HTTP_READ_TIMEOUT_MS", "1500"}});
  boost::asio::io_context ioc;
  auto s = connect(ioc);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
  const auto started = std::chrono::steady_clock::now();
  bool cut = false;
  for (char c : request) {
    boost::system::error_code ec;
    boost::asio::write(s, boost::asio::buffer(&c, 1), ec);
    if (ec) {
      cut = true;
      break;
    }
    // Has the server closed? (A non-blocking read sees EOF.)
    s.non_blocking(true);
    char b;
    s.read_some(boost::asio::buffer(&b, 1), ec);
    s.non_blocking(false);
    if (ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(1s);
  }
  EXPECT_TRUE(cut)
      << "the whole request trickled in over "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s";
  // Others are served meanwhile and after.
  EXPECT_EQ(http_get(replica_->port(), "/healthz").status, 200);
}

TEST_F(HttpSettingsTest, IdleConnectionsBeyondTheCapDoNotStopNewOnesOnceTheyClose) {
  start({{"KVSTREAM_HTTP_MAX_CONNECTIONS", "4"}});
  boost::asio::io_context ioc;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect(ioc));
  // The server accepts the four on its own time (a loaded machine may take
  // a while): a fifth is refused once it has.
  auto refused = http_get(replica_->port(), "/healthz");
  for (int i = 0; i < 50 && refused.status != 503; ++i) {
    std::this_thread::sleep_for(100ms);
    refused = http_get(replica_->port(), "/healthz");
  }
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(error_code(refused), "too_many_connections");
  for (auto& s : idle) s.close();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = http_get(replica_->port(), "/healthz").status == 200;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpSettingsTest, BearerTokensProtectReadsAndWritesSeparately) {
  start({{"KVSTREAM_HTTP_READ_TOKEN", "reader-secret"},
         {"KVSTREAM_HTTP_WRITE_TOKEN", "writer-secret"}});
  const uint16_t port = replica_->port();
  auto anonymous = http_get(port, "/v1/kv/k");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(error_code(anonymous), "unauthorized");
  EXPECT_EQ(anonymous.header("WWW-Authenticate"), "Bearer realm=\"kvstream\"");
  EXPECT_EQ(http_request(port, "GET", "/v1/kv/k", "", {{"Authorization", "Bearer wrong"}}).status,
            401);
  EXPECT_EQ(
      http_request(port, "GET", "/v1/kv/k", "", {{"Authorization", "Bearer writer-secret"}}).status,
      401);
  EXPECT_EQ(
      http_request(port, "GET", "/v1/kv/k", "", {{"Authorization", "Bearer reader-secret"}}).status,
      404);
  EXPECT_EQ(http_request(port, "PUT", "/v1/kv/k", "v", {{"Authorization", "Bearer reader-secret"}})
                .status,
            401);
  EXPECT_EQ(http_request(port, "PUT", "/v1/kv/k", "v", {{"Authorization", "Bearer writer-secret"}})
                .status,
            202);
  // Probes and metrics stay open.
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  EXPECT_EQ(http_get(port, "/readyz").status, 200);
  EXPECT_EQ(http_get(port, "/metrics").status, 200);
  // The tokens never show in the printed configuration.
}

TEST_F(HttpSettingsTest, APerClientRateLimitAnswers429WithRetryAfter) {
  start({{"KVSTREAM_HTTP_RATE_LIMIT_PER_CLIENT", "5"}});
  int ok = 0, limited = 0;
  std::string retry_after;
  for (int i = 0; i < 30; ++i) {
    auto r = http_get(replica_->port(), "/v1/kv/k");
    if (r.status == 429) {
      ++limited;
      retry_after = r.header("Retry-After");
      EXPECT_EQ(error_code(r), "rate_limited");
    } else {
      EXPECT_EQ(r.status, 404);
      ++ok;
    }
  }
  EXPECT_GE(ok, 5);
  EXPECT_GT(limited, 0);
  EXPECT_EQ(retry_after, "1");
  // Probes are never limited.
  EXPECT_EQ(http_get(replica_->port(), "/healthz").status, 200);
}

}  // namespace
}  // namespace kvstream::testing
