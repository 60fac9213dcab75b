// The HTTP metrics as /metrics shows them, counted from many threads at
// once (also run under ThreadSanitizer): every request is counted under its
// route and status code, and every duration lands in its route's histogram.
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

}  // namespace
}  // namespace kvstream
