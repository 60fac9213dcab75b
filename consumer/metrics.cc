#include "metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <stdexcept>

namespace kvstream {

namespace {

prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

prometheus::Histogram::BucketBoundaries batch_buckets() {
  return {1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000};
}

}  // namespace

ConsumerMetrics::ConsumerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      applied_(prometheus::BuildCounter()
                   .Name("kvstream_events_applied_total")
                   .Help("Rows written to Postgres, by operation (after coalescing)")
                   .Register(*registry_)),
      applied_put_(applied_.Add({{"op", "put"}})),
      applied_delete_(applied_.Add({{"op", "delete"}})),
      consumed_(prometheus::BuildCounter()
                    .Name("kvstream_events_consumed_total")
                    .Help("Valid events taken into committed batches, before coalescing")
                    .Register(*registry_)
                    .Add({})),
      batches_(prometheus::BuildCounter()
                   .Name("kvstream_batches_total")
                   .Help("Partition batches committed to Postgres")
                   .Register(*registry_)
                   .Add({})),
      batch_size_(prometheus::BuildHistogram()
                      .Name("kvstream_batch_size_events")
                      .Help("Events per committed batch, before coalescing")
                      .Register(*registry_)
                      .Add({}, batch_buckets())),
      apply_latency_(prometheus::BuildHistogram()
                         .Name("kvstream_apply_latency_seconds")
                         .Help("From an event's record timestamp to its database commit")
                         .Register(*registry_)
                         .Add({}, latency_buckets())),
      dlq_(prometheus::BuildCounter()
               .Name("kvstream_dlq_records_total")
               .Help("Records sent to the dead-letter topic, by reason code")
               .Register(*registry_)),
      dlq_failures_(prometheus::BuildCounter()
                        .Name("kvstream_dlq_failures_total")
                        .Help("Failed sends or deliveries to the dead-letter topic (each retried)")
                        .Register(*registry_)
                        .Add({})),
      dlq_stalled_(prometheus::BuildGauge()
                       .Name("kvstream_dlq_stalled")
                       .Help("1 while a refused record waits for the dead-letter topic to take "
                             "it; the replica applies nothing meanwhile")
                       .Register(*registry_)
                       .Add({})),
      retries_(prometheus::BuildCounter()
                   .Name("kvstream_apply_retries_total")
                   .Help("Batches retried after a transient failure")
                   .Register(*registry_)
                   .Add({})),
      fenced_(prometheus::BuildCounter()
                  .Name("kvstream_fenced_batches_total")
                  .Help("Batches rolled back because another writer had moved their partition's "
                        "applied position (fencing)")
                  .Register(*registry_)
                  .Add({})),
      offset_resets_(prometheus::BuildCounter()
                         .Name("kvstream_offset_resets_total")
                         .Help("Partitions whose applied position lay before the start of the "
                               "log: fetching starts over at the log start")
                         .Register(*registry_)
                         .Add({})),
      commits_refused_(prometheus::BuildCounter()
                           .Name("kvstream_kafka_commits_refused_total")
                           .Help("Partition positions whose commit Kafka refused (a rebalance in "
                                 "progress, the member dropped, the broker away); those still "
                                 "owned are sent again, and the applied positions are in Postgres")
                           .Register(*registry_)
                           .Add({})),
      tombstones_(prometheus::BuildCounter()
                      .Name("kvstream_tombstones_collected_total")
                      .Help("Tombstones older than the retention removed from Postgres")
                      .Register(*registry_)
                      .Add({})),
      ready_(prometheus::BuildGauge()
                 .Name("kvstream_ready")
                 .Help("1 when /readyz answers 200 (database reachable, group joined, caught up)")
                 .Register(*registry_)
                 .Add({})),
      database_up_(prometheus::BuildGauge()
                       .Name("kvstream_database_up")
                       .Help("1 while the replica's last database call succeeded")
                       .Register(*registry_)
                       .Add({})),
      group_joined_(prometheus::BuildGauge()
                        .Name("kvstream_group_joined")
                        .Help("1 once the replica has joined the consumer group")
                        .Register(*registry_)
                        .Add({})),
      read_breaker_(prometheus::BuildGauge()
                        .Name("kvstream_read_breaker_state")
                        .Help("Circuit breaker on database reads: 0 closed, 1 open (failing "
                              "fast), 2 half-open (a trial read may pass)")
                        .Register(*registry_)
                        .Add({})),
      database_errors_(prometheus::BuildCounter()
                           .Name("kvstream_database_errors_total")
                           .Help("Failed database calls (apply, offsets, pings)")
                           .Register(*registry_)
                           .Add({})),
      paused_(prometheus::BuildGauge()
                  .Name("kvstream_paused_partitions")
                  .Help("Partitions not fetching (database failing, or backlog)")
                  .Register(*registry_)
                  .Add({})),
      assigned_(prometheus::BuildGauge()
                    .Name("kvstream_assigned_partitions")
                    .Help("Partitions this replica owns")
                    .Register(*registry_)
                    .Add({})),
      cache_(prometheus::BuildGauge()
                 .Name("kvstream_cache")
                 .Help("View cache figures: hits, misses and evictions since start; entries "
                       "and bytes now")
                 .Register(*registry_)),
      cache_hits_(cache_.Add({{"figure", "hits"}})),
      cache_misses_(cache_.Add({{"figure", "misses"}})),
      cache_evictions_(cache_.Add({{"figure", "evictions"}})),
      cache_entries_(cache_.Add({{"figure", "entries"}})),
      cache_bytes_(cache_.Add({{"figure", "bytes"}})),
      lag_records_(prometheus::BuildGauge()
                       .Name("kvstream_consumer_lag_records")
                       .Help("Records in the partition not yet applied (end offset - applied)")
                       .Register(*registry_)),
      lag_seconds_(prometheus::BuildGauge()
                       .Name("kvstream_consumer_lag_seconds")
                       .Help("Age of the oldest record of the partition not yet applied")
                       .Register(*registry_)),
      http_requests_(prometheus::BuildCounter()
                         .Name("kvstream_http_requests_total")
                         .Help("HTTP requests answered, by route template and status code")
                         .Register(*registry_)),
      http_latency_(prometheus::BuildHistogram()
                        .Name("kvstream_http_request_duration_seconds")
                        .Help("From a request read to its answer handed to the connection, by "
                              "route template (read-your-writes waits included)")
                        .Register(*registry_)),
      watchers_(prometheus::BuildGauge()
                    .Name("kvstream_watchers")
                    .Help("Watches (GET /v1/watch) this replica serves")
                    .Register(*registry_)
                    .Add({})),
      watch_sent_(prometheus::BuildCounter()
                      .Name("kvstream_watch_events_sent_total")
                      .Help("Events handed to watches' connections (one per watch it went to)")
                      .Register(*registry_)
                      .Add({})),
      watch_lag_(prometheus::BuildHistogram()
                     .Name("kvstream_watch_delivery_lag_seconds")
                     .Help("Per hand-off of events to a watch's connection: from the oldest "
                           "one's record timestamp")
                     .Register(*registry_)
                     .Add({}, latency_buckets())),
      watch_dropped_(prometheus::BuildCounter()
                         .Name("kvstream_watch_dropped_total")
                         .Help("Watches closed by the replica, by reason: too_slow (the client "
                               "did not read), gone (its changes left the topic)")
                         .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("kvstream_build_info")
      .Help("Build information")
      .Register(*registry_)
      .Add({{"version", KVSTREAM_VERSION}, {"component", "consumer"}})
      .Set(1);
}

void ConsumerMetrics::record(const apply::Progress& progress) {
  for (const auto& b : progress.batches) {
    applied_put_.Increment(static_cast<double>(b.puts));
    applied_delete_.Increment(static_cast<double>(b.deletes));
    consumed_.Increment(static_cast<double>(b.events_in));
    batches_.Increment();
    batch_size_.Observe(static_cast<double>(b.events_in));
    for (double s : b.latencies) apply_latency_.Observe(s);
  }
  if (!progress.fenced.empty()) fenced_.Increment(static_cast<double>(progress.fenced.size()));
  if (progress.retries > 0) {
    retries_.Increment(static_cast<double>(progress.retries));
    database_errors_.Increment(static_cast<double>(progress.retries));
  }
}

void ConsumerMetrics::dead_lettered(const std::string& reason) {
  dlq_.Add({{"reason", reason}}).Increment();
}

void ConsumerMetrics::set_watchers(size_t watchers) {
  watchers_.Set(static_cast<double>(watchers));
}

void ConsumerMetrics::sent(size_t events, double lag_seconds) {
  watch_sent_.Increment(static_cast<double>(events));
  watch_lag_.Observe(lag_seconds);
}

void ConsumerMetrics::dropped(const char* reason) {
  watch_dropped_.Add({{"reason", reason}}).Increment();
}

void ConsumerMetrics::dead_letter_failed() { dlq_failures_.Increment(); }

void ConsumerMetrics::set_dead_letter_stalled(bool stalled) { dlq_stalled_.Set(stalled ? 1 : 0); }

void ConsumerMetrics::database_error() { database_errors_.Increment(); }

void ConsumerMetrics::set_partition_lag(int32_t partition, int64_t records, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lag_.find(partition);
  if (it == lag_.end()) {
    const std::string p = std::to_string(partition);
    it = lag_.emplace(partition, std::make_pair(&lag_records_.Add({{"partition", p}}),
                                                &lag_seconds_.Add({{"partition", p}})))
             .first;
  }
  it->second.first->Set(static_cast<double>(records));
  it->second.second->Set(seconds);
}

void ConsumerMetrics::drop_partition(int32_t partition) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lag_.find(partition);
  if (it == lag_.end()) return;
  lag_records_.Remove(it->second.first);
  lag_seconds_.Remove(it->second.second);
  lag_.erase(it);
}

