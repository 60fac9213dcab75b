// Small Kafka administration chores with librdkafka: a topic's partition
// count, creating a topic, its end offsets, describing a topic without
// changing anything. For the replica's own metadata needs, its start-up
// checks (consumer/check), the tests and the benchmarks. Errors throw
// std::runtime_error.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "common/kafka_handles.h"
#include "common/kafka_settings.h"

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

// A client for read-only admin requests: `kafka`'s bootstrap servers and
// the passed-through properties a producer takes (security, for example),
// with automatic topic creation off, so that asking about a topic never
// creates it. librdkafka's own log lines are dropped: the calls below
// return or throw what went wrong.
HandlePtr read_only_admin_client(const KafkaSettings& kafka, const std::string& client_id);

// A consumer outside any group, for partitions it is assigned (assign, not
// subscribe): it commits nothing, creates no topic, reports the end of a
// partition (RD_KAFKA_RESP_ERR__PARTITION_EOF) and an offset no longer in
// the log as errors (no reset), and fetches at most 8 MiB at a time and
// holds 16 MiB. `kafka`'s passed-through consumer properties apply;
// librdkafka's log lines go to spdlog. Throws std::runtime_error.
HandlePtr reader_client(const KafkaSettings& kafka, const std::string& client_id);

// What the broker says about a topic, within `timeout`: its partition
// count (-1 when the topic does not exist). Throws std::runtime_error when
// no broker answers in time.
int describe_partition_count(rd_kafka_t* rk, const std::string& topic,
                             std::chrono::milliseconds timeout);

// The topic's configuration as the broker applies it (DescribeConfigs:
// defaults included), name -> value; a value the broker keeps secret is
// absent. Throws std::runtime_error when no answer comes within `timeout`
// or the broker refuses (e.g. an unknown topic).
std::map<std::string, std::string> describe_topic_config(rd_kafka_t* rk, const std::string& topic,
                                                         std::chrono::milliseconds timeout);

struct Watermarks {
  int64_t low = 0;   // the earliest offset still in the log
  int64_t high = 0;  // the offset the next record will get
};
// The watermarks of partitions 0 to `partitions` - 1, all within
// `timeout`. Throws std::runtime_error naming the partition that had none.
std::map<int32_t, Watermarks> watermarks(rd_kafka_t* rk, const std::string& topic,
                                         int32_t partitions, std::chrono::milliseconds timeout);

}  // namespace kvstream::kafka
