// The metrics as /metrics shows them. The HTTP metrics, counted from many
// threads at once (also run under ThreadSanitizer): every request is counted
// under its route and status code, and every duration lands in its route's
// histogram. The health metrics: each follows the fact it reports.
#include "metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace kvstream {
namespace {

// The value of one sample line of the Prometheus text, or -1 if absent.
double sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? end : end - at);
    if (line.compare(0, prefix.size(), prefix) == 0) return std::stod(line.substr(prefix.size()));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return -1;
}

TEST(ConsumerMetrics, CountsHttpRequestsByRouteAndCodeFromManyThreads) {
  ConsumerMetrics metrics;
  constexpr int kThreads = 4, kRequests = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kRequests; ++i) {
        // Every thread creates series the others use too.
        metrics.http_request("/v1/kv/{key}", i % 2 == 0 ? 200 : 404, 0.0002);
        if (i % 5 == 0) metrics.http_request("/healthz", 200, 0.002);
        if (i % 1000 == t) metrics.http_request("(none)", 404, 0.02);
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, R"(kvstream_http_requests_total{code="200",route="/v1/kv/{key}"})"),
            kThreads * kRequests / 2);
  EXPECT_EQ(sample(text, R"(kvstream_http_requests_total{code="404",route="/v1/kv/{key}"})"),
            kThreads * kRequests / 2);
  EXPECT_EQ(sample(text, R"(kvstream_http_requests_total{code="200",route="/healthz"})"),
            kThreads * kRequests / 5);
  EXPECT_EQ(sample(text, "kvstream_http_requests_total{code=\"404\",route=\"(none)\"}"),
            kThreads * (kRequests / 1000));
  EXPECT_EQ(sample(text, R"(kvstream_http_request_duration_seconds_count{route="/v1/kv/{key}"})"),
            kThreads * kRequests);
  EXPECT_EQ(
      sample(text,
             R"(kvstream_http_request_duration_seconds_bucket{route="/v1/kv/{key}",le="0.00025"})"),
      kThreads * kRequests);
  EXPECT_EQ(
      sample(text, R"(kvstream_http_request_duration_seconds_bucket{route="/healthz",le="0.001"})"),
      0);
  EXPECT_EQ(sample(text, R"(kvstream_http_requests_total{code="500",route="/healthz"})"), -1)
      << "no series for a code never answered";
}

TEST(ConsumerMetrics, CountsFencedBatches) {
  ConsumerMetrics metrics;
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_fenced_batches_total"), 0);
  apply::Progress progress;
  progress.fenced = {{0, 10}, {3, 7}};
  metrics.record(progress);
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_fenced_batches_total"), 2);
  apply::Progress applied;
  applied.applied = {{1, 5}};
  metrics.record(applied);
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_fenced_batches_total"), 2);
}

TEST(ConsumerMetrics, CountsOffsetResetsAndTombstonesCollected) {
  ConsumerMetrics metrics;
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_offset_resets_total"), 0);
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_tombstones_collected_total"), 0);
  metrics.offset_reset();
  metrics.tombstones_collected(9);
  metrics.tombstones_collected(10);
  const std::string text = metrics.serialize();
  EXPECT_EQ(sample(text, "kvstream_offset_resets_total"), 1);
  EXPECT_EQ(sample(text, "kvstream_tombstones_collected_total"), 19);
}

TEST(ConsumerMetrics, CountsTheCommitsKafkaRefusedByPartition) {
  ConsumerMetrics metrics;
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_kafka_commits_refused_total"), 0);
  metrics.commit_refused(3);
  metrics.commit_refused(1);
  EXPECT_EQ(sample(metrics.serialize(), "kvstream_kafka_commits_refused_total"), 4);
}

TEST(ConsumerMetrics, ReadinessDatabaseAndMembershipFollowTheReplicaStatus) {
  ConsumerMetrics metrics;
  view::ReplicaStatus status;
  status.set_catch_up_bounds(100, 10);
  auto health = [&] {
    metrics.set_status(status);
    const std::string text = metrics.serialize();
    return std::vector<double>{sample(text, "kvstream_ready"), sample(text, "kvstream_database_up"),
                               sample(text, "kvstream_group_joined")};
  };
  EXPECT_EQ(health(), (std::vector<double>{0, 1, 0})) << "not a member yet";
  status.set_joined(true);
  EXPECT_EQ(health(), (std::vector<double>{1, 1, 1}));
  status.set_database_ok(false, "connection refused");
  EXPECT_EQ(health(), (std::vector<double>{0, 0, 1}));
  status.set_database_ok(true);
  EXPECT_EQ(health(), (std::vector<double>{1, 1, 1}));
  status.set_joined(false);
  EXPECT_EQ(health(), (std::vector<double>{0, 1, 0}));
}

TEST(ConsumerMetrics, ReadBreakerIsZeroClosedOneOpenTwoHalfOpen) {
  ConsumerMetrics metrics;
  http::CircuitBreaker breaker(1, std::chrono::seconds(1));
  const auto t0 = http::Clock::now();
  auto state = [&](http::Clock::time_point now) {
    metrics.set_read_breaker(breaker.state(now));
    return sample(metrics.serialize(), "kvstream_read_breaker_state");
  };
  EXPECT_EQ(state(t0), 0);
  breaker.failure(t0);
  EXPECT_EQ(state(t0), 1);
  EXPECT_EQ(state(t0 + std::chrono::seconds(1)), 2);
  breaker.success();
  EXPECT_EQ(state(t0 + std::chrono::seconds(1)), 0);
}

}  // namespace
}  // namespace kvstream
