// The programs behind bench/run that bench/apply_bench's tools do not cover,
// one subcommand of `bench_run_tools` each (docs/benchmarks.md says what each
// measures):
//
//   publish-json  the workload, once, in Kafka Connect's JSON-with-schema
//                 envelope (bench/json_envelope.h) for the Debezium JDBC sink,
//                 on the same partitions as kvstream's topic, then one
//                 sentinel PUT per partition
//   watch-table   waits until the Debezium sink's table holds the workload's
//                 final state (the sentinels are in, then the digest matches);
//                 its rate, Kafka Connect's CPU and peak RSS
//   latency-json  publishes JSON-with-schema events at a fixed rate and
//                 measures send -> committed in the sink's table, per event
//   group-ready   waits until a consumer group is stable with every partition
//                 of a topic assigned (a consumer is ready before a latency run)
//
// Like apply_bench_tools: results as `name=value` lines on stdout, progress on
// stderr; exit 0 when the measurement ran, 1 when it could not.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "bench/tools.h"

namespace kvstream::bench {

struct PublishJsonOptions {
  std::string brokers, topic;
  std::string value_type = "bytes";  // bytes (base64, bytea) or string (text)
  WorkloadSpec workload;
};

struct WatchTableOptions {
  std::string pg_url, table;
  std::string value_type = "bytes";    // the value column: bytes (bytea) or string (text)
  pid_t pid = 0;                       // the Kafka Connect worker
  std::vector<std::string> sentinels;  // one key per partition, published last
  WorkloadSpec workload;               // to compute the expected final state
  std::chrono::seconds timeout{1800};
  Watched watched;
};

struct LatencyJsonOptions {
  std::string brokers, topic, pg_url, table;
  std::string value_type = "bytes";
  WorkloadSpec workload;  // events = rate * seconds
  int rate = 20000;
  std::chrono::seconds duration{30};
  std::chrono::seconds warmup{0};       // published first at the same rate, not counted
  std::chrono::milliseconds linger{0};  // the publisher's linger.ms
  std::chrono::milliseconds probe_interval{2};
  std::chrono::seconds drain_timeout{120};
  Watched watched;
};

struct GroupReadyOptions {
  std::string brokers, group, topic;
  std::chrono::seconds timeout{120};
};

int run_publish_json(const PublishJsonOptions& options);
int run_watch_table(const WatchTableOptions& options);
int run_latency_json(const LatencyJsonOptions& options);
int run_group_ready(const GroupReadyOptions& options);

// The key of partition p's sentinel: a PUT published after everything else
// (to partition p explicitly), so that its arrival in the table means that
// the partition is applied (the sink applies a partition in order).
std::string sentinel_key(int32_t partition);

}  // namespace kvstream::bench
