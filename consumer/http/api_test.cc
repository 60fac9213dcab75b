// The HTTP API as a client sees it, on fakes of its two seams: every route's
// answers and errors (status codes, JSON reasons, the headers the API sets).
// No socket: requests go to Api::handle and the answer is what it hands to
// the server.
#include "http/api.h"

#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/kafka_partitioner.h"
#include "tests/fakes/fake_publisher.h"
#include "tests/fakes/fake_view_reader.h"

namespace kvstream::http {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using status = beast_http::status;
using verb = beast_http::verb;

constexpr int32_t kPartitions = 6;

// Where the API's answer to one request lands.
// A stream's bytes, kept.
class CapturedStream : public EventStream {
 public:
  bool send(std::string bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent += bytes;
    return true;
  }
  void finish(std::string last) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent += last;
    finished = true;
  }
  size_t pending_bytes() const override { return 0; }
  bool closed() const override { return finished; }

  std::mutex mu_;
  std::string sent;
  bool finished = false;
};

class Captured : public detail::ResponseSink {
 public:
  void respond(Response res) override { answer_.set_value(std::move(res)); }
  std::shared_ptr<EventStream> stream(Response header) override {
    answer_.set_value(std::move(header));
    stream_ = std::make_shared<CapturedStream>();
    return stream_;
  }
  std::future<Response> answer() { return answer_.get_future(); }
  std::shared_ptr<CapturedStream> stream_;

 private:
  std::promise<Response> answer_;
};

json body_of(const Response& res) { return json::parse(res.body()); }

std::string header(const Response& res, boost::beast::string_view name) {
  auto it = res.find(name);
  return it == res.end() ? std::string("(absent)") : std::string(it->value());
}

