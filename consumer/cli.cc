#include "cli.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>

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
  app.add_option("--pg-url", s.pg.url, "PostgreSQL connection URI (libpq)")
      ->envname("KVSTREAM_PG_URL")
      ->required();
  std::string http_addr = "0.0.0.0:8080";
  app.add_option("--http-addr", http_addr, "HTTP API listen address, host:port")
      ->envname("KVSTREAM_HTTP_ADDR")
      ->capture_default_str();
  app.add_option("--dlq-topic", s.dlq_topic, "Dead-letter topic (default: <topic>.dlq)")
      ->envname("KVSTREAM_DLQ_TOPIC");
  app.add_option("--apply-workers", s.apply_workers,
                 "Threads (and database connections) applying partitions in parallel")
      ->envname("KVSTREAM_APPLY_WORKERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--batch-max-events", s.batch.max_events,
                 "A partition's batch is applied once it holds this many events")
      ->envname("KVSTREAM_BATCH_MAX_EVENTS")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--batch-max-bytes", s.batch.max_bytes, "... or this many key and value bytes")
      ->envname("KVSTREAM_BATCH_MAX_BYTES")
      ->check(CLI::Range(1024, 1024 * 1024 * 1024))
      ->capture_default_str();
  int64_t max_wait_ms = s.batch.max_wait.count();
  app.add_option("--batch-max-wait-ms", max_wait_ms,
                 "... or when its oldest event has waited this long")
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
  int64_t grace_ms = s.shutdown_grace.count();
  app.add_option("--shutdown-grace-ms", grace_ms,
                 "On SIGTERM, time allowed to apply pending events before leaving")
      ->envname("KVSTREAM_SHUTDOWN_GRACE_MS")
      ->check(CLI::Range(0, 600000))
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
  if (!split_host_port(http_addr, s.http.address, s.http.port)) {
    std::cerr << "kvstream-consumer: KVSTREAM_HTTP_ADDR must be host:port, got '" << http_addr
              << "'" << std::endl;
    return kExitConfig;
  }
  if (s.dlq_topic.empty()) s.dlq_topic = s.source.kafka.topic + ".dlq";
  s.batch.max_wait = std::chrono::milliseconds(max_wait_ms);
  s.pg.statement_timeout = std::chrono::milliseconds(statement_timeout_ms);
  s.tombstone_retention = std::chrono::seconds(retention_s);
  s.shutdown_grace = std::chrono::milliseconds(grace_ms);
  s.source.session_timeout = std::chrono::milliseconds(session_timeout_ms);
  s.migrate_on_start = !no_migrate;
  read_kafka_passthrough(s.source.kafka);
  if (print_config) {
    std::cout << describe_config(app, s.source.kafka);
    return kExitOk;
  }
  setup_logging(log);
  for (const std::string& name : unknown_env(app)) {
    spdlog::warn("{} is set but is not a kvstream setting (misspelt?); it is ignored", name);
  }

  if (migrate->parsed()) {
    try {
      auto conn = store::connect(s.pg, "kvstream-migrate");
      auto result = schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
      std::cout << "database schema at version " << result.current_version << "; applied "
                << result.applied.size() << " migration(s)" << std::endl;
      return kExitOk;
    } catch (const Error& e) {
      std::cerr << "kvstream-consumer migrate: " << e.what() << std::endl;
      return kExitFailed;
    }
  }

  // Signals are taken synchronously by this thread only: block them before
  // any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

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
