#include "producer/cli.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "producer/producer.h"

namespace kvstream::producer {

namespace {

constexpr int kExitDelivered = 0;
constexpr int kExitUndelivered = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInvalid = 3;

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"kvstream-producer: publish key-value events to kvstream's topic"};
  app.require_subcommand(1);
  ProducerSettings settings;
  LogSettings log;
  log.level = "warn";
  add_kafka_options(app, settings.kafka);
  add_log_options(app, log);
  std::string content_type, traceparent;
  app.add_option("--content-type", content_type, "content-type header of a PUT");
  app.add_option("--traceparent", traceparent, "W3C traceparent header");

  std::string key, value;
  auto* put = app.add_subcommand("put", "Publish a PUT of KEY with VALUE; prints partition:offset");
  put->add_option("key", key, "The key")->required();
  put->add_option("value", value, "The value")->required();
  auto* del = app.add_subcommand("delete", "Publish a DELETE of KEY; prints partition:offset");
  del->add_option("key", key, "The key")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  setup_logging(log);
  read_kafka_passthrough(settings.kafka);

  schema::EncodeOptions options;
  options.content_type = content_type;
  options.traceparent = traceparent;
  try {
    Producer producer(settings);
    Position p =
        put->parsed() ? producer.put_sync(key, value, options) : producer.del_sync(key, options);
    std::cout << to_string(p) << std::endl;
    return kExitDelivered;
  } catch (const Error& e) {
    std::cerr << "kvstream-producer: " << e.what() << std::endl;
    if (e.kind() == ErrorKind::kPermanent) return kExitInvalid;
    if (e.kind() == ErrorKind::kFatal) return kExitUsage;
    return kExitUndelivered;
  }
}

}  // namespace kvstream::producer