std::string header(const Response& res, beast_http::field name) {
  auto it = res.find(name);
  return it == res.end() ? std::string("(absent)") : std::string(it->value());
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() {
    settings.topic = "kv-events";
    settings.version = "test";
    settings.default_wait = 2000ms;
    status.set_catch_up_bounds(100, 10);
    status.set_partition_count(kPartitions);
    status.set_joined(true);
    std::vector<int32_t> all;
    for (int32_t p = 0; p < kPartitions; ++p) {
      status.set_assigned(p, 0);
      status.set_lag(p, 0, 0);
      all.push_back(p);
    }
    view = std::make_unique<view::CachedView>(reader, status, std::make_unique<cache::ViewCache>());
    view->own(all);
    waiter =
        std::make_unique<PositionWaiter>(status, [this] { return reader.applied_positions(); });
    status.set_listener([this] { waiter->notify(); });
  }

  ~ApiTest() override {
    waiter->stop();
    db_threads.join();
  }

  // The API is built again on next use (with the fixture's fields as they
  // are then).
  void rebuild_api() { api_.reset(); }

  // The API, built on first use with `settings` and `writer` as they are then.
  Api& api() {
    if (!api_) {
      ApiContext context{*view,   status, db_threads, *waiter, writer, [] { return "kv_up 1\n"; },
                         nullptr, watch};
      api_ = std::make_unique<Api>(settings, std::move(context));
    }
    return *api_;
  }

  std::future<Response> start(verb method, const std::string& target, std::string body = {},
                              std::vector<std::pair<std::string, std::string>> headers = {},
                              const std::string& peer = "10.0.0.1") {
    Request req{method, target, 11};
    for (auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    req.prepare_payload();
    auto sink = std::make_shared<Captured>();
    auto answer = sink->answer();
    api().handle(std::move(req), peer, Responder(sink));
    return answer;
  }

  Response call(verb method, const std::string& target, std::string body = {},
                std::vector<std::pair<std::string, std::string>> headers = {},
                const std::string& peer = "10.0.0.1") {
    return wait(start(method, target, std::move(body), std::move(headers), peer));
  }

  static Response wait(std::future<Response> answer) {
    if (answer.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 5 s";
      return Response{};
    }
    return answer.get();
  }

  // The error reason of a JSON error answer.
  static std::string reason(const Response& res) { return body_of(res).value("error", ""); }

  ApiSettings settings;
  view::ReplicaStatus status;
  fakes::FakeViewReader reader;
  std::unique_ptr<view::CachedView> view;
  boost::asio::thread_pool db_threads{2};
  std::unique_ptr<PositionWaiter> waiter;
  fakes::FakePublisher publisher{kPartitions};
  producer::Publisher* writer = &publisher;
  WatchOpener watch;

 private:
  std::unique_ptr<Api> api_;
};

// --- every route ---------------------------------------------------------

TEST_F(ApiTest, AnUnknownPathIs404NoRoute) {
  Response res = call(verb::get, "/v2/kv/x");
  EXPECT_EQ(res.result(), status::not_found);
  EXPECT_EQ(reason(res), "no_route");
  EXPECT_EQ(header(res, beast_http::field::content_type), "application/json");
}

TEST_F(ApiTest, AMethodARouteDoesNotTakeIs405WithAllow) {
  Response res = call(verb::post, "/v1/kv/user:1");
  EXPECT_EQ(res.result(), status::method_not_allowed);
  EXPECT_EQ(reason(res), "method_not_allowed");
  EXPECT_EQ(header(res, beast_http::field::allow), "GET, HEAD, PUT, DELETE");
  EXPECT_EQ(header(call(verb::put, "/v1/status"), beast_http::field::allow), "GET, HEAD");
}

TEST_F(ApiTest, AMalformedQueryIs400BadQuery) {
  Response res = call(verb::get, "/v1/kv?prefix=%zz");
  EXPECT_EQ(res.result(), status::bad_request);
  EXPECT_EQ(reason(res), "bad_query");
}

TEST_F(ApiTest, EveryAnswerCarriesARequestIdTheClientsWhenSane) {
  const std::string fresh = header(call(verb::get, "/healthz"), "X-Request-ID");
  EXPECT_EQ(fresh.size(), 32U);
  EXPECT_NE(fresh, header(call(verb::get, "/healthz"), "X-Request-ID"));
  EXPECT_EQ(
      header(call(verb::get, "/v1/kv/nope", {}, {{"X-Request-ID", "req-42"}}), "X-Request-ID"),
      "req-42");
  // An id with a space is not echoed: a new one is made.
  const std::string replaced =
      header(call(verb::get, "/healthz", {}, {{"X-Request-ID", "bad id"}}), "X-Request-ID");
  EXPECT_EQ(replaced.size(), 32U);
}

TEST_F(ApiTest, HealthzIsOkAndHeadHasTheLengthButNoBody) {
  Response res = call(verb::get, "/healthz");
  EXPECT_EQ(res.result(), status::ok);
  EXPECT_EQ(body_of(res), json({{"status", "ok"}}));
  Response head = call(verb::head, "/healthz");
  EXPECT_EQ(head.result(), status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(header(head, beast_http::field::content_length), std::to_string(res.body().size()));
}

TEST_F(ApiTest, ReadyzIs503WithTheReasonUntilTheReplicaIsReady) {
  EXPECT_EQ(call(verb::get, "/readyz").result(), status::ok);
  EXPECT_EQ(body_of(call(verb::get, "/readyz")), json({{"status", "ready"}}));
  status.set_database_ok(false, "connection refused");
  Response res = call(verb::get, "/readyz");
  EXPECT_EQ(res.result(), status::service_unavailable);
  EXPECT_EQ(reason(res), "not_ready");
  status.set_database_ok(true);
  status.set_joined(false);
  EXPECT_EQ(call(verb::get, "/readyz").result(), status::service_unavailable);
}

TEST_F(ApiTest, MetricsIsPrometheusText) {
  Response res = call(verb::get, "/metrics");
  EXPECT_EQ(res.result(), status::ok);
  EXPECT_EQ(header(res, beast_http::field::content_type), "text/plain; version=0.0.4");
  EXPECT_EQ(res.body(), "kv_up 1\n");
}

TEST_F(ApiTest, StatusShowsPartitionsPositionsLagAndCache) {
  status.set_applied(2, 10);
  status.set_end_offset(2, 15);
  reader.put("user:1", std::string("v"), {partition_for_key("user:1", kPartitions), 3});
  call(verb::get, "/v1/kv/user:1");  // a miss
  call(verb::get, "/v1/kv/user:1");  // a hit
  Response res = call(verb::get, "/v1/status");
  ASSERT_EQ(res.result(), status::ok);
  const json body = body_of(res);
  EXPECT_EQ(body["topic"], "kv-events");
  EXPECT_EQ(body["version"], "test");
  EXPECT_EQ(body["group_joined"], true);
  EXPECT_EQ(body["database_ok"], true);
  EXPECT_EQ(body["partition_count"], kPartitions);
  ASSERT_EQ(body["partitions"].size(), static_cast<size_t>(kPartitions));
  EXPECT_EQ(body["partitions"][2],
            json({{"partition", 2}, {"next_offset", 10}, {"end_offset", 15}, {"lag", 5}}));
  EXPECT_EQ(body["partitions"][0]["end_offset"], nullptr);
  EXPECT_EQ(body["partitions"][0]["lag"], nullptr);
  EXPECT_EQ(body["cache"]["entries"], 1);
  EXPECT_EQ(body["cache"]["hits"], 1);
  EXPECT_EQ(body["cache"]["misses"], 1);
}

TEST_F(ApiTest, StatusWithoutACacheSaysSo) {
  view = std::make_unique<view::CachedView>(reader, status, nullptr);
  EXPECT_EQ(body_of(call(verb::get, "/v1/status"))["cache"], nullptr);
}

// --- GET /v1/kv/{key} ----------------------------------------------------

TEST_F(ApiTest, AKeyIsReadFromTheDatabaseThenFromTheCache) {
  const int32_t p = partition_for_key("user:1", kPartitions);
  reader.put("user:1", std::string("{\"name\":\"Ada\"}"), {p, 7}, "application/json");
  const std::string position = std::to_string(p) + ":7";

  Response miss = call(verb::get, "/v1/kv/user%3A1");
  EXPECT_EQ(miss.result(), status::ok);
  EXPECT_EQ(miss.body(), "{\"name\":\"Ada\"}");
  EXPECT_EQ(header(miss, beast_http::field::content_type), "application/json");
  EXPECT_EQ(header(miss, beast_http::field::etag), "\"" + position + "\"");
  EXPECT_EQ(header(miss, "X-KV-Position"), position);
  EXPECT_EQ(header(miss, "X-KV-Cache"), "miss");

  Response hit = call(verb::get, "/v1/kv/user:1");
  EXPECT_EQ(hit.result(), status::ok);
  EXPECT_EQ(hit.body(), miss.body());
  EXPECT_EQ(header(hit, "X-KV-Cache"), "hit");
  EXPECT_EQ(header(hit, "X-KV-Position"), position);
  EXPECT_EQ(reader.gets(), 1U);
}

TEST_F(ApiTest, AValueWithoutContentTypeIsOctetStream) {
  reader.put("raw", std::string("\x01\x02", 2), {partition_for_key("raw", kPartitions), 1});
  Response res = call(verb::get, "/v1/kv/raw");
  EXPECT_EQ(header(res, beast_http::field::content_type), "application/octet-stream");
  EXPECT_EQ(res.body(), std::string("\x01\x02", 2));
}

TEST_F(ApiTest, HeadOfAKeyHasItsHeadersWithoutTheBody) {
  reader.put("k", std::string("12345"), {partition_for_key("k", kPartitions), 1});
  Response res = call(verb::head, "/v1/kv/k");
  EXPECT_EQ(res.result(), status::ok);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(header(res, beast_http::field::content_length), "5");
  EXPECT_NE(header(res, beast_http::field::etag), "(absent)");
}

TEST_F(ApiTest, AMatchingIfNoneMatchIs304WithTheETag) {
  const int32_t p = partition_for_key("k", kPartitions);
  reader.put("k", std::string("v"), {p, 4});
  const std::string etag = "\"" + std::to_string(p) + ":4\"";
  for (int i = 0; i < 2; ++i) {  // from the database, then from the cache
    Response res = call(verb::get, "/v1/kv/k", {}, {{"If-None-Match", "\"0:1\", " + etag}});
    EXPECT_EQ(res.result(), status::not_modified);
    EXPECT_TRUE(res.body().empty());
    EXPECT_EQ(header(res, beast_http::field::etag), etag);
  }
  EXPECT_EQ(call(verb::get, "/v1/kv/k", {}, {{"If-None-Match", "\"0:1\""}}).result(), status::ok);
}

TEST_F(ApiTest, ADeletedOrUnknownKeyIs404NotFoundAndCachedAsSuch) {
  reader.put("gone", std::nullopt, {partition_for_key("gone", kPartitions), 9});
  for (const char* key : {"gone", "never"}) {
    for (const char* cache_state : {"miss", "hit"}) {
      Response res = call(verb::get, std::string("/v1/kv/") + key);
      EXPECT_EQ(res.result(), status::not_found) << key;
      EXPECT_EQ(reason(res), "not_found");
      EXPECT_EQ(header(res, "X-KV-Cache"), cache_state) << key;
      EXPECT_EQ(header(res, "X-KV-Position"), "(absent)");
    }
  }
}

TEST_F(ApiTest, ABadKeyIs400WithTheContractsReason) {
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/a%zzb")), "bad_key");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/")), "empty_key");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/a%00b")), "key_contains_nul");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/a%FFb")), "key_not_utf8");
  Response res = call(verb::get, "/v1/kv/" + std::string(1025, 'k'));
  EXPECT_EQ(res.result(), status::bad_request);
  EXPECT_EQ(reason(res), "key_too_long");
}

