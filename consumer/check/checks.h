// The deployment checks of `kvstream-consumer check` and of a replica's
// start: what the topic, the dead-letter topic and the database must be for
// the view to stay right, judged from facts gathered beforehand (gather.h).
// evaluate() is a pure function of those facts and of the replica's
// settings: it asks no server, so every finding is unit-tested without one.
//
// Each finding has a severity:
//   kOk      as it should be (the line says what was seen)
//   kWarn    the replica runs, but something is at risk: a rebuild, a
//            restore or a large value (the line says what and what to do)
//   kRefuse  a replica must not run: it would apply records as if they
//            were others (the line says why and what to do)
//
//   Facts facts = gather_facts(...);                 // gather.h
//   for (const Finding& f : evaluate(facts, expect)) print(f);
//   if (worst(findings) == Severity::kRefuse) ...    // do not run
//
// A fact not gathered (nullopt: a server that did not answer, or a check
// the caller leaves to another mechanism) yields no finding.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schema/codec.h"

namespace kvstream::check {

enum class Severity { kOk, kWarn, kRefuse };

// "ok", "warn", "FAIL": the first word of a line of `kvstream-consumer check`.
const char* severity_word(Severity severity);

struct Finding {
  std::string check;  // what was checked: "partitions", "cleanup.policy", ...
  Severity severity = Severity::kOk;
  std::string line;  // what was seen, why it matters, what to do: one line
};

// A partition's log, as the broker reports it.
struct LogRange {
  int64_t earliest = 0;  // the first offset still in the log
  int64_t end = 0;       // the offset the next record will get
};

// What the broker says.
struct KafkaFacts {
  int32_t partitions = -1;  // of the event topic; -1: the topic does not exist
  // The event topic's configuration as the broker applies it (defaults
  // included): cleanup.policy, retention.ms, delete.retention.ms,
  // max.message.bytes. A name absent was not described.
  std::map<std::string, std::string> config;
  bool dlq_exists = false;
  // Per partition, when gathered (the command does; a replica checks each
  // partition's position at its assignment instead).
  std::optional<std::map<int32_t, LogRange>> logs;
};

// What the database says.
struct DatabaseFacts {
  // kv_offsets of the event topic: partition -> next offset to apply.
  std::map<int32_t, int64_t> applied;
  // The highest migration applied (0: never migrated), when gathered (a
  // replica checks it before, when it migrates).
  std::optional<int> schema_version;
};

struct Facts {
  std::optional<KafkaFacts> kafka;
  std::optional<DatabaseFacts> database;
};

// What the facts are judged against: the replica's settings and binary.
struct Expectations {
  std::string topic;
  std::string dlq_topic;
  std::chrono::seconds tombstone_retention{24 * 3600};
  schema::Limits limits;
  int binary_schema_version = 0;  // the newest migration the binary knows
  std::string binary;             // "kvstream-consumer 0.1.0", for the lines
};

// Batch framing and our headers (content-type, traceparent, kv-op) at their
// largest, rounded up: what a record adds to its key and value.
constexpr int64_t kRecordOverheadBytes = 512;

// The largest record the contract lets a producer send: the key and value
// limits plus kRecordOverheadBytes. The topic's max.message.bytes must take
// it.
int64_t largest_record_bytes(const schema::Limits& limits);

// The findings, in a fixed order: topic and partitions, applied positions,
// cleanup.policy, delete.retention.ms, max.message.bytes, the dead-letter
// topic, the schema version. Without Kafka facts only the schema finding is
// made; without database facts no partition comparison is made.
std::vector<Finding> evaluate(const Facts& facts, const Expectations& expect);

// The most severe of `findings` (kOk when empty).
Severity worst(const std::vector<Finding>& findings);

}  // namespace kvstream::check
