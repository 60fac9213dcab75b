// Test helpers that talk to the real broker with librdkafka directly:
// topic creation, watermarks, a group's committed offsets, reading a topic.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "schema/record.h"

namespace kvstream::testing {

// Creates `topic` with `partitions` partitions (replication 1); throws on
// failure. Waits until its metadata shows every partition.
void create_topic(const std::string& brokers, const std::string& topic, int partitions);

// High watermark (end offset) of each partition.
std::map<int32_t, int64_t> end_offsets(const std::string& brokers, const std::string& topic);

// The offsets `group` has committed for `topic` (partition -> offset;
// partitions without a commit are absent).
std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic);

// Every record of `topic` up to its end offsets at the time of the call.
std::vector<schema::Record> read_all(const std::string& brokers, const std::string& topic,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace kvstream::testing