TEST_F(ApiTest, ADatabaseDownIs503WithRetryAfterAndCachedKeysStillAnswerDegraded) {
  reader.put("hot", std::string("v"), {partition_for_key("hot", kPartitions), 1});
  call(verb::get, "/v1/kv/hot");  // cached now
  reader.set_down(true);
  status.set_database_ok(false, "down");
  Response miss = call(verb::get, "/v1/kv/cold");
  EXPECT_EQ(miss.result(), status::service_unavailable);
  EXPECT_EQ(reason(miss), "database_unavailable");
  EXPECT_EQ(header(miss, beast_http::field::retry_after), "1");
  Response hit = call(verb::get, "/v1/kv/hot");
  EXPECT_EQ(hit.result(), status::ok);
  EXPECT_EQ(header(hit, "X-KV-Cache"), "hit");
  EXPECT_EQ(header(hit, "X-KV-Degraded"), "database-unavailable");
}

TEST_F(ApiTest, RepeatedDatabaseFailuresOpenTheBreakerWhichFailsFast) {
  settings.breaker_failures = 2;
  settings.breaker_open = 60s;
  reader.set_down(true);
  call(verb::get, "/v1/kv/a");
  call(verb::get, "/v1/kv/b");
  const size_t reads = reader.gets();
  reader.set_down(false);
  Response res = call(verb::get, "/v1/kv/c");
  EXPECT_EQ(res.result(), status::service_unavailable);
  EXPECT_EQ(reason(res), "database_unavailable");
  EXPECT_NE(body_of(res)["message"].get<std::string>().find("failing fast"), std::string::npos);
  EXPECT_EQ(reader.gets(), reads);  // not asked
  EXPECT_EQ(call(verb::get, "/v1/kv").result(), status::service_unavailable);
  EXPECT_EQ(api().read_breaker(), CircuitBreaker::State::kOpen);
}

