// Settings both binaries share, read from flags and `KVSTREAM_*` environment
// variables (a flag wins over its variable).
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

namespace kvstream {

struct KafkaSettings {
  std::string brokers;              // KVSTREAM_BROKERS, required
  std::string topic = "kv-events";  // KVSTREAM_TOPIC
  // librdkafka properties passed through from KVSTREAM_KAFKA_<PROPERTY>
  // (upper case, dots as underscores: KVSTREAM_KAFKA_SECURITY_PROTOCOL ->
  // security.protocol). Applied after kvstream's own settings, so they win.
  std::map<std::string, std::string> properties;
};

struct LogSettings {
  std::string level = "info";  // KVSTREAM_LOG_LEVEL: trace debug info warn error
};

// Registers --brokers/--topic with their environment variables.
void add_kafka_options(CLI::App& app, KafkaSettings& kafka);
void add_log_options(CLI::App& app, LogSettings& log);

// Collects KVSTREAM_KAFKA_* from `environ` into kafka.properties.
void read_kafka_passthrough(KafkaSettings& kafka);

// Configures the default spdlog logger (stdout, one line per event).
void setup_logging(const LogSettings& log);

}  // namespace kvstream
