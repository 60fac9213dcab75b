#include "common/config.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

extern char** environ;

namespace kvstream {

void add_kafka_options(CLI::App& app, KafkaSettings& kafka) {
  app.add_option("--brokers", kafka.brokers, "Kafka bootstrap servers, host:port[,host:port]")
      ->envname("KVSTREAM_BROKERS")
      ->required();
  app.add_option("--topic", kafka.topic, "Topic of the key-value events")
      ->envname("KVSTREAM_TOPIC")
      ->capture_default_str();
}

void add_log_options(CLI::App& app, LogSettings& log) {
  app.add_option("--log-level", log.level, "trace, debug, info, warn or error")
      ->envname("KVSTREAM_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
}

void read_kafka_passthrough(KafkaSettings& kafka) {
  static constexpr std::string_view kPrefix = "KVSTREAM_KAFKA_";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.substr(0, kPrefix.size()) != kPrefix) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(entry.substr(kPrefix.size(), eq - kPrefix.size()));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
      return c == '_' ? '.' : static_cast<char>(std::tolower(c));
    });
    kafka.properties[name] = std::string(entry.substr(eq + 1));
  }
}

void setup_logging(const LogSettings& log) {
  auto logger = spdlog::stdout_logger_mt("kvstream");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(log.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace kvstream
