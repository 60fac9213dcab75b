// publish-json: the workload, once, in Kafka Connect's JSON-with-schema
// envelope (bench/json_envelope.h), for the Debezium JDBC sink.
//
// Each event goes to the partition the workload gives it (the murmur2
// partition of its plain key, as on kvstream's topic), so both topics hold
// the same streams: the same events, in the same order, at the same offsets.
// That is checked for every delivery. Then one sentinel PUT per partition
// (sentinel_key(p)), for watch-table.

#include <optional>
#include <vector>

#include "bench/json_envelope.h"
#include "bench/json_producer.h"
#include "bench/run_tools.h"

namespace kvstream::bench {

std::string sentinel_key(int32_t partition) { return "~end-" + std::to_string(partition); }

int run_publish_json(const PublishJsonOptions& options) {
  const Workload workload(options.workload);
  const ValueType type = parse_value_type(options.value_type);
  const auto partitions = static_cast<size_t>(options.workload.partitions);
  // Per event, the offset it must get; checked on delivery.
  std::vector<int64_t> expected_offset(static_cast<size_t>(options.workload.events) + partitions);
  std::vector<int32_t> expected_partition(expected_offset.size());
  int64_t misplaced = 0;
  JsonProducer producer(
      options.brokers, options.topic, std::chrono::milliseconds(20),
      [&](int64_t i, int32_t partition, int64_t offset, bool ok) {
        const auto at = static_cast<size_t>(i);
        if (ok && (expected_partition[at] != partition || expected_offset[at] != offset)) {
          ++misplaced;
        }
      });
  std::vector<int64_t> next_offset(partitions, 0);
  int64_t key_bytes = 0, value_bytes = 0, puts = 0;
  const auto start = SteadyClock::now();
  WorkloadEvent e;
  for (int64_t i = 0; i < options.workload.events; ++i) {
    workload.event(i, e);
    const int32_t p = workload.partition_of(e.key);
    expected_partition[static_cast<size_t>(i)] = p;
    expected_offset[static_cast<size_t>(i)] = next_offset[static_cast<size_t>(p)]++;
    const std::string key = envelope_key(e.key);
    std::optional<std::string> value;
    if (!e.is_delete) {
      value = envelope_value(e.value, type);
      ++puts;
    }
    key_bytes += static_cast<int64_t>(key.size());
    value_bytes += value ? static_cast<int64_t>(value->size()) : 0;
    producer.produce(p, key, value, i);
    if ((i & 1023) == 0) producer.poll();
    if ((i + 1) % 500000 == 0) {
      std::cerr << "publish-json: " << i + 1 << " events sent ("
                << static_cast<int64_t>(static_cast<double>(i + 1) / seconds_since(start))
                << " events/s)\n";
    }
  }
  // The sentinels, last in each partition.
  std::string sentinels;
  for (size_t p = 0; p < partitions; ++p) {
    const auto at = static_cast<size_t>(options.workload.events) + p;
    expected_partition[at] = static_cast<int32_t>(p);
    expected_offset[at] = next_offset[p]++;
    const std::string key = sentinel_key(static_cast<int32_t>(p));
    producer.produce(static_cast<int32_t>(p), envelope_key(key), envelope_value("end", type),
                     static_cast<int64_t>(at));
    sentinels += (p ? "," : "") + key;
  }
  if (const int left = producer.flush(std::chrono::milliseconds(120000))) {
    std::cerr << "publish-json: " << left << " records undelivered after 120 s\n";
    return 1;
  }
  const double seconds = seconds_since(start);
  const int64_t events = options.workload.events;
  report("events", events);
  report("seconds", seconds);
  report("events_per_s", static_cast<int64_t>(static_cast<double>(events) / seconds));
  report("mean_key_bytes", events ? key_bytes / events : 0);
  report("mean_put_value_bytes", puts ? value_bytes / puts : 0);
  report("sentinel_keys", sentinels);
  for (size_t p = 0; p < partitions; ++p) report("end_offset_" + std::to_string(p), next_offset[p]);
  report("failed", producer.failed());
  report("misplaced", misplaced);
  if (producer.failed() > 0 || misplaced > 0) {
    std::cerr << "publish-json: " << producer.failed() << " failed and " << misplaced
              << " misplaced deliveries\n";
    return 1;
  }
  return 0;
}

}  // namespace kvstream::bench
