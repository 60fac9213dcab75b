// The consumer replica: joins the consumer group, applies events to Postgres
// through the apply engine and its workers, dead-letters records that break
// the contract, collects old tombstones, and serves the HTTP API.
//
// Threads:
//   poll thread     Kafka poll, decode, batch, dispatch, collect outcomes,
//                   commit offsets (owns the KafkaSource and the ApplyEngine)
//   apply workers   apply_workers threads, each with its own connection; after
//                   each commit they write the batch's rows into the view
//                   cache (deletes as negative entries)
//   tombstone GC    one thread, small batches every gc_interval
//   HTTP threads    the server's I/O threads
//   read threads    database reads and publishing for HTTP
//   position waiter one thread for every read-your-writes wait
// start() starts them; stop() stops them in order: stop taking records, apply
// what is pending (bounded by shutdown_grace), commit, leave the group, stop
// the workers and the GC, then close the HTTP side.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "apply/applied_view.h"
#include "apply/engine.h"
#include "apply/workers.h"
#include "cache/view_cache.h"
#include "http/api.h"
#include "http/server.h"
#include "metrics.h"
#include "producer/producer.h"
#include "schema/codec.h"
#include "source/kafka_source.h"
#include "store/pg_reader.h"
#include "store/pg_store.h"

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
  std::chrono::seconds tombstone_retention{24 * 3600};
  std::chrono::seconds gc_interval{60};
  size_t gc_batch = 1000;
  // The view cache; 0 entries turns it off.
  size_t cache_max_entries = 1 << 20;
  size_t cache_max_bytes = size_t{256} << 20;
};

class ConsumerService : public source::KafkaSource::Listener {
 public:
  explicit ConsumerService(ConsumerSettings settings);
  ~ConsumerService() override;

  // Runs pending migrations (unless disabled; waits for the database), binds
  // the HTTP port, joins the group. Throws kvstream::Error or
  // std::runtime_error if it cannot.
  void start();
  // Orderly shutdown; idempotent.
  void stop();
  // True once the poll thread ended by itself (a fatal error).
  bool failed() const { return failed_.load(); }

  uint16_t http_port() const { return server_ ? server_->port() : 0; }
  ConsumerMetrics& metrics() { return metrics_; }

 private:
  void poll_loop();
  void handle_record(schema::Record record);
  void dead_letter(const schema::Record& record, const schema::ValidationError& why);
  // Applies the engine's progress: commits, seeks, pauses, metrics.
  void advance(bool force);
  void update_lag();
  void gc_loop();

  std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& partitions) override;
  void on_revoke(const std::vector<int32_t>& partitions) override;

  const ConsumerSettings settings_;
  apply::AppliedView view_;
  ConsumerMetrics metrics_;
  std::unique_ptr<cache::ViewCache> cache_;
  std::unique_ptr<store::PgStore> offsets_store_;  // poll thread: positions on assign
  std::unique_ptr<apply::ApplyWorkers> workers_;
  std::unique_ptr<apply::ApplyEngine> engine_;
  std::unique_ptr<producer::Producer> dlq_;
  std::unique_ptr<source::KafkaSource> source_;
  std::unique_ptr<store::PgReadPool> reads_;
  std::unique_ptr<boost::asio::thread_pool> read_threads_;
  std::unique_ptr<producer::Producer> writes_;  // PUT and DELETE of the HTTP API
  std::unique_ptr<http::PositionWaiter> waiter_;
  std::unique_ptr<http::Api> api_;
  std::unique_ptr<http::HttpServer> server_;

  std::thread poll_thread_;
  std::thread gc_thread_;
  std::mutex gc_mu_;
  std::condition_variable gc_wake_;  // with gc_mu_: stop() wakes the GC thread
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  bool started_ = false;

  // Poll-thread state.
  std::set<int32_t> paused_;
  std::chrono::steady_clock::time_point next_ping_{};
  std::chrono::steady_clock::time_point next_lag_{};
};

}  // namespace kvstream
