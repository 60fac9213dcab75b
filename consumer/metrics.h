// The consumer's Prometheus metrics (prometheus-cpp core), served on
// GET /metrics. One registry per process; families are created once here, so
// every name and help text is in one place.
//
// Thread-safe: prometheus-cpp metrics are atomic; the per-partition gauges
// (map) are guarded by `mu_`. The HTTP series of a route and status code
// are created once under `http_mu_` and then found without a lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "apply/engine.h"
#include "cache/lru_cache.h"
#include "http/guards.h"
#include "view/replica_status.h"
#include "watch/hub.h"

namespace kvstream {

class ConsumerMetrics : public watch::HubMetrics {
 public:
  ConsumerMetrics();

  // GET /v1/watch (watch::HubMetrics).
  void set_watchers(size_t watchers) override;
  void sent(size_t events, double lag_seconds) override;
  void dropped(const char* reason) override;

  // Counts the outcome of one pass of the apply engine.
  void record(const apply::Progress& progress);
  void dead_lettered(const std::string& reason);
  // A send or delivery to the dead-letter topic failed; the refused record
  // waits (and with it the replica) until one succeeds.
  void dead_letter_failed();
  void set_dead_letter_stalled(bool stalled);
  void database_error();
  void set_partition_lag(int32_t partition, int64_t records, double seconds);
  void drop_partition(int32_t partition);
  void set_paused(size_t paused);
  void set_assigned(size_t assigned);
  void set_cache(const cache::CacheStats& stats);
  // Tombstones the collector removed (rows deleted from kv).
  void tombstones_collected(size_t rows);
  // A partition's applied position lay before the start of its log (the
  // records between were deleted before they were applied): the fetch
  // starts over at the log start.
  void offset_reset();
  // Kafka refused a commit of `partitions` partitions (those still owned
  // are sent again).
  void commit_refused(size_t partitions);
  // The replica's health as /readyz, /v1/status and the rebalances see it:
  // ready, database reachable, a member of the group. Cheap: set when
  // /metrics is read.
  void set_status(const view::ReplicaStatus& status);
  // The state of the circuit breaker on database reads, set when /metrics
  // is read; exported as 0 closed, 1 open, 2 half-open.
  void set_read_breaker(http::CircuitBreaker::State state);
  // One answered HTTP request: its route template, status and duration.
  // At most kMaxHttpRoutes route templates (a broken invariant beyond).
  void http_request(std::string_view route, unsigned status, double seconds);
  static constexpr size_t kMaxHttpRoutes = 64;

  // The Prometheus text exposition of everything registered.
  std::string serialize() const;
  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& applied_;
  prometheus::Counter& applied_put_;
  prometheus::Counter& applied_delete_;
  prometheus::Counter& consumed_;
  prometheus::Counter& batches_;
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& apply_latency_;
  prometheus::Family<prometheus::Counter>& dlq_;
  prometheus::Counter& dlq_failures_;
  prometheus::Gauge& dlq_stalled_;
  prometheus::Counter& retries_;
  prometheus::Counter& fenced_;
  prometheus::Counter& offset_resets_;
  prometheus::Counter& commits_refused_;
  prometheus::Counter& tombstones_;
  prometheus::Gauge& ready_;
  prometheus::Gauge& database_up_;
  prometheus::Gauge& group_joined_;
  prometheus::Gauge& read_breaker_;
  prometheus::Counter& database_errors_;
  prometheus::Gauge& paused_;
  prometheus::Gauge& assigned_;
  prometheus::Family<prometheus::Gauge>& cache_;
  prometheus::Gauge& cache_hits_;
  prometheus::Gauge& cache_misses_;
  prometheus::Gauge& cache_evictions_;
  prometheus::Gauge& cache_entries_;
  prometheus::Gauge& cache_bytes_;
  prometheus::Family<prometheus::Gauge>& lag_records_;
  prometheus::Family<prometheus::Gauge>& lag_seconds_;

  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Family<prometheus::Histogram>& http_latency_;
  prometheus::Gauge& watchers_;
  prometheus::Counter& watch_sent_;
  prometheus::Histogram& watch_lag_;
  prometheus::Family<prometheus::Counter>& watch_dropped_;
  // One route template's series: its latency, and its request counter of
  // each status code (created on first use).
  struct HttpRoute {
    std::string route;
    prometheus::Histogram* latency = nullptr;
    std::array<std::atomic<prometheus::Counter*>, 1000> requests{};
  };
  HttpRoute& http_route(std::string_view route);
  prometheus::Counter& http_counter(HttpRoute& route, unsigned status);
  // Routes [0, http_route_count_) are published (release) and never change.
  std::array<std::atomic<HttpRoute*>, kMaxHttpRoutes> http_routes_{};
  std::atomic<size_t> http_route_count_{0};
  std::mutex http_mu_;                                  // serializes creating series
  std::vector<std::unique_ptr<HttpRoute>> http_owned_;  // guarded by http_mu_

  std::mutex mu_;
  std::map<int32_t, std::pair<prometheus::Gauge*, prometheus::Gauge*>> lag_;  // guarded by mu_
};

}  // namespace kvstream