TEST_F(ApiTest, TheBreakerClosesAgainOnceATrialReadAfterItsCoolDownSucceeds) {
  settings.breaker_failures = 3;
  settings.breaker_open = 50ms;
  reader.set_down(true);
  for (const char* key : {"/v1/kv/a", "/v1/kv/b"}) call(verb::get, key);
  EXPECT_EQ(api().read_breaker(), CircuitBreaker::State::kClosed);  // 2 of 3 failures
  call(verb::get, "/v1/kv/c");
  EXPECT_EQ(api().read_breaker(), CircuitBreaker::State::kOpen);
  // Half-open once the configured cool-down has passed.
  const auto until = Clock::now() + 5s;
  while (api().read_breaker() == CircuitBreaker::State::kOpen && Clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(api().read_breaker(), CircuitBreaker::State::kHalfOpen);
  reader.set_down(false);
  EXPECT_EQ(call(verb::get, "/v1/kv/d").result(), status::not_found);  // the trial
  EXPECT_EQ(api().read_breaker(), CircuitBreaker::State::kClosed);
}

TEST_F(ApiTest, AKeyOfAPartitionNotOwnedIsNotCached) {
  const int32_t p = partition_for_key("k", kPartitions);
  reader.put("k", std::string("v"), {p, 1});
  view->drop(p);
  EXPECT_EQ(header(call(verb::get, "/v1/kv/k"), "X-KV-Cache"), "miss");
  EXPECT_EQ(header(call(verb::get, "/v1/kv/k"), "X-KV-Cache"), "miss");
}

// --- read-your-writes ----------------------------------------------------

TEST_F(ApiTest, AReadWaitsForItsMinimumPositionThenAnswers) {
  const int32_t p = partition_for_key("k", kPartitions);
  reader.put("k", std::string("new"), {p, 5});
  auto answer = start(verb::get, "/v1/kv/k?min_position=" + std::to_string(p) + ":5");
  EXPECT_EQ(answer.wait_for(50ms), std::future_status::timeout);
  status.set_applied(p, 6);
  Response res = wait(std::move(answer));
  EXPECT_EQ(res.result(), status::ok);
  EXPECT_EQ(res.body(), "new");
}

TEST_F(ApiTest, AMinimumPositionInAHeaderWorksLikeTheQuery) {
  status.set_applied(1, 3);
  reader.put("k", std::string("v"), {partition_for_key("k", kPartitions), 1});
  EXPECT_EQ(call(verb::get, "/v1/kv/k", {}, {{"X-KV-Min-Position", "1:2"}}).result(), status::ok);
  EXPECT_EQ(call(verb::get, "/v1/kv/k?timeout_ms=20", {}, {{"X-KV-Min-Position", "1:3"}}).result(),
            status::gateway_timeout);
}

TEST_F(ApiTest, MinimumPositionsInTheQueryAndTheHeaderAreBothWaitedFor) {
  status.set_applied(1, 3);
  status.set_applied(2, 3);
  reader.put("k", std::string("v"), {partition_for_key("k", kPartitions), 1});
  EXPECT_EQ(
      call(verb::get, "/v1/kv/k?min_position=1:2", {}, {{"X-KV-Min-Position", "2:2"}}).result(),
      status::ok);
  Response res = call(verb::get, "/v1/kv/k?min_position=1:2&timeout_ms=20", {},
                      {{"X-KV-Min-Position", "2:3"}});
  EXPECT_EQ(res.result(), status::gateway_timeout);
  EXPECT_EQ(body_of(res)["min_position"], json({"2:3", "1:2"}));
}

TEST_F(ApiTest, AMalformedMinimumPositionHeaderIs400AlsoBesideTheQuery) {
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/k?min_position=1:2", {}, {{"X-KV-Min-Position", "r"}})),
            "bad_min_position");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv?min_position=", {}, {{"X-KV-Min-Position", "1-5"}})),
            "bad_min_position");
}