ConsumerMetrics::HttpRoute& ConsumerMetrics::http_route(std::string_view route) {
  size_t n = http_route_count_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    HttpRoute* r = http_routes_[i].load(std::memory_order_relaxed);
    if (r->route == route) return *r;
  }
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  std::lock_guard<std::mutex> lock(http_mu_);
  n = http_route_count_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    HttpRoute* r = http_routes_[i].load(std::memory_order_relaxed);
    if (r->route == route) return *r;
  }
  if (n == kMaxHttpRoutes) throw std::logic_error("more HTTP route templates than metrics hold");
  auto created = std::make_unique<HttpRoute>();
  created->route = std::string(route);
  created->latency = &http_latency_.Add({{"route", created->route}}, kBuckets);
  HttpRoute* r = created.get();
  http_owned_.push_back(std::move(created));
  http_routes_[n].store(r, std::memory_order_relaxed);
  http_route_count_.store(n + 1, std::memory_order_release);
  return *r;
}

prometheus::Counter& ConsumerMetrics::http_counter(HttpRoute& route, unsigned status) {
  auto& slot = route.requests[std::min<size_t>(status, route.requests.size() - 1)];
  if (prometheus::Counter* c = slot.load(std::memory_order_acquire)) return *c;
  std::lock_guard<std::mutex> lock(http_mu_);
  if (prometheus::Counter* c = slot.load(std::memory_order_relaxed)) return *c;
  prometheus::Counter* c =
      &http_requests_.Add({{"route", route.route}, {"code", std::to_string(status)}});
  slot.store(c, std::memory_order_release);
  return *c;
}

