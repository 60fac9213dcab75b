// Settings both binaries share, read from flags and `KVSTREAM_*` environment
// variables (a flag wins over its variable). Target kvstream_config (CLI11).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/kafka_settings.h"
#include "common/logging.h"

namespace kvstream {

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

}  // namespace kvstream