TEST_F(ApiTest, APositionNotAppliedWithinTheWaitIs504NotYetAppliedWithRetryAfter) {
  Response res = call(verb::get, "/v1/kv/k?min_position=1:100,2:0&timeout_ms=20");
  EXPECT_EQ(res.result(), status::gateway_timeout);
  EXPECT_EQ(reason(res), "not_yet_applied");
  EXPECT_EQ(body_of(res)["min_position"], json({"1:100", "2:0"}));
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
}

TEST_F(ApiTest, BadMinimumPositionsAndTimeoutsAre400) {
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/k?min_position=1-5")), "bad_min_position");
  Response res = call(verb::get, "/v1/kv/k?min_position=6:0");
  EXPECT_EQ(reason(res), "bad_min_position");
  EXPECT_NE(body_of(res)["message"].get<std::string>().find("the topic has 6"), std::string::npos);
  EXPECT_EQ(reason(call(verb::get, "/v1/kv/k?timeout_ms=soon")), "bad_timeout");
  EXPECT_EQ(call(verb::get, "/v1/kv/k?timeout_ms=-1").result(), status::bad_request);
}

// --- GET /v1/kv ----------------------------------------------------------

TEST_F(ApiTest, AListingIsAPageOfLiveKeysWithTheNextCursor) {
  reader.put("user:1", std::string("one"), {0, 1}, "text/plain");
  reader.put("user:2", std::nullopt, {0, 2});  // deleted
  reader.put("user:3", std::string("\xff\xfe", 2), {1, 4});
  reader.put("user:4", std::string("four"), {2, 8});
  reader.put("zzz", std::string("other"), {3, 1});

  Response first = call(verb::get, "/v1/kv?prefix=user:&limit=2");
  ASSERT_EQ(first.result(), status::ok);
  EXPECT_EQ(header(first, beast_http::field::content_type), "application/json");
  const json page = body_of(first);
  ASSERT_EQ(page["items"].size(), 2U);
  EXPECT_EQ(page["items"][0], json({{"key", "user:1"},
                                    {"content_type", "text/plain"},
                                    {"position", "0:1"},
                                    {"updated_at", "2026-01-01T00:00:00Z"},
                                    {"value", "one"},
                                    {"value_encoding", "utf-8"}}));
  EXPECT_EQ(page["items"][1]["key"], "user:3");
  EXPECT_EQ(page["items"][1]["value"], "//4=");
  EXPECT_EQ(page["items"][1]["value_encoding"], "base64");
  EXPECT_EQ(page["items"][1]["content_type"], "application/octet-stream");
  EXPECT_EQ(page["next_after"], "user:3");

  // Where the page is consistent, for every partition (the fake's applied
  // positions: none yet).
  EXPECT_EQ(page["positions"], "0:-1,1:-1,2:-1,3:-1,4:-1,5:-1");
  EXPECT_EQ(header(first, "X-KV-Positions"), "0:-1,1:-1,2:-1,3:-1,4:-1,5:-1");
  reader.set_applied(1, 8);
  reader.set_applied(3, 1);

  const json last = body_of(call(verb::get, "/v1/kv?prefix=user:&limit=2&after=user:3"));
  EXPECT_EQ(last["positions"], "0:-1,1:7,2:-1,3:0,4:-1,5:-1");
  ASSERT_EQ(last["items"].size(), 1U);
  EXPECT_EQ(last["items"][0]["key"], "user:4");
  EXPECT_EQ(last["next_after"], nullptr);
}

