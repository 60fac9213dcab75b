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
  bool no_migrate = false;
  app.add_flag("--no-migrate", no_migrate, "Do not apply pending migrations on start")
      ->envname("KVSTREAM_NO_MIGRATE");
  auto* migrate = app.add_subcommand("migrate", "Apply pending Postgres migrations and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitConfig;
  }
  if (!split_host_port(http_addr, s.http.address, s.http.port)) {
    std::cerr << "kvstream-consumer: KVSTREAM_HTTP_ADDR must be host:port, got '" << http_addr
              << "'" << std::endl;
    return kExitConfig;
  }
  if (s.dlq_topic.empty()) s.dlq_topic = s.source.kafka.topic + ".dlq";
  s.migrate_on_start = !no_migrate;
  read_kafka_passthrough(s.source.kafka);
  setup_logging(log);

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
