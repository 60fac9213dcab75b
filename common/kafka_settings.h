// How a client reaches Kafka: the bootstrap servers, the topic, and the
// librdkafka properties passed through. A plain struct: what reads it from
// flags and the environment is common/config.h.
#pragma once

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

}  // namespace kvstream
