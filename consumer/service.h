// The consumer replica: joins the consumer group, applies events to Postgres
// through the apply engine and its workers, dead-letters records that break
// the contract, collects old tombstones, and serves the HTTP API.
//
// Threads:
//   poll thread     Kafka poll, decode, batch, dispatch, collect outcomes,
//                   commit offsets (owns the KafkaSource and the ApplyEngine)
//   apply workers   apply_workers threads, each with its own connection; after
//                   each commit they refresh the batch's rows the view cache
//                   holds (deletes as negative entries)
//   tombstone GC    one thread (store::TombstoneCollector): every gc_interval,
//                   a sweep of the keys in pages
//   HTTP threads    the server's I/O threads; they also read the database
//                   for cache misses (asynchronous libpq connections)
//   read threads    listings, opening read connections, read-your-writes
//                   polls, publishing while the producer's queue is full
//   position waiter one thread for every read-your-writes wait
// start() starts them; stop() stops them in order: stop taking records, apply
// what is pending (bounded by shutdown_grace), commit, leave the group, stop
// the workers and the GC, then close the HTTP side.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "apply/engine.h"
#include "apply/workers.h"
#include "deadletter/dead_letter_sink.h"
#include "http/api.h"
#include "http/server.h"
#include "metrics.h"
#include "producer/producer.h"
#include "schema/codec.h"
#include "schema/migrations.h"
#include "source/kafka_record.h"
#include "source/kafka_source.h"
#include "store/pg_async_reader.h"
#include "store/pg_listener.h"
#include "store/pg_migrate.h"
#include "store/pg_reader.h"
#include "store/pg_store.h"
#include "store/pg_view_reader.h"
#include "store/tombstone_collector.h"
#include "view/cached_view.h"
#include "view/replica_status.h"
#include "watch/hub.h"
#include "watch/kafka_changes.h"

namespace kvstream {

struct ConsumerSettings {
  source::SourceSettings source;
  store::PgSettings pg;
  http::ServerSettings http;
  http::ApiSettings api;  // topic, version and limits are filled in by start()
  apply::BatchLimits batch;
  schema::Limits limits;
  std::string dlq_topic;  // default: <topic>.dlq
  size_t apply_workers = 4;
  size_t read_pool_size = 4;
  std::chrono::milliseconds read_acquire_timeout{2000};
  bool migrate_on_start = true;
  std::chrono::milliseconds shutdown_grace{20000};
  // Readiness waits until each partition assigned has once been at most
  // this far behind (view::ReplicaStatus).
  int64_t ready_max_lag_events = 10000;
  std::chrono::seconds ready_max_lag{10};
  std::chrono::seconds tombstone_retention{24 * 3600};
  std::chrono::seconds gc_interval{60};
  size_t gc_page = 10000;  // keys per step of the tombstone sweep
  // Read-your-writes: how often kv_offsets is read while a read waits for
  // a position of a partition another replica owns.
  std::chrono::milliseconds position_poll{http::PositionWaiter::kDefaultDbInterval};
  // The view cache; 0 entries turns it off.
  size_t cache_max_entries = 1 << 20;
  size_t cache_max_bytes = size_t{256} << 20;
  // Whether the apply path caches every key it commits (write-through), not
  // only the keys the cache holds because they were read.
  bool cache_insert_on_apply = false;
  // GET /v1/watch; max_watchers 0 turns it off.
  watch::HubSettings watch;
};

// The most a stop may take before the replica ends itself (exit code
// kExitStopOverran, stop_watchdog.h): the shutdown grace to apply what is
// pending, the session timeout to leave the group, and 5 s for the rest.
std::chrono::milliseconds stop_limit(const ConsumerSettings& settings);

class ConsumerService : public source::KafkaSource::Listener {
 public:
  explicit ConsumerService(ConsumerSettings settings);
  ~ConsumerService() override;

  // Runs pending migrations (unless disabled; waits for the database) and
  // the deployment checks (check/at_start.h: warnings logged, a refusal
  // thrown as a fatal kvstream::Error), binds the HTTP port, joins the
  // group. Throws kvstream::Error or std::runtime_error if it cannot.
  void start();
  // Orderly shutdown; idempotent.
  void stop();
  // True once the poll thread ended by itself (a fatal error).
  bool failed() const { return failed_.load(); }

  uint16_t http_port() const { return server_ ? server_->port() : 0; }
  ConsumerMetrics& metrics() { return metrics_; }

