// Kafka chores of the benchmark: creating its topics and reading their end
// offsets. Throws std::runtime_error on failure.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace kvstream::bench {

// Creates `topic` with `partitions` partitions (replication factor 1) unless
// it exists, and waits (bounded) until its metadata shows them all.
void create_topic(const std::string& brokers, const std::string& topic, int partitions);

// The high watermark (the offset the next record will get) of every
// partition of `topic`.
std::map<int32_t, int64_t> end_offsets(const std::string& brokers, const std::string& topic);

}  // namespace kvstream::bench
