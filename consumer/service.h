// The consumer replica: joins the consumer group, applies events to Postgres
// through the apply engine, dead-letters records that break the contract,
// and serves the HTTP API.
//
// Threads:
//   poll thread    Kafka poll, decode, batch, apply, commit (owns the
//                  KafkaSource, the ApplyEngine and its PgStore)
//   HTTP threads   the server's I/O threads (ServerSettings::threads)
//   read threads   database reads for HTTP (read_pool_size)
// start() starts them; stop() stops them in order: stop taking records,
// apply what is pending, commit, leave the group, then close the HTTP side.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "apply/applied_view.h"
#include "apply/engine.h"
#include "common/backoff.h"
#include "http/api.h"
#include "http/server.h"
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
  apply::BatchLimits batch;
  schema::Limits limits;
  std::string dlq_topic;  // default: <topic>.dlq
  size_t read_pool_size = 4;
  bool migrate_on_start = true;
  std::chrono::milliseconds shutdown_grace{20000};
};

class ConsumerService : public source::KafkaSource::Listener {
 public:
  explicit ConsumerService(ConsumerSettings settings);
  ~ConsumerService() override;

  // Runs pending migrations (unless disabled), binds the HTTP port, joins
  // the group. Throws kvstream::Error or std::runtime_error if it cannot.
  void start();
  // Orderly shutdown; idempotent.
  void stop();
  // True once the poll thread ended by itself (a fatal error).
  bool failed() const { return failed_.load(); }

  uint16_t http_port() const { return server_ ? server_->port() : 0; }

 private:
  void poll_loop();
  void handle_record(schema::Record record);
  void dead_letter(const schema::Record& record, const schema::ValidationError& why);
  bool try_flush();

  std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& partitions) override;
  void on_revoke(const std::vector<int32_t>& partitions) override;

  const ConsumerSettings settings_;
  apply::AppliedView view_;
  std::unique_ptr<store::PgStore> store_;
  std::unique_ptr<apply::ApplyEngine> engine_;
  std::unique_ptr<producer::Producer> dlq_;
  std::unique_ptr<source::KafkaSource> source_;
  std::unique_ptr<store::PgReadPool> reads_;
  std::unique_ptr<boost::asio::thread_pool> read_threads_;
  std::unique_ptr<http::Api> api_;
  std::unique_ptr<http::HttpServer> server_;

  std::thread poll_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  bool started_ = false;

  // Poll-thread state: retry of a failed flush.
  bool paused_ = false;
  Backoff backoff_{std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::steady_clock::time_point next_ping_{};
};

}  // namespace kvstream