 private:
  void poll_loop();
  void watch_view_switches();
  void handle_message(const rd_kafka_message_t& msg);
  // How long the next poll may block.
  std::chrono::milliseconds poll_wait(std::chrono::steady_clock::time_point now) const;
  // Holds the record's partition back and hands its dead letter to the sink.
  void dead_letter(const schema::Record& record, const schema::ValidationError& why);
  // Lets the partitions whose dead letters were acknowledged move on.
  void settle_dead_letters();
  // Applies the engine's progress: commits, seeks, pauses, metrics.
  void advance(bool force);
  void update_lag();
  // Sends the applied positions not yet committed to Kafka.
  void flush_commits(std::chrono::steady_clock::time_point now);

  std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& partitions) override;
  void on_revoke(const std::vector<int32_t>& partitions) override;
  void on_position_reset(int32_t partition, int64_t next, int64_t log_start) override;
  void on_commit_refused(size_t partitions) override;

  const ConsumerSettings settings_;
  view::ReplicaStatus view_;  // the replica's status
  ConsumerMetrics metrics_;
  std::unique_ptr<store::PgStore> offsets_store_;  // poll thread: positions on assign
  std::unique_ptr<apply::ApplyWorkers> workers_;
  std::unique_ptr<apply::ApplyEngine> engine_;
  std::unique_ptr<producer::Producer> dlq_;
  std::unique_ptr<deadletter::DeadLetterSink> dead_letters_;
  std::unique_ptr<source::KafkaSource> source_;
  std::unique_ptr<store::PgReadPool> reads_;
  std::unique_ptr<boost::asio::thread_pool> read_threads_;
  std::unique_ptr<producer::Producer> writes_;  // PUT and DELETE of the HTTP API
  std::unique_ptr<http::PositionWaiter> waiter_;
  std::unique_ptr<http::Api> api_;
  std::unique_ptr<http::HttpServer> server_;
  // On the server's I/O threads: destroyed before the server, after the
  // I/O and read threads are joined.
  std::unique_ptr<store::PgAsyncReader> key_reads_;
  // The view on key_reads_ and reads_ with the cache in front: destroyed
  // before them. The apply workers' commit hook and the rebalance callbacks
  // keep its cache coherent.
  std::unique_ptr<store::PgViewReader> view_reader_;
  std::unique_ptr<view::CachedView> cached_view_;
  std::unique_ptr<store::TombstoneCollector> tombstones_;
  // GET /v1/watch: its own Kafka client, then the hub on it (stopped before
  // the waiter and the view it reads).
  std::unique_ptr<watch::KafkaChanges> changes_;
  std::unique_ptr<watch::WatchHub> watches_;

  std::thread poll_thread_;
  std::atomic<bool> stopping_{false};
  // What a stop waits for now (a static string), for the warning a long
  // stop logs.
  std::atomic<const char*> stop_step_{"nothing"};
  std::atomic<bool> failed_{false};
  bool started_ = false;

  // Poll-thread state.
  std::set<int32_t> paused_;             // by the engine (a failed batch, backlog)
  std::map<int32_t, int64_t> dlq_held_;  // partition -> offset whose dead letter is on its way
  std::vector<schema::HeaderView> header_views_;  // storage for a record's header views
  // Whether each record is logged (debug), read once per drain of the
  // source rather than once per record.
  bool log_records_ = false;
  std::chrono::steady_clock::time_point next_ping_{};
  std::chrono::steady_clock::time_point next_commit_{};
  std::map<int32_t, int64_t> unsent_commits_;  // applied positions not yet sent to Kafka
  std::chrono::steady_clock::time_point next_lag_{};
  // `kvstream-consumer rebuild --switch` replaces the tables under the
  // replica and notifies kvstream_view: the cached rows are forgotten (also
  // when listening starts again after an outage, which may have hidden a
  // notification). Polled by the poll thread; null without a cache.
  std::unique_ptr<store::PgListener> view_switches_;
  std::chrono::steady_clock::time_point next_listen_{};
  bool listening_ = false;              // the last poll of view_switches_ succeeded
  bool listening_was_started_ = false;  // one ever did
  // Per partition: an end offset seen below the applied position that the
  // broker contradicted (a stale figure from an earlier ownership), so it
  // is not asked about again.
  std::map<int32_t, int64_t> stale_end_;
};

}  // namespace kvstream
