// Gathering the facts the deployment checks judge (checks.h): the topics
// from Kafka's admin API, the applied positions and the schema version from
// Postgres. Reads only: the Kafka client never creates a topic by asking
// about it, and the database is only queried.
//
// Blocking calls on the caller's thread, each bounded: the Kafka requests
// by `timeout`, the database by its statement timeout (and the libpq
// connection's own).
#pragma once

#include <chrono>
#include <string>

#include "check/checks.h"
#include "common/kafka_settings.h"
#include "store/pg_store.h"

namespace kvstream::check {

struct KafkaGather {
  std::string dlq_topic;
  // Also the earliest and end offset of every partition (a few more
  // requests); a replica leaves this to its assignment.
  bool logs = false;
  // For all the requests together.
  std::chrono::milliseconds timeout{10000};
};

// The event topic (kafka.topic) and the dead-letter topic. Throws
// kvstream::Error (transient) when the brokers do not answer in time or
// refuse a request.
KafkaFacts gather_kafka(const KafkaSettings& kafka, const KafkaGather& what);

// kv_offsets of `topic` (none when the table does not exist yet) and, if
// `schema_version`, the highest migration applied. Throws kvstream::Error.
DatabaseFacts gather_database(const store::PgSettings& pg, const std::string& topic,
                              bool schema_version);

}  // namespace kvstream::check
