#include "service.h"

#include <spdlog/spdlog.h>

#include "check/at_start.h"
#include "check_command.h"
#include "common/logging.h"
#include "schema/dlq.h"
#include "schema/migrations.h"
#include "stop_watchdog.h"

namespace kvstream {

namespace {

using Clock = std::chrono::steady_clock;
// The longest the poll thread blocks in Kafka's poll: records, a finished
// batch (the workers wake it) and the engine's deadlines end the wait sooner.
constexpr auto kMaxPollWait = std::chrono::milliseconds(100);
// Records taken from the fetched queue before the engine submits batches.
constexpr int kDrainRecords = 2000;
constexpr auto kPingInterval = std::chrono::seconds(5);
constexpr auto kLagInterval = std::chrono::seconds(1);
constexpr auto kListenInterval = std::chrono::milliseconds(200);
// After a failure to listen: a connection attempt blocks the poll thread
// (up to the connect timeout) and is not repeated sooner.
constexpr auto kListenRetry = std::chrono::seconds(5);
// Kafka offset commits are for lag monitoring and tools (the database holds
// the positions): the applied positions go to Kafka at most this often, and
// at once on a revoke or shutdown.
constexpr auto kCommitInterval = std::chrono::milliseconds(100);
// Recorded with the migrations this binary applies, and named when it
// refuses a newer schema.
constexpr const char* kBinary = "kvstream-consumer " KVSTREAM_VERSION;

}  // namespace

ConsumerService::ConsumerService(ConsumerSettings settings) : settings_(std::move(settings)) {}

ConsumerService::~ConsumerService() { stop(); }

void ConsumerService::start() {
  // A schema newer than this binary knows stops the start (SchemaTooNew, a
  // fatal error). Checked once, here: while a replica runs, a newer binary
  // migrating the database is a rolling upgrade, which the older replicas
  // must survive (schema/README.md, "Migrations").
  bool schema_checked = true;
  if (settings_.migrate_on_start) {
    auto result =
        store::migrate_database(settings_.pg, kBinary, [this] { return stopping_.load(); });
    spdlog::info("database schema at version {} ({} migration(s) applied now)",
                 result.current_version, result.applied.size());
  } else {
    // One attempt: a replica that does not migrate starts, and joins its
    // group, while the database is down; it is then not checked.
    try {
      const int version = store::check_database_schema(settings_.pg, kBinary, [] { return true; });
      spdlog::info("database schema at version {} (not migrating)", version);
    } catch (const Error& e) {
      if (!e.retryable()) throw;
      spdlog::warn("database schema version not checked ({}); starting unchecked", e.what());
      schema_checked = false;
    }
  }
  // The deployment checks (check/at_start.h): warnings are logged; one that
  // refuses stops the start (fatal), before anything is bound or joined.
  check::StartCheck checks;
  checks.kafka = settings_.source.kafka;
  checks.pg = settings_.pg;
  checks.expect = deployment_expectations(settings_);
  checks.read_database = schema_checked;
  check::check_at_start(checks);

  std::unique_ptr<cache::ViewCache> cache;
  if (settings_.cache_max_entries > 0) {
    cache::ViewCacheOptions options;
    options.max_entries = settings_.cache_max_entries;
    options.max_bytes = settings_.cache_max_bytes;
    options.insert_on_apply = settings_.cache_insert_on_apply;
    cache = std::make_unique<cache::ViewCache>(options);
  }
  offsets_store_ = std::make_unique<store::PgStore>(settings_.pg);
  if (cache)
    view_switches_ = std::make_unique<store::PgListener>(settings_.pg, store::kViewSwitchChannel);
  // The cached view exists before any batch commits (the source subscribes
  // last); without a cache the workers have nothing to call.
  apply::ApplyWorkers::CommitHook after_commit;
  if (cache) {
    after_commit = [this](const store::PartitionBatch& batch) {
      cached_view_->applied(batch.partition, batch.events);
    };
  }
  workers_ = std::make_unique<apply::ApplyWorkers>(
      settings_.apply_workers, [&] { return std::make_unique<store::PgStore>(settings_.pg); },
      std::move(after_commit));
  // The source first: a finished batch wakes its poll.
  source_ = std::make_unique<source::KafkaSource>(settings_.source, *this);
  engine_ =
      std::make_unique<apply::ApplyEngine>(settings_.source.kafka.topic, *offsets_store_, *workers_,
                                           view_, settings_.batch, [this] { source_->wake(); });
  producer::ProducerSettings dlq_settings;
  dlq_settings.kafka = settings_.source.kafka;
  dlq_settings.kafka.topic = settings_.dlq_topic;
  dlq_settings.client_id = "kvstream-dlq";
  dlq_ = std::make_unique<producer::Producer>(dlq_settings);
  dead_letters_ = std::make_unique<deadletter::DeadLetterSink>(
      [this](const schema::Record& record, producer::DeliveryCallback done) {
        dlq_->send(settings_.dlq_topic, record, std::move(done));
      },
      [this] { source_->wake(); });

  reads_ = std::make_unique<store::PgReadPool>(settings_.pg, settings_.read_pool_size,
                                               settings_.read_acquire_timeout);
  read_threads_ = std::make_unique<boost::asio::thread_pool>(settings_.read_pool_size);
  producer::ProducerSettings write_settings;
  write_settings.kafka = settings_.source.kafka;
  write_settings.limits = settings_.limits;
  write_settings.client_id = "kvstream-http";
  write_settings.close_timeout = std::chrono::milliseconds(5000);
  // A PUT waits for its delivery report (and with ?wait=applied for the
  // apply): send at once rather than linger to fill a batch (requests that
  // arrive while one is in flight still go out together), and without
  // Nagle's delay. KVSTREAM_KAFKA_* properties still override both.
  write_settings.linger = std::chrono::milliseconds(0);
  write_settings.kafka.properties.emplace("socket.nagle.disable", "true");
  writes_ = std::make_unique<producer::Producer>(write_settings);
  waiter_ = std::make_unique<http::PositionWaiter>(
      view_, [this] { return cached_view_->applied_positions(); }, settings_.position_poll);
  view_.set_listener([this] { waiter_->notify(); });
  view_.set_catch_up_bounds(settings_.ready_max_lag_events,
                            static_cast<double>(settings_.ready_max_lag.count()));

  // The server first: cache misses are read on its I/O threads. Its
  // handler finds api_ by the time it serves (start() below).
  server_ = std::make_unique<http::HttpServer>(
      settings_.http,
      [this](http::Request&& req, const std::string& peer, http::Responder respond) {
        api_->handle(std::move(req), peer, std::move(respond));
      });
  key_reads_ = std::make_unique<store::PgAsyncReader>(
      server_->context(), read_threads_->get_executor(), settings_.pg, settings_.read_pool_size,
      settings_.read_acquire_timeout);

  view_reader_ =
      std::make_unique<store::PgViewReader>(*reads_, *key_reads_, settings_.source.kafka.topic);
  cached_view_ = std::make_unique<view::CachedView>(*view_reader_, view_, std::move(cache));

  http::ApiSettings api = settings_.api;
  api.topic = settings_.source.kafka.topic;
  api.version = KVSTREAM_VERSION;
  api.limits = settings_.limits;
  http::ApiContext context{*cached_view_,
                           view_,
                           *read_threads_,
                           *waiter_,
                           writes_.get(),
                           [this] {
                             if (auto stats = cached_view_->cache_stats()) {
                               metrics_.set_cache(*stats);
                             }
                             metrics_.set_status(view_);
                             metrics_.set_read_breaker(api_->read_breaker());
                             return metrics_.serialize();
                           },
                           [this](std::string_view route, unsigned status, double seconds) {
                             metrics_.http_request(route, status, seconds);
                           },
                           {}};
  if (settings_.watch.max_watchers > 0) {
    try {
      changes_ = std::make_unique<watch::KafkaChanges>(settings_.source.kafka, settings_.limits);
    } catch (const std::runtime_error& e) {
      throw Error(ErrorKind::kFatal, std::string("the watch feed's Kafka client: ") + e.what());
    }
    watch::HubDeps deps{
        *changes_, [this] { return waiter_->known(); },
        [this](Position position, Clock::time_point deadline, std::function<void(bool)> done) {
          waiter_->wait({position}, deadline, std::move(done));
        },
        [this] {
          // The database's positions, and this replica's own
          // for the partitions it applies.
          auto next = cached_view_->applied_positions();
          for (const auto& [p, o] : view_.applied()) next[p] = o;
          return next;
        },
        &metrics_};
    watches_ = std::make_unique<watch::WatchHub>(settings_.watch, std::move(deps));
    context.watch = [this](http::WatchRequest request, std::unique_ptr<http::WatchReply> reply) {
      watches_->open(std::move(request), std::move(reply));
    };
  }
  api_ = std::make_unique<http::Api>(std::move(api), std::move(context));
  server_->start();
  spdlog::info("HTTP API on {}:{}", settings_.http.address, server_->port());

  source_->subscribe();
  started_ = true;
  poll_thread_ = std::thread([this] { poll_loop(); });
  store::TombstoneCollectorSettings gc;
  gc.retention = settings_.tombstone_retention;
  gc.interval = settings_.gc_interval;
  gc.page = settings_.gc_page;
  tombstones_ = std::make_unique<store::TombstoneCollector>(
      gc,
      [this] {
        auto store = std::make_shared<store::PgStore>(settings_.pg);
        return [store](std::chrono::seconds retention, size_t page, std::string& cursor) {
          return store->collect_tombstones(retention, page, cursor);
        };
      },
      [this](size_t rows) { metrics_.tombstones_collected(rows); });
  tombstones_->start();
}

std::chrono::milliseconds stop_limit(const ConsumerSettings& settings) {
  return settings.shutdown_grace + settings.source.session_timeout + std::chrono::seconds(5);
}

void ConsumerService::stop() {
  if (!started_) return;
  started_ = false;
  // Past what the steps below may take (applying what is pending, then
  // leaving the group, which waits at most the session timeout for the
  // broker), the process ends itself (stop_watchdog.h).
  StopWatchdog watchdog(stop_step_, stop_limit(settings_));
  stopping_.store(true);
  // The collector first: it stops after its current step, while the poll
  // thread applies what is pending.
  stop_step_ = "the tombstone collector's step";
  if (tombstones_) tombstones_->stop();
  stop_step_ = "the poll thread (applying what is pending, leaving the group)";
  if (poll_thread_.joinable()) poll_thread_.join();
  // Leave the group now if the poll loop did not (it failed): closing serves
  // the revoke callback, which needs the engine, the workers and the cached
  // view alive; the source's destructor would run after some are gone.
  stop_step_ = "the Kafka consumer's close";
  if (source_) source_->close();
  stop_step_ = "the apply workers";
  if (workers_) workers_->stop();
  stop_step_ = "the watches";
  if (watches_) watches_->stop();
  stop_step_ = "the HTTP server";
  if (server_) server_->stop();
  stop_step_ = "read-your-writes waits";
  if (waiter_) waiter_->stop();
  stop_step_ = "the HTTP read threads";
  if (read_threads_) read_threads_->join();
  stop_step_ = "the HTTP API's publisher";
  if (writes_) writes_->close();
  stop_step_ = "nothing";
  spdlog::info("consumer stopped");
}

std::map<int32_t, int64_t> ConsumerService::on_assign(const std::vector<int32_t>& partitions) {
  next_lag_ = Clock::time_point{};  // measure the new partitions' lag (readiness) at once
  if (const int32_t count = source_->partition_count(); count > 0) {
    view_.set_partition_count(count);
  }
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::seconds(5));
  for (;;) {
    try {
      auto start = engine_->assign(partitions);
      cached_view_->own(partitions);
      // Commit the positions taken over: the previous owner's last commits
      // may have been refused by the rebalance, and without new events this
      // replica would otherwise never commit them (false lag).
      std::map<int32_t, int64_t> known;
      for (const auto& [p, next] : start) {
        if (next >= 0) known[p] = next;
      }
      source_->commit(known);
      // A member from now on; only now, so that readiness already counts the
      // partitions it must catch up with.
      view_.set_joined(true);
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
  flush_commits(Clock::now());
  // A dead letter still on its way is left to the next owner, which reads
  // the record again (the position never passed it).
  dead_letters_->cancel(partitions);
  for (int32_t p : partitions) {
    cached_view_->drop(p);
    paused_.erase(p);
    dlq_held_.erase(p);
    stale_end_.erase(p);
    metrics_.drop_partition(p);
  }
  metrics_.set_assigned(view_.applied().size());
  metrics_.set_paused(paused_.size());
}

void ConsumerService::on_position_reset(int32_t, int64_t, int64_t) { metrics_.offset_reset(); }

void ConsumerService::on_commit_refused(size_t partitions) { metrics_.commit_refused(partitions); }

void ConsumerService::dead_letter(const schema::Record& record,
                                  const schema::ValidationError& why) {
  // While a dead letter of the partition is on its way, the partition's
  // later records are read again once it is delivered.
  if (dlq_held_.count(record.partition)) return;
  std::string_view trace_id;
  if (const schema::Header* tp = record.last_header(schema::kTraceparentHeader); tp && tp->value) {
    trace_id = schema::trace_id_of(*tp->value);
  }
  LogScope scope(LogFields::record(record.partition, record.offset, std::string(trace_id)));
  spdlog::warn("record refused: {} ({}); to {}", schema::reason_code(why.reason), why.message,
               settings_.dlq_topic);
  // The applied position moves past this record only once the dead-letter
  // topic has acknowledged it: until then the partition is held at the
  // record (the engine takes none of its later records, and the source
  // stops fetching them); the other partitions go on.
  engine_->hold_back(record.partition, record.offset);
  dlq_held_[record.partition] = record.offset;
  source_->pause({record.partition});
  dead_letters_->submit(record, why);
}

void ConsumerService::settle_dead_letters() {
  dead_letters_->poll(Clock::now());
  for (const deadletter::Delivered& d : dead_letters_->take_delivered()) {
    auto held = dlq_held_.find(d.at.partition);
    if (held == dlq_held_.end() || held->second != d.at.offset) continue;  // revoked meanwhile
    dlq_held_.erase(held);
    engine_->release(d.at.partition, d.at.offset);
    // Read the partition again from the record after the dead letter: what
    // was fetched behind it while it was held was not taken.
    source_->seek(d.at.partition, d.at.offset + 1);
    if (!paused_.count(d.at.partition)) source_->resume({d.at.partition});
    metrics_.dead_lettered(d.reason);
  }
  for (size_t n = dead_letters_->take_failures(); n > 0; --n) metrics_.dead_letter_failed();
  metrics_.set_dead_letter_stalled(dead_letters_->stalled());
}

void ConsumerService::watch_view_switches() {
  store::PgListener::Received r;
  try {
    r = view_switches_->poll();
  } catch (const Error& e) {
    if (listening_) spdlog::warn("cannot listen for view switches: {}", e.what());
    listening_ = false;
    next_listen_ = Clock::now() + kListenRetry;
    return;
  }
  const bool missed = r.restarted && listening_was_started_;
  listening_ = true;
  listening_was_started_ = true;
  if (r.payloads.empty() && !missed) return;
  // The tables were replaced (or may have been): what is cached came from
  // the old ones. Each partition's entries are forgotten; reads from now on
  // go to the new tables, and a fill begun before is refused.
  const std::vector<int32_t> owned = source_->assignment();
  for (int32_t p : owned) cached_view_->fence(p);
  if (!r.payloads.empty()) {
    spdlog::info(
        "the view was switched (rebuild, schema {}); the cache of {} partition(s) is "
        "forgotten",
        r.payloads.back(), owned.size());
  } else {
    spdlog::info(
        "listening for view switches again after an outage; the cache of {} "
        "partition(s) is forgotten in case one was missed",
        owned.size());
  }
}

void ConsumerService::handle_message(const rd_kafka_message_t& msg) {
  const schema::RecordView record = source::view_of(&msg, header_views_);
  schema::Event event = engine_->take_spare();
  if (auto why = schema::decode_into(record, settings_.limits, event)) {
    engine_->recycle(std::move(event));
    dead_letter(record.to_record(), *why);
    return;
  }
  if (log_records_) {
    LogScope scope(LogFields::record(event.position.partition, event.position.offset,
                                     std::string(schema::trace_id_of(event.traceparent))));
    spdlog::debug("received {} of {} ({} bytes)", event.op == schema::Op::kPut ? "PUT" : "DELETE",
                  event.key, event.value.size());
  }
  engine_->add_event(std::move(event));
}

void ConsumerService::advance(bool force) {
  engine_->dispatch(Clock::now(), force);
  engine_->collect();
  apply::Progress progress = engine_->take_progress();
  if (progress.empty() && progress.batches.empty()) return;
  if (progress.fatal) throw *progress.fatal;
  metrics_.record(progress);
  for (const auto& [p, next] : progress.applied) unsent_commits_[p] = next;
  for (const auto& [p, next] : progress.fenced) {
    // What we cached may be older than what the other writer committed:
    // forgotten before the position moves, which releases the reads that
    // wait for it.
    cached_view_->fence(p);
    view_.set_applied(p, next);
    // A dead letter on its way for a record of this partition is dropped:
    // the record is read again from `next` and refused again. Releasing it
    // when delivered would move the position past the records before it.
    if (dlq_held_.erase(p) > 0) {
      dead_letters_->cancel({p});
      if (!paused_.count(p)) source_->resume({p});
    }
    source_->seek(p, next);
  }
  if (!progress.pause.empty()) {
    source_->pause(progress.pause);
    paused_.insert(progress.pause.begin(), progress.pause.end());
  }
  if (!progress.resume.empty()) {
    std::vector<int32_t> resume;
    for (int32_t p : progress.resume) {
      paused_.erase(p);
      if (!dlq_held_.count(p)) resume.push_back(p);  // its dead letter resumes it
    }
    if (!resume.empty()) source_->resume(resume);
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
    if (next > end) {
      // The partition ends below what was applied: the topic was deleted
      // and created again (the fetcher then starts again at the beginning,
      // and every record below the applied position would be ignored), or
      // the broker lost records. The end seen may also be stale (from an
      // earlier ownership): the broker decides, and check_positions throws
      // (fatal) if it confirms, as at assignment.
      auto stale = stale_end_.find(p);
      if (stale == stale_end_.end() || stale->second != end) {
        source_->check_positions({{p, next}});
        stale_end_[p] = end;
      }
      continue;
    }
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
    view_.set_lag(p, lag, seconds);
  }
}

void ConsumerService::flush_commits(Clock::time_point now) {
  next_commit_ = now + kCommitInterval;
  if (unsent_commits_.empty()) return;
  source_->commit(unsent_commits_);
  unsent_commits_.clear();
}

std::chrono::milliseconds ConsumerService::poll_wait(Clock::time_point now) const {
  Clock::time_point until = now + kMaxPollWait;
  until = std::min(until, next_lag_);
  if (!unsent_commits_.empty()) until = std::min(until, next_commit_);
  if (engine_->idle()) until = std::min(until, next_ping_);
  if (auto deadline = engine_->next_deadline()) until = std::min(until, *deadline);
  if (auto retry = dead_letters_->next_retry()) until = std::min(until, *retry);
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(until - now));
}

void ConsumerService::poll_loop() {
  try {
    while (!stopping_.load()) {
      // Block until a record arrives, a batch finishes (the workers wake
      // the poll) or a deadline is due; then take what the fetcher already
      // has, and submit at once what is ready.
      log_records_ = spdlog::should_log(spdlog::level::debug);
      for (int i = 0; i < kDrainRecords; ++i) {
        kafka::MessagePtr msg =
            source_->poll(i == 0 ? poll_wait(Clock::now()) : std::chrono::milliseconds(0));
        if (!msg) break;
        handle_message(*msg);
      }
      settle_dead_letters();
      advance(false);
      const auto now = Clock::now();
      if (now >= next_commit_) flush_commits(now);
      if (now >= next_lag_) {
        next_lag_ = now + kLagInterval;
        update_lag();
      }
      if (view_switches_ && now >= next_listen_) {
        next_listen_ = now + kListenInterval;
        watch_view_switches();
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
    stop_step_ = "the poll thread: applying what is pending";
    const auto deadline = Clock::now() + settings_.shutdown_grace;
    while ((!engine_->idle() || dead_letters_->waiting() > 0) && Clock::now() < deadline) {
      settle_dead_letters();
      advance(true);
      engine_->collect(std::chrono::milliseconds(50));
      advance(false);
      // Only dead letters left: their reports wake nothing here.
      if (engine_->idle()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!engine_->idle()) {
      spdlog::warn("shutting down with unapplied events; the next owner re-reads them");
    }
    if (dead_letters_->waiting() > 0) {
      spdlog::warn(
          "shutting down with {} dead letter(s) not acknowledged; the next owner reads "
          "their records again",
          dead_letters_->waiting());
    }
    stop_step_ = "the poll thread: committing to Kafka";
    flush_commits(Clock::now());
    stop_step_ = "the poll thread: the Kafka consumer's close";
    source_->close();
  } catch (const std::exception& e) {
    spdlog::critical("consumer stopped: {}", e.what());
    failed_.store(true);
  }
}

}  // namespace kvstream
