// The records of the dead-letter topic as `kvstream-consumer dlq` reads
// them (the format: schema/dlq.h, schema/README.md "The dead-letter
// record"): a dead letter (the original record and why it was refused), a
// replay mark (a dead letter was replayed, and where to), or a record that
// is neither (written there by something else).
//
//   DlqEntry e = parse_dlq_record(record);       // a record read from <topic>.dlq
//   if (auto* d = std::get_if<DeadLetter>(&e)) {
//     d->origin;                                 // kv-events/3:1042
//     schema::Record again = replay_record(*d);  // what replay publishes
//   }
//
// Pure functions, no Kafka client: unit-tested in dead_letter_test.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/position.h"
#include "schema/record.h"

namespace kvstream::dlq {

// Where a dead letter came from: the original record's place in its topic.
struct Origin {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;

  friend bool operator==(const Origin& a, const Origin& b) {
    return a.partition == b.partition && a.offset == b.offset && a.topic == b.topic;
  }
  friend bool operator<(const Origin& a, const Origin& b) {
    if (a.topic != b.topic) return a.topic < b.topic;
    if (a.partition != b.partition) return a.partition < b.partition;
    return a.offset < b.offset;
  }
};

// "topic/partition:offset", e.g. "kv-events/3:1042".
std::string to_string(const Origin& origin);

// A dead letter: the refused record as it was, and why.
struct DeadLetter {
  Position at;           // its own place in the dead-letter topic
  int64_t time_ms = -1;  // its own timestamp: when it was dead-lettered
  Origin origin;
  int64_t original_time_ms = -1;  // the original's timestamp (-1: none)
  std::string reason;             // kv-dlq-reason, a reason code
  std::string message;            // kv-dlq-message
  std::optional<std::string> key;
  std::optional<std::string> value;              // null: a DELETE, or the value was omitted
  std::optional<uint64_t> value_omitted;         // kv-dlq-value-omitted: the lost value's size
  std::vector<schema::Header> original_headers;  // every header not named kv-dlq-*

  // The original value's size in bytes (the omitted one's too); nullopt
  // for a null value.
  std::optional<uint64_t> value_size() const;
};

// A replay mark: `origin` was replayed, and the record landed at `replayed_to`
// of the origin's topic.
struct ReplayMark {
  Position at;
  int64_t time_ms = -1;
  Origin origin;
  Position replayed_to;
};

// A record of the dead-letter topic that is neither (a header missing or
// malformed): reported, never replayed.
struct Unreadable {
  Position at;
  int64_t time_ms = -1;
  std::string why;
};

using DlqEntry = std::variant<DeadLetter, ReplayMark, Unreadable>;

// What `record`, read from the dead-letter topic (its partition, offset and
// timestamp are its place there), is. The last header of a name counts.
DlqEntry parse_dlq_record(const schema::Record& record);

// Whether a header is one kvstream adds (kv-dlq-*), not the original's.
bool is_dlq_header(std::string_view name);

// The record replay publishes for `letter`: its original key, value and
// headers (less those named in `drop_headers`), with kv-dlq-replayed-from
// naming its origin. Topic, partition and offset are left to the producer.
schema::Record replay_record(const DeadLetter& letter,
                             const std::vector<std::string>& drop_headers = {});

// The replay mark written to the dead-letter topic once `letter`'s replay
// landed at `replayed_to`. Keyed like the dead letter, so that it lands on
// the same partition of the dead-letter topic.
schema::Record replay_mark_record(const DeadLetter& letter, const Position& replayed_to);

// `bytes` for a terminal and a log line: printable ASCII and well-formed
// UTF-8 (other than control characters) as they are; `\` and `"` as `\\`
// and `\"`; \n, \r, \t; any other byte as \xNN. At most `max_bytes` of the
// input are shown, then "..." (0: no limit).
std::string escape_bytes(std::string_view bytes, size_t max_bytes = 0);

// Milliseconds since the epoch as RFC 3339 UTC with milliseconds,
// "2026-12-07T04:31:02.123Z"; "-" for a negative time (none).
std::string format_time(int64_t epoch_ms);

}  // namespace kvstream::dlq
