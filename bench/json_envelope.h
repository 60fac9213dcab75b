// The Debezium JDBC sink contender's records (bench/run, docs/benchmarks.md):
// the workload's events in Kafka Connect's JSON-with-schema envelope, as
// org.apache.kafka.connect.json.JsonConverter reads them with
// schemas.enable=true (the JDBC sink needs typed records: it maps the schema's
// fields to columns).
//
//   key    {"schema":{"type":"struct","name":"kvstream.bench.Key","optional":false,
//            "fields":[{"field":"key","type":"string","optional":false}]},
//           "payload":{"key":"key-0000042"}}
//   value  {"schema":{"type":"struct","name":"kvstream.bench.Value","optional":false,
//            "fields":[{"field":"value","type":"bytes","optional":false}]},
//           "payload":{"value":"<base64 of the 100 bytes>"}}
//   DELETE a tombstone: the same key, a null value (the sink deletes the row
//          with delete.enabled=true and primary.key.mode=record_key).
//
// With ValueType::kString the value field is a JSON string ("type":"string",
// a text column) instead of base64 bytes: the sink's UNNEST insert mode
// (dialect.postgres.unnest.insert.enabled) cannot bind bytea arrays, and the
// workload's values are printable ASCII, so bench/run offers the sink this
// shape too.
//
// The latency run adds two fields to the value, `part` (int32: the Kafka
// partition) and `seq` (int64: the event's rank within its partition), which
// its probe reads back from the table (bench/json_latency.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvstream::bench {

// Standard base64 (RFC 4648, with padding): how JsonConverter writes bytes.
std::string base64(std::string_view bytes);

// A JSON string literal of `s` (quotes included, escaped).
std::string json_string(std::string_view s);

enum class ValueType { kBytes, kString };

// "bytes" or "string" -> ValueType; throws std::invalid_argument otherwise.
ValueType parse_value_type(const std::string& name);

// The record key of `key`.
std::string envelope_key(std::string_view key);

// The record value of a PUT of `value` (the throughput run's shape).
std::string envelope_value(std::string_view value, ValueType type);

// The record value of a PUT of `value` with its partition and sequence number
// (the latency run's shape).
std::string envelope_value_seq(std::string_view value, ValueType type, int32_t part, int64_t seq);

}  // namespace kvstream::bench
