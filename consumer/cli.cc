#include "cli.h"

#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ctime>
#include <iostream>

#include "check_command.h"
#include "common/config.h"
#include "common/logging.h"
#include "dlq/command.h"
#include "rebuild/rebuild.h"
#include "schema/migrations.h"
#include "service.h"

namespace kvstream {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitConfig = 2;

// "host:port" -> address and port; false if malformed.
bool split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  try {
    size_t used = 0;
    const int p = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return true;
}

}  // namespace

int run_consumer_cli(int argc, char** argv) {
  // Signals are taken synchronously by the main thread only. They are blocked
  // first of all, before any other thread starts (every thread inherits the
  // mask) and before anything is logged: a SIGTERM that arrives while the
  // replica starts waits for the shutdown path instead of killing it midway,
  // and a replica that has logged anything leaves on SIGTERM with exit 0.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app{"kvstream-consumer: apply key-value events from Kafka to PostgreSQL and serve them"};
  ConsumerSettings s;
  LogSettings log;
  add_kafka_options(app, s.source.kafka);
  add_log_options(app, log);
  app.add_option("--group", s.source.group, "Kafka consumer group")
      ->envname("KVSTREAM_GROUP")
      ->capture_default_str();
  app.add_option("--group-instance-id", s.source.group_instance_id,
                 "Static group membership id (a restart within the session timeout keeps the "
                 "partitions)")
      ->envname("KVSTREAM_GROUP_INSTANCE_ID");
  // Required except by `dlq` (checked after parsing: CLI11 would require it
  // of every subcommand).
  app.add_option("--pg-url", s.pg.url, "PostgreSQL connection URI (libpq); required (not by dlq)")
      ->envname("KVSTREAM_PG_URL");
  std::string http_addr = "0.0.0.0:8080";
  app.add_option("--http-addr", http_addr, "HTTP API listen address, host:port")
      ->envname("KVSTREAM_HTTP_ADDR")
      ->capture_default_str();
  app.add_option("--http-threads", s.http.threads, "HTTP I/O threads")
      ->envname("KVSTREAM_HTTP_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--http-max-connections", s.http.max_connections,
                 "Open HTTP connections at most; beyond it new ones get 503 and are closed")
      ->envname("KVSTREAM_HTTP_MAX_CONNECTIONS")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  app.add_option("--http-header-limit-bytes", s.http.header_limit,
                 "Largest request head (request line and headers); larger gets 431")
      ->envname("KVSTREAM_HTTP_HEADER_LIMIT_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{1024 * 1024}))
      ->capture_default_str();
  int64_t http_read_timeout_ms = s.http.read_timeout.count();
  app.add_option("--http-read-timeout-ms", http_read_timeout_ms,
                 "Time to receive a whole request from its first byte; slower clients are cut off")
      ->envname("KVSTREAM_HTTP_READ_TIMEOUT_MS")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  int64_t http_idle_timeout_ms = s.http.idle_timeout.count();
  app.add_option("--http-idle-timeout-ms", http_idle_timeout_ms,
                 "How long a kept-alive connection may stay idle between requests")
      ->envname("KVSTREAM_HTTP_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  int64_t http_default_wait_ms = s.api.default_wait.count();
  app.add_option("--http-default-wait-ms", http_default_wait_ms,
                 "Read-your-writes and ?wait=applied: the wait when a request gives no "
                 "timeout_ms")
      ->envname("KVSTREAM_HTTP_DEFAULT_WAIT_MS")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  int64_t http_max_wait_ms = s.api.max_wait.count();
  app.add_option("--http-max-wait-ms", http_max_wait_ms,
                 "The longest wait a request may ask for with timeout_ms (larger is capped)")
      ->envname("KVSTREAM_HTTP_MAX_WAIT_MS")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  int64_t http_publish_timeout_ms = s.api.publish_timeout.count();
  app.add_option("--http-publish-timeout-ms", http_publish_timeout_ms,
                 "A write without ?wait=applied that Kafka has not acknowledged by then is "
                 "answered 504 not_yet_acknowledged (it may still be published)")
      ->envname("KVSTREAM_HTTP_PUBLISH_TIMEOUT_MS")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  app.add_option("--http-read-pool-size", s.read_pool_size,
                 "Postgres connections for cache misses (driven by the HTTP threads), and as many "
                 "connections and threads for listings, read-your-writes polls and publishing "
                 "while Kafka's queue is full")
      ->envname("KVSTREAM_HTTP_READ_POOL_SIZE")
      ->check(CLI::Range(size_t{1}, size_t{256}))
      ->capture_default_str();
  int64_t read_acquire_timeout_ms = s.read_acquire_timeout.count();
  app.add_option("--http-read-acquire-timeout-ms", read_acquire_timeout_ms,
                 "How long a read waits for a free Postgres connection before answering 503")
      ->envname("KVSTREAM_HTTP_READ_ACQUIRE_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_option("--http-breaker-failures", s.api.breaker_failures,
                 "Consecutive failed database reads after which reads fail fast (503) for "
                 "--http-breaker-open-ms; then one trial read decides")
      ->envname("KVSTREAM_HTTP_BREAKER_FAILURES")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  int64_t breaker_open_ms = s.api.breaker_open.count();
  app.add_option("--http-breaker-open-ms", breaker_open_ms,
                 "How long the read circuit breaker stays open before a trial read")
      ->envname("KVSTREAM_HTTP_BREAKER_OPEN_MS")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  int64_t position_poll_ms = s.position_poll.count();
  app.add_option("--http-position-poll-ms", position_poll_ms,
                 "Read-your-writes: how often kv_offsets is read while a request waits for a "
                 "position of a partition another replica applies")
      ->envname("KVSTREAM_HTTP_POSITION_POLL_MS")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--http-rate-limit", s.api.rate.global_per_second,
                 "Requests per second to /v1/ routes for all clients together; beyond it 429 "
                 "(0: no limit)")
      ->envname("KVSTREAM_HTTP_RATE_LIMIT")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--http-rate-limit-per-client", s.api.rate.per_client_per_second,
                 "Requests per second to /v1/ routes per client address (0: no limit)")
      ->envname("KVSTREAM_HTTP_RATE_LIMIT_PER_CLIENT")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  std::string http_token;
  app.add_option("--http-token", http_token,
                 "Bearer token required by every /v1/ request (unless the read or write token "
                 "below is set for it)")
      ->envname("KVSTREAM_HTTP_TOKEN");
  app.add_option("--http-read-token", s.api.read_token,
                 "Bearer token required by GET and HEAD of /v1/ routes")
      ->envname("KVSTREAM_HTTP_READ_TOKEN");
  app.add_option("--http-write-token", s.api.write_token, "Bearer token required by PUT and DELETE")
      ->envname("KVSTREAM_HTTP_WRITE_TOKEN");
  app.add_option("--dlq-topic", s.dlq_topic, "Dead-letter topic (default: <topic>.dlq)")
      ->envname("KVSTREAM_DLQ_TOPIC");
  app.add_option("--apply-workers", s.apply_workers,
                 "Threads (and database connections) applying partitions in parallel")
      ->envname("KVSTREAM_APPLY_WORKERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--batch-max-events", s.batch.max_events,
                 "Events a partition holds before its batch goes out; it stops fetching at "
                 "--batch-pause-factor times that while a batch commits")
      ->envname("KVSTREAM_BATCH_MAX_EVENTS")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--batch-max-bytes", s.batch.max_bytes, "... or this many key and value bytes")
      ->envname("KVSTREAM_BATCH_MAX_BYTES")
      ->check(CLI::Range(1024, 1024 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--batch-pause-factor", s.batch.pause_factor,
                 "A partition stops fetching once it holds this many times the batch bounds "
                 "(events or bytes) waiting; it fetches again below that")
      ->envname("KVSTREAM_BATCH_PAUSE_FACTOR")
      ->check(CLI::Range(size_t{1}, size_t{100}))
      ->capture_default_str();
  app.add_option("--apply-memory-bytes", s.batch.max_held_bytes,
                 "Memory of the events waiting or being applied, all partitions together; at "
                 "this much, partitions stop fetching until it is back under half")
      ->envname("KVSTREAM_APPLY_MEMORY_BYTES")
      ->check(CLI::Range(size_t{1} << 20, size_t{64} << 30))
      ->capture_default_str();
  int64_t max_wait_ms = s.batch.max_wait.count();
  app.add_option("--batch-max-wait-ms", max_wait_ms,
                 "How long a partition with nothing in flight may hold its first event for a "
                 "larger batch (0: at once; what arrives during a commit is the next batch)")
      ->envname("KVSTREAM_BATCH_MAX_WAIT_MS")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  int64_t statement_timeout_ms = s.pg.statement_timeout.count();
  app.add_option("--pg-statement-timeout-ms", statement_timeout_ms,
                 "Deadline of every database statement; a hung database is a retryable failure")
      ->envname("KVSTREAM_PG_STATEMENT_TIMEOUT_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  int64_t retention_s = s.tombstone_retention.count();
  app.add_option("--tombstone-retention-s", retention_s,
                 "How long deleted keys are remembered (an older replayed PUT cannot "
                 "resurrect them within it)")
      ->envname("KVSTREAM_TOMBSTONE_RETENTION_S")
      ->check(CLI::Range(int64_t{0}, int64_t{10} * 365 * 24 * 3600))
      ->capture_default_str();
  int64_t gc_interval_s = s.gc_interval.count();
  app.add_option("--tombstone-gc-interval-s", gc_interval_s,
                 "How often the replica sweeps the keys for tombstones older than the retention")
      ->envname("KVSTREAM_TOMBSTONE_GC_INTERVAL_S")
      ->check(CLI::Range(int64_t{1}, int64_t{7} * 24 * 3600))
      ->capture_default_str();
  app.add_option("--tombstone-gc-page", s.gc_page,
                 "Keys the tombstone sweep looks at per step (one short transaction each)")
      ->envname("KVSTREAM_TOMBSTONE_GC_PAGE")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  int64_t grace_ms = s.shutdown_grace.count();
  app.add_option("--shutdown-grace-ms", grace_ms,
                 "On SIGTERM, time allowed to apply pending events before leaving")
      ->envname("KVSTREAM_SHUTDOWN_GRACE_MS")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  int64_t ready_lag_events = s.ready_max_lag_events;
  app.add_option("--ready-max-lag-events", ready_lag_events,
                 "Readiness: a new replica is ready once each partition it took has been at "
                 "most this many events behind its end")
      ->envname("KVSTREAM_READY_MAX_LAG_EVENTS")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 50))
      ->capture_default_str();
  int64_t ready_lag_s = s.ready_max_lag.count();
  app.add_option("--ready-max-lag-s", ready_lag_s,
                 "Readiness: ... and once its oldest unapplied event is at most this many "
                 "seconds old")
      ->envname("KVSTREAM_READY_MAX_LAG_S")
      ->check(CLI::Range(int64_t{0}, int64_t{365} * 24 * 3600))
      ->capture_default_str();
  int64_t session_timeout_ms = s.source.session_timeout.count();
  app.add_option("--session-timeout-ms", session_timeout_ms,
                 "Kafka group session timeout: how soon a dead replica's partitions move")
      ->envname("KVSTREAM_SESSION_TIMEOUT_MS")
      ->check(CLI::Range(1000, 300000))
      ->capture_default_str();
  app.add_option("--max-value-bytes", s.limits.max_value_bytes,
                 "Largest value the contract accepts; larger records go to the dead-letter topic")
      ->envname("KVSTREAM_MAX_VALUE_BYTES")
      ->check(CLI::Range(size_t{1}, size_t{64} * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--cache-max-entries", s.cache_max_entries,
                 "Entries the view cache holds at most (0 turns the cache off)")
      ->envname("KVSTREAM_CACHE_MAX_ENTRIES")
      ->capture_default_str();
  app.add_option("--cache-max-bytes", s.cache_max_bytes,
                 "Bytes of keys and values the view cache holds at most")
      ->envname("KVSTREAM_CACHE_MAX_BYTES")
      ->capture_default_str();
  app.add_flag("--cache-insert-on-apply", s.cache_insert_on_apply,
               "Cache every key the apply path commits (write-through), not only the keys "
               "reads brought into the cache")
      ->envname("KVSTREAM_CACHE_INSERT_ON_APPLY")
      ->capture_default_str();
  app.add_option("--watch-max-watchers", s.watch.max_watchers,
                 "Watches (GET /v1/watch) this replica serves at once; beyond it 429 (0 turns "
                 "watches off)")
      ->envname("KVSTREAM_WATCH_MAX_WATCHERS")
      ->check(CLI::Range(size_t{0}, size_t{100000}))
      ->capture_default_str();
  int64_t watch_heartbeat_ms = s.watch.heartbeat.count();
  app.add_option("--watch-heartbeat-ms", watch_heartbeat_ms,
                 "How often an idle watch is sent a heartbeat comment (and its resume id)")
      ->envname("KVSTREAM_WATCH_HEARTBEAT_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  app.add_option("--watch-buffer-bytes", s.watch.buffer_bytes,
                 "Bytes of events a watch may have waiting for its client; beyond it the watch "
                 "gets an error event (too_slow) and is closed")
      ->envname("KVSTREAM_WATCH_BUFFER_BYTES")
      ->check(CLI::Range(size_t{4096}, size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--watch-history-bytes", s.watch.history_bytes,
                 "Bytes of recent changes the watch feed keeps (and reads ahead of the view), "
                 "across partitions")
      ->envname("KVSTREAM_WATCH_HISTORY_BYTES")
      ->check(CLI::Range(size_t{1} << 20, size_t{1} << 34))
      ->capture_default_str();
  bool no_migrate = false;
  app.add_flag("--no-migrate", no_migrate, "Do not apply pending migrations on start")
      ->envname("KVSTREAM_NO_MIGRATE")
      ->capture_default_str();
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "Print the effective configuration (secrets masked) and exit");
  app.footer(
      "Every option can also be set by its environment variable, or from a file named by "
      "<VARIABLE>_FILE (for secrets). librdkafka properties pass through as "
      "KVSTREAM_KAFKA_<PROPERTY> (dots as underscores), e.g. "
      "KVSTREAM_KAFKA_SECURITY_PROTOCOL=ssl.");
  auto* migrate = app.add_subcommand("migrate", "Apply pending Postgres migrations and exit");
  auto* check = app.add_subcommand(
      "check",
      "Check, without changing anything, what the replicas with these settings depend on: the "
      "topic's partitions against kv_offsets (and each applied position against its "
      "partition's log), cleanup.policy=compact, delete.retention.ms against the tombstone "
      "retention, max.message.bytes against the value limit, the dead-letter topic, the "
      "database schema against this binary. One line per check (ok, warn or FAIL: what, why, "
      "what to do). Exit 0 when nothing fails (warnings allowed), 1 when a check fails (a "
      "replica would refuse to run), 2 for bad settings or a server that cannot be reached. A "
      "replica runs the same checks at start (docs/operations.md, \"Checking a deployment\").");
  // The replica's options after the subcommand too (kvstream-consumer check --topic t).
  check->fallthrough();
  dlq::DlqCommands dlq;
  dlq::add_dlq_commands(app, dlq);
  rebuild::RebuildSettings rebuild_settings;
  int64_t switch_timeout_ms = rebuild_settings.switch_timeout.count();
  auto* rebuild = app.add_subcommand(
      "rebuild",
      "Build the view again from the topic into a schema beside the served one (same database) "
      "while the replicas keep serving theirs, with progress on stderr; verify it against the "
      "served view; with --switch, move it in place of the served tables in one transaction. "
      "Refuses when records it would need were deleted from the topic, naming the partitions. "
      "A second run resumes. Exit 0 when built (and switched), 1 when refused or the views "
      "differ, 2 for bad settings or a server that cannot be reached (docs/operations.md, "
      "\"Rebuilding the view\").");
  rebuild->fallthrough();
  rebuild->add_option("--schema", rebuild_settings.schema, "Schema the view is built in")
      ->check([](const std::string& name) -> std::string {
        if (name.empty() || name.size() > 63) return "a schema name has 1 to 63 bytes";
        if (name.rfind("pg_", 0) == 0) return "names starting with pg_ are Postgres' own";
        return {};
      })
      ->capture_default_str();
  rebuild->add_flag("--switch", rebuild_settings.switch_view,
                    "Once built and verified, move the rebuilt tables in place of the served "
                    "ones (the served ones are kept in a schema kvstream_replaced_<time>)");
  rebuild->add_flag("--accept-differences", rebuild_settings.accept_differences,
                    "Switch even when the rebuilt view differs from the served one (when the "
                    "served one is known to be wrong)");
  rebuild
      ->add_option("--switch-timeout-ms", switch_timeout_ms,
                   "Longest the served tables stay locked in a switch attempt")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();

  try {
    read_env_files(app);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One clear line: which setting, and why.
    std::cerr << "kvstream-consumer: " << e.what() << " (see --help)" << std::endl;
    return kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "kvstream-consumer: " << e.what() << std::endl;
    return kExitConfig;
  }
  if (s.pg.url.empty() && !dlq.dlq->parsed()) {
    std::cerr << "kvstream-consumer: --pg-url is required (KVSTREAM_PG_URL; see --help)"
              << std::endl;
    return kExitConfig;
  }
  if (!split_host_port(http_addr, s.http.address, s.http.port)) {
    std::cerr << "kvstream-consumer: KVSTREAM_HTTP_ADDR must be host:port, got '" << http_addr
              << "'" << std::endl;
    return kExitConfig;
  }
  if (s.dlq_topic.empty()) s.dlq_topic = s.source.kafka.topic + ".dlq";
  if (const std::string why = check_topic_name(s.dlq_topic); !why.empty()) {
    std::cerr << "kvstream-consumer: the dead-letter topic '" << s.dlq_topic
              << "' (KVSTREAM_DLQ_TOPIC, default <topic>.dlq) is not a valid topic name: " << why
              << std::endl;
    return kExitConfig;
  }
  if (s.dlq_topic == s.source.kafka.topic) {
    std::cerr << "kvstream-consumer: the dead-letter topic (KVSTREAM_DLQ_TOPIC) cannot be the "
                 "topic of the events"
              << std::endl;
    return kExitConfig;
  }
  s.batch.max_wait = std::chrono::milliseconds(max_wait_ms);
  s.pg.statement_timeout = std::chrono::milliseconds(statement_timeout_ms);
  s.tombstone_retention = std::chrono::seconds(retention_s);
  s.gc_interval = std::chrono::seconds(gc_interval_s);
  s.shutdown_grace = std::chrono::milliseconds(grace_ms);
  s.ready_max_lag_events = ready_lag_events;
  s.ready_max_lag = std::chrono::seconds(ready_lag_s);
  s.source.session_timeout = std::chrono::milliseconds(session_timeout_ms);
  s.migrate_on_start = !no_migrate;
  s.http.read_timeout = std::chrono::milliseconds(http_read_timeout_ms);
  s.http.idle_timeout = std::chrono::milliseconds(http_idle_timeout_ms);
  // A body larger than the largest value is refused (413) before it is read.
  s.http.body_limit = s.limits.max_value_bytes;
  s.api.default_wait = std::chrono::milliseconds(http_default_wait_ms);
  s.api.max_wait = std::chrono::milliseconds(http_max_wait_ms);
  s.api.publish_timeout = std::chrono::milliseconds(http_publish_timeout_ms);
  s.read_acquire_timeout = std::chrono::milliseconds(read_acquire_timeout_ms);
  s.api.breaker_open = std::chrono::milliseconds(breaker_open_ms);
  s.position_poll = std::chrono::milliseconds(position_poll_ms);
  s.watch.heartbeat = std::chrono::milliseconds(watch_heartbeat_ms);
  if (s.api.read_token.empty()) s.api.read_token = http_token;
  if (s.api.write_token.empty()) s.api.write_token = http_token;
  read_kafka_passthrough(s.source.kafka);
  if (print_config) {
    std::cout << describe_config(app, s.source.kafka);
    return kExitOk;
  }
  // The dlq and rebuild commands print their findings on stdout; their log
  // lines (the producer's, the apply path's) go to stderr.
  setup_logging(log, dlq.dlq->parsed() || rebuild->parsed()
                         ? std::make_shared<spdlog::sinks::stderr_sink_mt>()
                         : spdlog::sink_ptr{});
  for (const std::string& name : unknown_env(app)) {
    spdlog::warn("{} is set but is not a kvstream setting (misspelt?); it is ignored", name);
  }

  if (migrate->parsed()) {
    // A one-shot command: SIGINT and SIGTERM stop it at once (the migrations
    // run in transactions).
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    try {
      auto result =
          store::migrate_database(s.pg, "kvstream-consumer " KVSTREAM_VERSION, [] { return true; });
      std::cout << "database schema at version " << result.current_version << "; applied "
                << result.applied.size() << " migration(s)" << std::endl;
      return kExitOk;
    } catch (const schema::SchemaTooNew& e) {
      // A refusal, like a replica's start against that schema.
      std::cerr << "kvstream-consumer migrate: " << e.what() << std::endl;
      return kExitConfig;
    } catch (const Error& e) {
      std::cerr << "kvstream-consumer migrate: " << e.what() << std::endl;
      return kExitFailed;
    }
  }

  if (check->parsed()) {
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);  // one-shot, changes nothing
    return run_check_command(s);
  }

  if (rebuild->parsed()) {
    // A one-shot command: SIGINT and SIGTERM stop it at once; its positions
    // are committed with its rows, and a second run resumes from them.
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    rebuild_settings.kafka = s.source.kafka;
    rebuild_settings.pg = s.pg;
    rebuild_settings.limits = s.limits;
    rebuild_settings.batch = s.batch;
    rebuild_settings.apply_workers = s.apply_workers;
    rebuild_settings.switch_timeout = std::chrono::milliseconds(switch_timeout_ms);
    rebuild_settings.binary = "kvstream-consumer " KVSTREAM_VERSION;
    const rebuild::RebuildIo io{std::cout, std::cerr, isatty(STDERR_FILENO) == 1};
    return rebuild::run_rebuild(rebuild_settings, io);
  }

  if (dlq.dlq->parsed()) {
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);  // one-shot
    const dlq::DlqContext context{s.source.kafka, s.dlq_topic, s.limits};
    const dlq::DlqIo io{std::cout, std::cerr, isatty(STDERR_FILENO) == 1};
    return dlq.list->parsed() ? dlq::run_dlq_list(context, dlq.options, io)
                              : dlq::run_dlq_replay(context, dlq.options, io);
  }

  ConsumerService service(s);
  try {
    service.start();
  } catch (const Error& e) {
    spdlog::critical("cannot start: {}", e.what());
    return e.kind() == ErrorKind::kFatal ? kExitConfig : kExitFailed;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return kExitConfig;
  }

  const timespec tick{0, 200 * 1000 * 1000};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("signal {}: shutting down", sig);
      break;
    }
    if (service.failed()) {
      service.stop();
      return kExitFailed;
    }
  }
  service.stop();
  return service.failed() ? kExitFailed : kExitOk;
}

}  // namespace kvstream
