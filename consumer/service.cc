#include "service.h"

#include <spdlog/spdlog.h>

#include <future>

#include "common/logging.h"
#include "schema/dlq.h"
#include "schema/migrations.h"

namespace kvstream {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollTimeout = std::chrono::milliseconds(10);
constexpr auto kPingInterval = std::chrono::seconds(5);
constexpr auto kLagInterval = std::chrono::seconds(1);

}  // namespace

ConsumerService::ConsumerService(ConsumerSettings settings) : settings_(std::move(settings)) {}

ConsumerService::~ConsumerService() { stop(); }

void ConsumerService::start() {
  if (settings_.migrate_on_start) {
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
    for (;;) {
      try {
        auto conn = store::connect(settings_.pg, "kvstream-migrate");
        auto result =
            schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
        spdlog::info("database schema at version {} ({} migration(s) applied now)",
                     result.current_version, result.applied.size());
        break;
      } catch (const Error& e) {
        if (!e.retryable() || stopping_.load()) throw;
        auto delay = backoff.next();
        spdlog::warn("{}; retrying in {} ms", e.what(), delay.count());
        std::this_thread::sleep_for(delay);
      }
    }
  }

  if (settings_.cache_max_entries > 0) {
    cache::ViewCacheOptions options;
    options.max_entries = settings_.cache_max_entries;
    options.max_bytes = settings_.cache_max_bytes;
    cache_ = std::make_unique<cache::ViewCache>(options);
  }
  offsets_store_ = std::make_unique<store::PgStore>(settings_.pg);
  apply::ApplyWorkers::CommitHook after_commit;
  if (cache_) {
    after_commit = [this](const store::PartitionBatch& batch) {
      for (const schema::Event& e : batch.events) {
        cache::CachedRow row;
        if (e.op == schema::Op::kPut) {
          row.value = e.value;
          row.content_type = e.content_type;
        }
        row.partition = batch.partition;
        row.offset = e.position.offset;
        cache_->apply(e.key, std::move(row));
      }
    };
  }
  workers_ = std::make_unique<apply::ApplyWorkers>(
      settings_.apply_workers, [&] { return std::make_unique<store::PgStore>(settings_.pg); },
      std::move(after_commit));
  engine_ = std::make_unique<apply::ApplyEngine>(settings_.source.kafka.topic, *offsets_store_,
                                                 *workers_, view_, settings_.batch);
  producer::ProducerSettings dlq_settings;
  dlq_settings.kafka = settings_.source.kafka;
  dlq_settings.kafka.topic = settings_.dlq_topic;
  dlq_settings.client_id = "kvstream-dlq";
  dlq_ = std::make_unique<producer::Producer>(dlq_settings);
  source_ = std::make_unique<source::KafkaSource>(settings_.source, *this);

  reads_ = std::make_unique<store::PgReadPool>(settings_.pg, settings_.read_pool_size,
                                               settings_.read_acquire_timeout);
  read_threads_ = std::make_unique<boost::asio::thread_pool>(settings_.read_pool_size);
  producer::ProducerSettings write_settings;
  write_settings.kafka = settings_.source.kafka;
  write_settings.limits = settings_.limits;
  write_settings.client_id = "kvstream-http";
  write_settings.close_timeout = std::chrono::milliseconds(5000);
  writes_ = std::make_unique<producer::Producer>(write_settings);
  waiter_ = std::make_unique<http::PositionWaiter>(
      view_, [this] { return reads_->next_offsets(settings_.source.kafka.topic); });
  view_.set_listener([this] { waiter_->notify(); });

  http::ApiSettings api = settings_.api;
  api.topic = settings_.source.kafka.topic;
  api.version = KVSTREAM_VERSION;
  api.limits = settings_.limits;
  http::ApiContext context{*reads_,
                           view_,
                           *read_threads_,
                           *waiter_,
                           cache_.get(),
                           writes_.get(),
                           [this] {
                             if (cache_) metrics_.set_cache(cache_->stats());
                             return metrics_.serialize();
                           },
                           [this](const std::string& route, unsigned status, double seconds) {
                             metrics_.http_request(route, status, seconds);
                           }};
  api_ = std::make_unique<http::Api>(std::move(api), std::move(context));
  server_ = std::make_unique<http::HttpServer>(
      settings_.http,
      [this](http::Request&& req, const std::string& peer, http::Responder respond) {
        api_->handle(std::move(req), peer, std::move(respond));
      });
  server_->start();
  spdlog::info("HTTP API on {}:{}", settings_.http.address, server_->port());

  source_->subscribe();
  started_ = true;
  poll_thread_ = std::thread([this] { poll_loop(); });
  gc_thread_ = std::thread([this] { gc_loop(); });
}

