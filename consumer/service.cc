#include "service.h"

#include <spdlog/spdlog.h>

#include <future>

#include "schema/dlq.h"
#include "schema/migrations.h"

namespace kvstream {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollTimeout = std::chrono::milliseconds(20);
constexpr auto kPingInterval = std::chrono::seconds(5);

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

  store_ = std::make_unique<store::PgStore>(settings_.pg);
  engine_ = std::make_unique<apply::ApplyEngine>(settings_.source.kafka.topic, *store_, view_,
                                                 settings_.batch);
  producer::ProducerSettings dlq_settings;
  dlq_settings.kafka = settings_.source.kafka;
  dlq_settings.kafka.topic = settings_.dlq_topic;
  dlq_settings.client_id = "kvstream-dlq";
  dlq_ = std::make_unique<producer::Producer>(dlq_settings);
  source_ = std::make_unique<source::KafkaSource>(settings_.source, *this);

  reads_ = std::make_unique<store::PgReadPool>(settings_.pg, settings_.read_pool_size,
                                               std::chrono::milliseconds(2000));
  read_threads_ = std::make_unique<boost::asio::thread_pool>(settings_.read_pool_size);
  api_ = std::make_unique<http::Api>(*reads_, view_, *read_threads_, settings_.limits);
  server_ = std::make_unique<http::HttpServer>(
      settings_.http, [this](http::Request&& req, http::Responder respond) {
        api_->handle(std::move(req), std::move(respond));
      });
  server_->start();
  spdlog::info("HTTP API on {}:{}", settings_.http.address, server_->port());

  source_->subscribe();
  started_ = true;
  poll_thread_ = std::thread([this] { poll_loop(); });
}

void ConsumerService::stop() {
  if (!started_) return;
  started_ = false;
  stopping_.store(true);
  if (poll_thread_.joinable()) poll_thread_.join();
  if (server_) server_->stop();
  if (read_threads_) read_threads_->join();
  spdlog::info("consumer stopped");
}

std::map<int32_t, int64_t> ConsumerService::on_assign(const std::vector<int32_t>& partitions) {
  view_.set_joined(true);
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::seconds(5));
  for (;;) {
    try {
      auto start = engine_->assign(partitions);
      view_.set_database_ok(true);
      return start;
    } catch (const Error& e) {
      if (!e.retryable()) throw;
      view_.set_database_ok(false, e.what());
      if (stopping_.load()) {
        // Leaving anyway: no position is needed, nothing will be applied.
        return {};
      }
      auto delay = backoff.next();
      spdlog::warn("cannot load applied offsets ({}); retrying in {} ms", e.what(), delay.count());
      std::this_thread::sleep_for(delay);
    }
  }
}

void ConsumerService::on_revoke(const std::vector<int32_t>& partitions) {
  // Finish what is pending while the partitions are still ours; if the
  // database is down, abandon it: the next owner re-reads from the applied
  // position.
  if (engine_->has_pending()) try_flush();
  engine_->revoke(partitions);
}

void ConsumerService::dead_letter(const schema::Record& record,
                                  const schema::ValidationError& why) {
  spdlog::warn("partition {} offset {}: {} ({}); to {}", record.partition, record.offset,
               schema::reason_code(why.reason), why.message, settings_.dlq_topic);
  const schema::Record dlq = schema::make_dlq_record(record, why);
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  // The offset moves past this record only once the dead-letter topic has
  // acknowledged it.
  while (!stopping_.load()) {
    auto done = std::make_shared<std::promise<producer::Delivery>>();
    auto future = done->get_future();
    try {
      dlq_->send(settings_.dlq_topic, dlq,
                 [done](const producer::Delivery& d) { done->set_value(d); });
      producer::Delivery d = future.get();
      if (d.ok()) {
        engine_->add_skipped(record.partition, record.offset);
        return;
      }
      spdlog::warn("dead-letter delivery failed: {}", *d.error);
    } catch (const Error& e) {
      spdlog::warn("dead-letter send failed: {}", e.what());
    }
    std::this_thread::sleep_for(backoff.next());
  }
}

void ConsumerService::handle_record(schema::Record record) {
  auto decoded = schema::decode(record, settings_.limits);
  if (auto* event = std::get_if<schema::Event>(&decoded)) {
    engine_->add_event(std::move(*event));
  } else {
    dead_letter(record, std::get<schema::ValidationError>(decoded));
  }
}

bool ConsumerService::try_flush() {
  try {
    apply::FlushResult result = engine_->flush();
    source_->commit(result.applied);
    for (const auto& [p, next] : result.fenced) source_->seek(p, next);
    if (paused_) {
      source_->resume(source_->assignment());
      paused_ = false;
      spdlog::info("database reachable again; partitions resumed");
    }
    view_.set_database_ok(true);
    backoff_.reset();
    return true;
  } catch (const Error& e) {
    if (!e.retryable()) throw;
    view_.set_database_ok(false, e.what());
    if (!paused_) {
      // Keep polling (so the group keeps us) but fetch nothing new.
      source_->pause(source_->assignment());
      paused_ = true;
    }
    const auto delay = backoff_.next();
    next_attempt_ = Clock::now() + delay;
    spdlog::warn("{}; partitions paused, retrying in {} ms", e.what(), delay.count());
    return false;
  }
}

void ConsumerService::poll_loop() {
  try {
    while (!stopping_.load()) {
      if (auto record = source_->poll(kPollTimeout)) handle_record(std::move(*record));
      const auto now = Clock::now();
      if (paused_) {
        if (now >= next_attempt_) try_flush();
      } else if (engine_->should_flush(now)) {
        try_flush();
      } else if (!engine_->has_pending() && now >= next_ping_) {
        next_ping_ = now + kPingInterval;
        try {
          store_->ping();
          view_.set_database_ok(true);
        } catch (const Error& e) {
          view_.set_database_ok(false, e.what());
        }
      }
    }
    // Shutdown: apply what is pending (bounded), then leave the group.
    const auto deadline = Clock::now() + settings_.shutdown_grace;
    while (engine_->has_pending() && Clock::now() < deadline) {
      if (!try_flush()) std::this_thread::sleep_until(std::min(next_attempt_, deadline));
    }
    if (engine_->has_pending()) {
      spdlog::warn("shutting down with unapplied events; the next owner re-reads them");
    }
    source_->close();
  } catch (const std::exception& e) {
    spdlog::critical("consumer stopped: {}", e.what());
    failed_.store(true);
  }
}

}  // namespace kvstream