TEST_F(ApiTest, BadListingParametersAre400) {
  EXPECT_EQ(reason(call(verb::get, "/v1/kv?limit=0")), "bad_limit");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv?limit=many")), "bad_limit");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv?prefix=a%00")), "bad_query");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv?after=%FF")), "bad_query");
  EXPECT_EQ(reason(call(verb::get, "/v1/kv?prefix=" + std::string(1025, 'p'))), "bad_query");
}

TEST_F(ApiTest, AListingWithTheDatabaseDownIs503) {
  reader.set_down(true);
  Response res = call(verb::get, "/v1/kv");
  EXPECT_EQ(res.result(), status::service_unavailable);
  EXPECT_EQ(reason(res), "database_unavailable");
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
}

// --- PUT and DELETE ------------------------------------------------------

TEST_F(ApiTest, APutIsPublishedAndAnswered202WithItsPosition) {
  const std::string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  Response res = call(verb::put, "/v1/kv/user%3A1", "{\"a\":1}",
                      {{"Content-Type", "application/json"}, {"traceparent", traceparent}});
  EXPECT_EQ(res.result(), status::accepted);
  const std::string position = std::to_string(partition_for_key("user:1", kPartitions)) + ":0";
  EXPECT_EQ(body_of(res), json({{"position", position}, {"status", "accepted"}}));
  EXPECT_EQ(header(res, "X-KV-Position"), position);
  const auto sent = publisher.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_TRUE(sent[0].put);
  EXPECT_EQ(sent[0].key, "user:1");
  EXPECT_EQ(sent[0].value, "{\"a\":1}");
  EXPECT_EQ(sent[0].options.content_type, "application/json");
  EXPECT_EQ(sent[0].options.traceparent, traceparent);
  EXPECT_EQ(sent[0].when_full, producer::WhenFull::kRefuse);  // never blocks an I/O thread
}

TEST_F(ApiTest, ADeleteIsPublishedAsADelete) {
  Response res = call(verb::delete_, "/v1/kv/user:1");
  EXPECT_EQ(res.result(), status::accepted);
  const auto sent = publisher.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_FALSE(sent[0].put);
}

TEST_F(ApiTest, WaitAppliedAnswers201ForAPutAnd200ForADeleteOnceApplied) {
  const int32_t p = partition_for_key("k", kPartitions);
  auto put = start(verb::put, "/v1/kv/k?wait=applied", "v");
  EXPECT_EQ(put.wait_for(50ms), std::future_status::timeout);
  status.set_applied(p, 1);
  Response created = wait(std::move(put));
  EXPECT_EQ(created.result(), status::created);
  EXPECT_EQ(body_of(created),
            json({{"position", std::to_string(p) + ":0"}, {"status", "applied"}}));

  auto del = start(verb::delete_, "/v1/kv/k?wait=applied");
  status.set_applied(p, 2);
  Response deleted = wait(std::move(del));
  EXPECT_EQ(deleted.result(), status::ok);
  EXPECT_EQ(header(deleted, "X-KV-Position"), std::to_string(p) + ":1");
}

TEST_F(ApiTest, WaitAppliedThatTimesOutIs504WithThePositionAndRetryAfter) {
  Response res = call(verb::put, "/v1/kv/k?wait=applied&timeout_ms=20", "v");
  EXPECT_EQ(res.result(), status::gateway_timeout);
  EXPECT_EQ(reason(res), "not_yet_applied");
  const std::string position = std::to_string(partition_for_key("k", kPartitions)) + ":0";
  EXPECT_EQ(body_of(res)["position"], position);
  EXPECT_EQ(header(res, "X-KV-Position"), position);
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
}

TEST_F(ApiTest, BadWritesAre4xxAndNothingIsPublished) {
  EXPECT_EQ(reason(call(verb::put, "/v1/kv/k?wait=now", "v")), "bad_wait");
  EXPECT_EQ(reason(call(verb::put, "/v1/kv/", "v")), "empty_key");
  Response too_large =
      call(verb::put, "/v1/kv/k", std::string(settings.limits.max_value_bytes + 1, 'v'));
  EXPECT_EQ(too_large.result(), status::payload_too_large);
  EXPECT_EQ(reason(too_large), "value_too_large");
  EXPECT_EQ(reason(call(verb::put, "/v1/kv/k", "v", {{"Content-Type", "bad\x01type"}})),
            "malformed_content_type");
  EXPECT_TRUE(publisher.sent().empty());
}