void ConsumerService::stop() {
  if (!started_) return;
  started_ = false;
  stopping_.store(true);
  gc_wake_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  if (gc_thread_.joinable()) gc_thread_.join();
  if (workers_) workers_->stop();
  if (server_) server_->stop();
  if (waiter_) waiter_->stop();
  if (read_threads_) read_threads_->join();
  if (writes_) writes_->close();
  spdlog::info("consumer stopped");
}

std::map<int32_t, int64_t> ConsumerService::on_assign(const std::vector<int32_t>& partitions) {
  view_.set_joined(true);
  if (const int32_t count = source_->partition_count(); count > 0) {
    view_.set_partition_count(count);
  }
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::seconds(5));
  for (;;) {
    try {
      auto start = engine_->assign(partitions);
      if (cache_) cache_->own_partitions(partitions);
      // Commit the positions taken over: the previous owner's last commits
      // may have been refused by the rebalance, and without new events this
      // replica would otherwise never commit them (false lag).
      std::map<int32_t, int64_t> known;
      for (const auto& [p, next] : start) {
        if (next >= 0) known[p] = next;
      }
      source_->commit(known);
      view_.set_database_ok(true);
      metrics_.set_assigned(view_.applied().size());
      return start;
    } catch (const Error& e) {
      if (!e.retryable()) throw;
      metrics_.database_error();
      view_.set_database_ok(false, e.what());
      if (stopping_.load()) return {};  // leaving anyway: nothing will be applied
      auto delay = backoff.next();
      spdlog::warn("cannot load applied offsets ({}); retrying in {} ms", e.what(), delay.count());
      std::this_thread::sleep_for(delay);
    }
  }
}

void ConsumerService::on_revoke(const std::vector<int32_t>& partitions) {
  // Finish what is pending while the partitions are still ours (bounded); if
  // the database is down, abandon it: the next owner re-reads from the
  // applied position.
  const auto deadline =
      Clock::now() + std::min<Clock::duration>(settings_.shutdown_grace, std::chrono::seconds(10));
  engine_->dispatch(Clock::now(), /*force=*/true);
  engine_->revoke(partitions, deadline);
  advance(false);
  for (int32_t p : partitions) {
    if (cache_) cache_->drop_partition(p);
    paused_.erase(p);
    metrics_.drop_partition(p);
  }
  metrics_.set_assigned(view_.applied().size());
  metrics_.set_paused(paused_.size());
}

void ConsumerService::dead_letter(const schema::Record& record,
                                  const schema::ValidationError& why) {
  std::string_view trace_id;
  if (const schema::Header* tp = record.last_header(schema::kTraceparentHeader); tp && tp->value) {
    trace_id = schema::trace_id_of(*tp->value);
  }
  LogScope scope(LogFields::record(record.partition, record.offset, std::string(trace_id)));
  spdlog::warn("record refused: {} ({}); to {}", schema::reason_code(why.reason), why.message,
               settings_.dlq_topic);
  schema::Record dlq = schema::make_dlq_record(record, why);
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  // A record too large for the dead-letter topic must not block its
  // partition: it is dead-lettered without its value, saying so.
  auto omit_value = [&](const std::string& reason) {
    if (!dlq.value) return false;
    spdlog::warn("dead-letter record too large ({}); sending it without its value", reason);
    dlq.headers.push_back(
        {std::string(schema::kDlqValueOmittedHeader), std::to_string(dlq.value->size())});
    dlq.value.reset();
    return true;
  };
  auto too_large = [](const std::string& what) {
    return what.find("too large") != std::string::npos ||
           what.find("TOO_LARGE") != std::string::npos;
  };
  // The applied position moves past this record only once the dead-letter
  // topic has acknowledged it.
  while (!stopping_.load()) {
    auto done = std::make_shared<std::promise<producer::Delivery>>();
    auto future = done->get_future();
    try {
      dlq_->send(settings_.dlq_topic, dlq,
                 [done](const producer::Delivery& d) { done->set_value(d); });
      // A stop does not wait for the delivery (up to the delivery timeout).
      while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready &&
             !stopping_.load()) {
      }
      if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) break;
      producer::Delivery d = future.get();
      if (d.ok()) {
        engine_->add_skipped(record.partition, record.offset);
        metrics_.dead_lettered(schema::reason_code(why.reason));
        metrics_.set_dead_letter_stalled(false);
        return;
      }
      if (too_large(*d.error) && omit_value(*d.error)) continue;
      spdlog::warn("dead-letter delivery failed: {}", *d.error);
    } catch (const Error& e) {
      if (too_large(e.what()) && omit_value(e.what())) continue;
      spdlog::warn("dead-letter send failed: {}", e.what());
    }
    metrics_.dead_letter_failed();
    metrics_.set_dead_letter_stalled(true);
    std::this_thread::sleep_for(backoff.next());
  }
  // Stopping before the dead-letter topic took it: the partition's position
  // must not pass the record, so the next owner reads it again.
  engine_->hold_back(record.partition, record.offset);
  metrics_.set_dead_letter_stalled(false);
}

