// The benchmark workload: a deterministic stream of PUT and DELETE events,
// the same for every contender of the apply benchmark (bench/README.md).
//
//   Workload w(WorkloadSpec{});          // 2M events, 100k keys, 10% deletes
//   WorkloadEvent e;
//   w.event(17, e);                      // e.key = "key-0042117", e.value = 100 bytes
//   int32_t p = w.partition_of(e.key);   // the partition a Kafka producer picks
//
// Event i is a pure function of (spec, i): the publisher and the in-memory
// contenders (the database ceiling) generate the same events without sharing
// state. Partitions come from librdkafka's murmur2 partitioner (the Java
// client's), as our producer uses, so with an idempotent producer and a fresh
// topic the Kafka offset of an event is its rank within its partition.
//
// Thread-compatible: const methods may be called from any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schema/event.h"

namespace kvstream::bench {

struct WorkloadSpec {
  uint64_t seed = 20240601;
  int64_t events = 2'000'000;
  uint32_t keys = 100'000;
  size_t value_bytes = 100;
  double delete_ratio = 0.10;
  int32_t partitions = 6;
  // Event i has the key of index i (`keys` is then ignored): every event
  // writes a row of its own, so a row's updated_at is the apply time of its
  // one event (the watch benchmark).
  bool unique_keys = false;
};

struct WorkloadEvent {
  bool is_delete = false;
  std::string key;
  std::string value;  // value_bytes printable ASCII bytes; empty for a delete
};

class Workload {
 public:
  explicit Workload(WorkloadSpec spec);

  const WorkloadSpec& spec() const { return spec_; }

  // Fills `out` with event `index` (0 <= index < spec().events).
  void event(int64_t index, WorkloadEvent& out) const;

  // The partition the producer's murmur2 partitioner picks for `key`.
  int32_t partition_of(std::string_view key) const;

 private:
  WorkloadSpec spec_;
  uint32_t delete_threshold_;  // an event is a delete when its draw is below this
};

// Every event of `workload`, split by partition in publish order, with the
// offsets a fresh topic assigns (0, 1, 2, ... per partition).
std::vector<std::vector<schema::Event>> events_by_partition(const Workload& workload);

// Writes `ms` (milliseconds since the epoch) into the first bytes of `value`
// as "ts=<ms>;" (the latency run stamps its values so that rows can be traced
// back to their send time). `value` must hold at least 20 bytes.
void stamp_value(std::string& value, int64_t ms);

}  // namespace kvstream::bench
