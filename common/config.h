// Settings both binaries share, read from flags and `KVSTREAM_*` environment
// variables (a flag wins over its variable).
#pragma once

#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

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
  std::string level = "info";   // KVSTREAM_LOG_LEVEL: trace debug info warn error
  std::string format = "text";  // KVSTREAM_LOG_FORMAT: text or json (one object a line)
};

// "" when `name` is a valid Kafka topic name, else why not; and the same as
// a CLI11 check.
std::string check_topic_name(const std::string& name);
CLI::Validator topic_name_validator();

// Registers --brokers/--topic with their environment variables.
void add_kafka_options(CLI::App& app, KafkaSettings& kafka);
void add_log_options(CLI::App& app, LogSettings& log);
// setup_logging is in common/logging.h.

// Collects KVSTREAM_KAFKA_* from `environ` into kafka.properties.
void read_kafka_passthrough(KafkaSettings& kafka);

// Secrets from files: for every option of `app` with an environment variable
// NAME, if NAME is unset and NAME_FILE is set, NAME takes the file's contents
// (a trailing newline removed). Call before app.parse(). Throws
// std::runtime_error naming the file if it cannot be read.
void read_env_files(const CLI::App& app);

// KVSTREAM_* variables in the environment that no option of `app` (or its
// subcommands) reads, other than KVSTREAM_KAFKA_* and the NAME_FILE forms:
// probably misspelt; the caller warns about each.
std::vector<std::string> unknown_env(const CLI::App& app);

// The effective configuration, one "name = value" line per option, with
// secrets masked: passwords in URIs, options whose name says token,
// password or secret, and such KVSTREAM_KAFKA_* properties.
std::string describe_config(const CLI::App& app, const KafkaSettings& kafka);

// A libpq URI with its password replaced by "***".
std::string mask_uri_password(const std::string& uri);

// Sends librdkafka's log lines to spdlog (instead of stderr), one line each.
void route_kafka_logs(rd_kafka_conf_t* conf);

}  // namespace kvstream