void ConsumerService::handle_record(schema::Record record) {
  auto decoded = schema::decode(record, settings_.limits);
  if (auto* event = std::get_if<schema::Event>(&decoded)) {
    if (spdlog::should_log(spdlog::level::debug)) {
      LogScope scope(LogFields::record(event->position.partition, event->position.offset,
                                       std::string(schema::trace_id_of(event->traceparent))));
      spdlog::debug("received {} of {} ({} bytes)",
                    event->op == schema::Op::kPut ? "PUT" : "DELETE", event->key,
                    event->value.size());
    }
    engine_->add_event(std::move(*event));
  } else {
    dead_letter(record, std::get<schema::ValidationError>(decoded));
  }
}

void ConsumerService::advance(bool force) {
  engine_->dispatch(Clock::now(), force);
  engine_->collect();
  apply::Progress progress = engine_->take_progress();
  if (progress.empty() && progress.batches.empty()) return;
  if (progress.fatal) throw *progress.fatal;
  metrics_.record(progress);
  source_->commit(progress.applied);
  for (const auto& [p, next] : progress.fenced) {
    if (cache_) {
      // What we cached may be older than what the other writer committed.
      cache_->drop_partition(p);
      cache_->own_partitions({p});
    }
    source_->seek(p, next);
  }
  if (!progress.pause.empty()) {
    source_->pause(progress.pause);
    paused_.insert(progress.pause.begin(), progress.pause.end());
  }
  if (!progress.resume.empty()) {
    source_->resume(progress.resume);
    for (int32_t p : progress.resume) paused_.erase(p);
  }
  metrics_.set_paused(paused_.size());
  if (progress.last_error) {
    view_.set_database_ok(false, *progress.last_error);
    spdlog::warn("apply failed, will retry: {}", *progress.last_error);
  } else if (!progress.applied.empty()) {
    view_.set_database_ok(true);
  }
}

void ConsumerService::update_lag() {
  for (const auto& [p, next] : view_.applied()) {
    const int64_t end = source_->end_offset(p);
    if (end < 0) continue;
    view_.set_end_offset(p, end);
    const int64_t applied = next < 0 ? 0 : next;
    const int64_t lag = std::max<int64_t>(0, end - applied);
    double seconds = 0;
    if (lag > 0) {
      if (auto ts = engine_->oldest_unapplied_timestamp(p)) {
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        seconds = std::max<double>(0, static_cast<double>(now_ms - *ts) / 1000.0);
      }
    }
    metrics_.set_partition_lag(p, lag, seconds);
  }
}

void ConsumerService::poll_loop() {
  try {
    while (!stopping_.load()) {
      // Drain what the fetcher already has before looking at batches.
      for (int i = 0; i < 1000; ++i) {
        auto record = source_->poll(i == 0 ? kPollTimeout : std::chrono::milliseconds(0));
        if (!record) break;
        handle_record(std::move(*record));
      }
      advance(false);
      const auto now = Clock::now();
      if (now >= next_lag_) {
        next_lag_ = now + kLagInterval;
        update_lag();
      }
      if (engine_->idle() && now >= next_ping_) {
        next_ping_ = now + kPingInterval;
        try {
          offsets_store_->ping();
          if (paused_.empty()) view_.set_database_ok(true);
        } catch (const Error& e) {
          metrics_.database_error();
          view_.set_database_ok(false, e.what());
        }
      }
    }
    // Shutdown: apply what is pending (bounded), commit, then leave the group.
    const auto deadline = Clock::now() + settings_.shutdown_grace;
    while (!engine_->idle() && Clock::now() < deadline) {
      advance(true);
      engine_->collect(std::chrono::milliseconds(50));
      advance(false);
    }
    if (!engine_->idle()) {
      spdlog::warn("shutting down with unapplied events; the next owner re-reads them");
    }
    source_->close();
  } catch (const std::exception& e) {
    spdlog::critical("consumer stopped: {}", e.what());
    failed_.store(true);
  }
}

void ConsumerService::gc_loop() {
  std::unique_lock<std::mutex> lock(gc_mu_);
  while (!stopping_.load()) {
    gc_wake_.wait_for(lock, settings_.gc_interval, [&] { return stopping_.load(); });
    if (stopping_.load()) break;
    lock.unlock();
    try {
      store::PgStore store(settings_.pg);
      size_t total = 0;
      for (;;) {
        const size_t n =
            store.collect_tombstones(settings_.tombstone_retention, settings_.gc_batch);
        total += n;
        if (n < settings_.gc_batch || stopping_.load()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the apply breathe
      }
      if (total > 0) spdlog::info("removed {} tombstone(s) older than the retention", total);
    } catch (const Error& e) {
      spdlog::warn("tombstone collection: {}", e.what());
    }
    lock.lock();
  }
}

}  // namespace kvstream