TEST_F(ApiTest, AReplicaWithoutAPublisherAnswers503WritesUnavailable) {
  writer = nullptr;
  Response res = call(verb::put, "/v1/kv/k", "v");
  EXPECT_EQ(res.result(), status::service_unavailable);
  EXPECT_EQ(reason(res), "writes_unavailable");
}

TEST_F(ApiTest, AFailedDeliveryIs503PublishFailedWithRetryAfter) {
  publisher.fail_deliveries("Local: Message timed out");
  Response res = call(verb::put, "/v1/kv/k", "v");
  EXPECT_EQ(res.result(), status::service_unavailable);
  EXPECT_EQ(reason(res), "publish_failed");
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
}

TEST_F(ApiTest, AFullQueueIsWaitedForOffTheIoThread) {
  publisher.refuse_when_full(1);
  Response res = call(verb::put, "/v1/kv/k", "v");
  EXPECT_EQ(res.result(), status::accepted);
  const auto sent = publisher.sent();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].when_full, producer::WhenFull::kWait);
}

TEST_F(ApiTest, APublisherThatRefusesIs503PublishFailed) {
  publisher.close();
  Response res = call(verb::delete_, "/v1/kv/k");
  EXPECT_EQ(res.result(), status::service_unavailable);
  EXPECT_EQ(reason(res), "publish_failed");
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
}

TEST_F(ApiTest, TheAnswerWaitsForTheDeliveryReport) {
  publisher.hold(true);
  auto answer = start(verb::put, "/v1/kv/k", "v");
  EXPECT_EQ(answer.wait_for(50ms), std::future_status::timeout);
  EXPECT_EQ(publisher.deliver_held(), 1U);
  EXPECT_EQ(wait(std::move(answer)).result(), status::accepted);
}

TEST_F(ApiTest, AWriteKafkaDoesNotAcknowledgeWithinTheWaitIs504NotYetAcknowledged) {
  publisher.hold(true);  // the broker down: librdkafka keeps trying
  auto answer = start(verb::put, "/v1/kv/k?wait=applied&timeout_ms=100", "v");
  Response res = wait(std::move(answer));
  EXPECT_EQ(res.result(), status::gateway_timeout);
  EXPECT_EQ(reason(res), "not_yet_acknowledged");
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
  EXPECT_EQ(header(res, "X-KV-Position"), "(absent)");  // none is known
  // The acknowledgement that comes later answers nothing more.
  EXPECT_EQ(publisher.deliver_held(), 1U);
}

// A broker down: without wait=applied the request is answered at the
// publish timeout, not after librdkafka's message timeout (minutes).
TEST_F(ApiTest, AWriteWithoutWaitKafkaDoesNotAcknowledgeIs504AtThePublishTimeout) {
  settings.publish_timeout = std::chrono::milliseconds(100);
  publisher.hold(true);
  auto answer = start(verb::put, "/v1/kv/k", "v");
  Response res = wait(std::move(answer));
  EXPECT_EQ(res.result(), status::gateway_timeout);
  EXPECT_EQ(reason(res), "not_yet_acknowledged");
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
  EXPECT_EQ(header(res, "X-KV-Position"), "(absent)");
  EXPECT_EQ(publisher.deliver_held(), 1U);
}

// Acknowledged before the publish timeout: 202 with its position.
TEST_F(ApiTest, AWriteWithoutWaitAcknowledgedInTimeIs202) {
  settings.publish_timeout = std::chrono::milliseconds(60000);
  publisher.hold(true);
  auto answer = start(verb::put, "/v1/kv/k", "v");
  EXPECT_EQ(publisher.deliver_held(), 1U);
  Response res = wait(std::move(answer));
  EXPECT_EQ(res.result(), status::accepted);
  EXPECT_NE(header(res, "X-KV-Position"), "(absent)");
}

// --- guards ---------------------------------------------------------------

