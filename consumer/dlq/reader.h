// A bounded read of the dead-letter topic: every record from the beginning
// (or from the first at or after a time) up to the end offsets the topic
// had when the read began, then it stops. It assigns the partitions itself
// (no consumer group: nothing is committed, no replica's group is joined)
// and never creates the topic by asking about it.
//
//   ReadSettings rs{kafka, "kv-events.dlq"};
//   ReadStats stats;
//   read_topic_to_end(rs, [](const schema::Record& r) { ... }, &stats);
//
// Threads: the caller's (blocking, bounded by `timeout`); `stats` may be
// read from another thread meanwhile (progress).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/kafka_settings.h"
#include "schema/record.h"

namespace kvstream::dlq {

struct ReadSettings {
  KafkaSettings kafka;  // brokers and passed-through properties (its topic is not read)
  std::string topic;    // the topic read: the dead-letter topic
  // Start at the first record whose timestamp is at or after this (epoch
  // ms; Kafka's offsets for times); nullopt: at the beginning.
  std::optional<int64_t> since_ms;
  // The whole read, the broker's answers included.
  std::chrono::milliseconds timeout{30000};
};

// What a read has done so far.
struct ReadStats {
  std::atomic<uint64_t> records{0};  // read
  std::atomic<uint64_t> total{0};    // to read (known once the offsets are)
};

// Why a read failed: the broker unreachable, the topic missing, the time
// bound passed. Its message is one line for the operator.
class ReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Calls `visit` with each record of the topic in the range, in offset
// order within each partition (its partition, offset and timestamp are its
// place in the topic). Throws ReadError.
void read_topic_to_end(const ReadSettings& settings,
                       const std::function<void(const schema::Record&)>& visit,
                       ReadStats* stats = nullptr);

}  // namespace kvstream::dlq
