// Test helpers that talk to the real broker with librdkafka directly:
// topic creation, watermarks, a group's committed offsets, reading a topic.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/kafka_admin.h"
#include "schema/record.h"

namespace kvstream::testing {

// Creating a topic and reading its end offsets (common/kafka_admin.h).
using kafka::create_topic;
using kafka::end_offsets;
using kafka::set_topic_config;

// Deletes `topic` and waits (up to 30 s) until the broker's metadata no
// longer shows it, so that it can be created again under the same name.
// Throws std::runtime_error.
void delete_topic(const std::string& brokers, const std::string& topic);

// Deletes the records of `topic`'s `partition` below `before` (Kafka's
// DeleteRecords: the partition's log then starts at `before`), as retention
// would. Throws std::runtime_error.
void delete_records(const std::string& brokers, const std::string& topic, int32_t partition,
                    int64_t before);

// The offsets `group` has committed for `topic` (partition -> offset;
// partitions without a commit are absent).
std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic);

// Every record of `topic` up to its end offsets at the time of the call.
std::vector<schema::Record> read_all(const std::string& brokers, const std::string& topic,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace kvstream::testing