TEST_F(ApiTest, BearerTokensProtectReadsAndWritesSeparatelyButNotProbes) {
  settings.read_token = "r-secret";
  settings.write_token = "w-secret";
  Response res = call(verb::get, "/v1/kv/k");
  EXPECT_EQ(res.result(), status::unauthorized);
  EXPECT_EQ(reason(res), "unauthorized");
  EXPECT_EQ(header(res, beast_http::field::www_authenticate), "Bearer realm=\"kvstream\"");
  EXPECT_EQ(call(verb::get, "/v1/status", {}, {{"Authorization", "Bearer w-secret"}}).result(),
            status::unauthorized);
  EXPECT_EQ(call(verb::get, "/v1/status", {}, {{"Authorization", "Bearer r-secret"}}).result(),
            status::ok);
  EXPECT_EQ(call(verb::put, "/v1/kv/k", "v", {{"Authorization", "Bearer r-secret"}}).result(),
            status::unauthorized);
  EXPECT_EQ(call(verb::put, "/v1/kv/k", "v", {{"Authorization", "Bearer w-secret"}}).result(),
            status::accepted);
  for (const char* probe : {"/healthz", "/readyz", "/metrics"}) {
    EXPECT_EQ(call(verb::get, probe).result(), status::ok) << probe;
  }
}

TEST_F(ApiTest, APerClientRateLimitAnswers429WithRetryAfterButNotToProbes) {
  settings.rate.per_client_per_second = 1;
  EXPECT_EQ(call(verb::get, "/v1/status", {}, {}, "10.0.0.1").result(), status::ok);
  Response res = call(verb::get, "/v1/status", {}, {}, "10.0.0.1");
  EXPECT_EQ(res.result(), status::too_many_requests);
  EXPECT_EQ(reason(res), "rate_limited");
  EXPECT_EQ(header(res, beast_http::field::retry_after), "1");
  EXPECT_EQ(call(verb::get, "/v1/status", {}, {}, "10.0.0.2").result(), status::ok);
  EXPECT_EQ(call(verb::get, "/healthz", {}, {}, "10.0.0.1").result(), status::ok);
}

// GET /v1/watch: the parameters are checked here; the opener (the hub) gets
// what they ask for.
TEST_F(ApiTest, WatchParametersAreCheckedAndHandedToTheOpener) {
  EXPECT_EQ(reason(call(verb::get, "/v1/watch")), "watch_unavailable");
  std::vector<WatchRequest> opened;
  watch = [&](WatchRequest request, std::unique_ptr<WatchReply> reply) {
    opened.push_back(request);
    Response header{status::ok, request.version};
    header.set(beast_http::field::content_type, "text/event-stream");
    reply->stream(std::move(header))->send(": hello\n\n");
  };
  // The API was built without an opener: build it again.
  rebuild_api();

  EXPECT_EQ(reason(call(verb::get, "/v1/watch?from=1-2")), "bad_from");
  EXPECT_EQ(reason(call(verb::get, "/v1/watch?from=0:-2")), "bad_from");
  EXPECT_EQ(reason(call(verb::get, "/v1/watch?from=0:1,0:2")), "bad_from");
  EXPECT_EQ(reason(call(verb::get, "/v1/watch?from=6:1")), "bad_from");
  EXPECT_EQ(reason(call(verb::get, "/v1/watch?values=maybe")), "bad_values");
  EXPECT_EQ(reason(call(verb::get, "/v1/watch?prefix=%00")), "bad_query");
  EXPECT_EQ(call(verb::put, "/v1/watch").result(), status::method_not_allowed);
  EXPECT_TRUE(opened.empty());

  Response res = call(verb::get, "/v1/watch?prefix=user:&values=false");
  EXPECT_EQ(res.result(), status::ok);
  EXPECT_EQ(header(res, beast_http::field::content_type), "text/event-stream");
  EXPECT_NE(header(res, "X-Request-ID"), "(absent)");
  ASSERT_EQ(opened.size(), 1U);
  EXPECT_EQ(opened[0].prefix, "user:");
  EXPECT_FALSE(opened[0].values);
  EXPECT_FALSE(opened[0].from.has_value());  // now

  call(verb::get, "/v1/watch?from=0:5,2:-1");
  ASSERT_EQ(opened.size(), 2U);
  EXPECT_TRUE(opened[1].values);
  EXPECT_EQ(opened[1].from, (std::map<int32_t, int64_t>{{0, 5}, {2, -1}}));

  // A reconnecting EventSource's Last-Event-ID wins over the URL's from.
  call(verb::get, "/v1/watch?from=now", {}, {{"Last-Event-ID", "0:9,1:3,2:-1,3:0"}});
  ASSERT_EQ(opened.size(), 3U);
  EXPECT_EQ(opened[2].from, (std::map<int32_t, int64_t>{{0, 9}, {1, 3}, {2, -1}, {3, 0}}));
  call(verb::get, "/v1/watch?from=now");
  ASSERT_EQ(opened.size(), 4U);
  EXPECT_FALSE(opened[3].from.has_value());
}

}  // namespace
}  // namespace kvstream::http