void ConsumerMetrics::http_request(std::string_view route, unsigned status, double seconds) {
  // Family::Add builds label maps and hashes them: done once per route and
  // code; afterwards the series are found without a lock or an allocation.
  HttpRoute& r = http_route(route);
  http_counter(r, status).Increment();
  r.latency->Observe(seconds);
}

void ConsumerMetrics::set_paused(size_t paused) { paused_.Set(static_cast<double>(paused)); }
void ConsumerMetrics::set_assigned(size_t assigned) {
  assigned_.Set(static_cast<double>(assigned));
}

void ConsumerMetrics::set_cache(const cache::CacheStats& stats) {
  cache_hits_.Set(static_cast<double>(stats.hits));
  cache_misses_.Set(static_cast<double>(stats.misses));
  cache_evictions_.Set(static_cast<double>(stats.evictions));
  cache_entries_.Set(static_cast<double>(stats.entries));
  cache_bytes_.Set(static_cast<double>(stats.bytes));
}

void ConsumerMetrics::tombstones_collected(size_t rows) {
  tombstones_.Increment(static_cast<double>(rows));
}

void ConsumerMetrics::offset_reset() { offset_resets_.Increment(); }

void ConsumerMetrics::commit_refused(size_t partitions) {
  commits_refused_.Increment(static_cast<double>(partitions));
}

void ConsumerMetrics::set_status(const view::ReplicaStatus& status) {
  ready_.Set(status.not_ready_reason() ? 0 : 1);
  database_up_.Set(status.database_ok() ? 1 : 0);
  group_joined_.Set(status.joined() ? 1 : 0);
}

void ConsumerMetrics::set_read_breaker(http::CircuitBreaker::State state) {
  using State = http::CircuitBreaker::State;
  switch (state) {
    case State::kClosed:
      read_breaker_.Set(0);
      return;
    case State::kOpen:
      read_breaker_.Set(1);
      return;
    case State::kHalfOpen:
      read_breaker_.Set(2);
      return;
  }
}

std::string ConsumerMetrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace kvstream
