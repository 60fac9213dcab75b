// Small Kafka administration chores with librdkafka: a topic's partition
// count, creating a topic, its end offsets. For the replica's own metadata
// needs, the tests and the benchmarks. Errors throw std::runtime_error.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <string>

namespace kvstream::kafka {

// The partition count of `topic` as `rk` sees it in the cluster's metadata
// (waiting up to `timeout_ms`), or -1 while the topic is unknown or in error.
int partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms = 5000);

// Creates `topic` with `partitions` partitions (replication factor 1) and
// the given topic configuration (e.g. {"max.message.bytes", "1000"}) unless
// it exists, and waits (up to 10 s) until its metadata shows them all.
void create_topic(const std::string& brokers, const std::string& topic, int partitions,
                  const std::map<std::string, std::string>& configs = {});
// Sets the topic's configuration to `configs` (AlterConfigs: what is not
// named goes back to the broker's default). Throws std::runtime_error.
void set_topic_config(const std::string& brokers, const std::string& topic,
                      const std::map<std::string, std::string>& configs);

// The high watermark (the offset the next record will get) of every
// partition of `topic`.
std::map<int32_t, int64_t> end_offsets(const std::string& brokers, const std::string& topic);

}  // namespace kvstream::kafka
